package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/idctest"
	"github.com/identitycall/idctrace/internal/schema"
)

// heading starts a part of the demo.
func (d *demo) heading(format string, args ...any) {
	if d.tour {
		format = "-- " + format
	}
	fmt.Fprintf(d.out, "\n"+format+"\n", args...)
}

// result prints what a part of the demo measured.
func (d *demo) result(format string, args ...any) {
	prefix := "  "
	if d.tour {
		prefix = "   => "
	}
	fmt.Fprintf(d.out, prefix+format+"\n", args...)
}

// spend sends requests with key, through a client without idctrace and
// with the server's log quiet, until the server answers 429: the window
// is then used up however long the requests took.
func (d *demo) spend(key string) error {
	d.quiet.SetLevel(zapcore.WarnLevel)
	defer d.quiet.SetLevel(zapcore.InfoLevel)
	for range 100 * burst {
		resp, err := d.send(d.ctx, d.srv.Client(), key, "GET", "/recordings", nil, "")
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			return nil
		}
	}
	return fmt.Errorf("no 429 after %d requests", 100*burst)
}

// timeout makes a call the server answers too late for its deadline,
// prints its TransportError and returns it.
func (d *demo) timeout(key string) *idctrace.TransportError {
	if d.tour {
		fmt.Fprintf(d.out, "\n-- timeout  the server answers after 2 s; the call's deadline is 200 ms\n")
	}
	d.srv.Inject(1, idctest.Fault{Delay: 2 * time.Second})
	ctx, cancel := context.WithTimeout(d.ctx, 200*time.Millisecond)
	defer cancel()
	answered := len(d.srv.Requests())
	resp, err := d.send(ctx, d.client, key, "GET", "/projects", nil, "")
	if err == nil {
		resp.Body.Close()
		return nil
	}
	// The server gives up on the request once the client is gone; its
	// line comes before the rest of the demo.
	for deadline := time.Now().Add(2 * time.Second); len(d.srv.Requests()) == answered && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	var te *idctrace.TransportError
	if !errors.As(err, &te) {
		d.outcome(err)
		return nil
	}
	d.outcome(te) // not err: http.Client's *url.Error holds the URL unredacted
	return te
}

// storm makes 200 calls to a port where nothing listens, through a
// Transport with the default retry policy (its waits shrunk) and the
// default storm limit, and prints what they cost: requests and lines.
func (d *demo) storm() error {
	const calls = 200
	d.heading("storm  %d calls to a port where nothing listens, with the default retry policy (its waits shrunk)", calls)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	policy := idctrace.DefaultRetryPolicy()
	policy.BaseDelay, policy.MaxDelay = time.Millisecond, time.Millisecond
	counted, logs := observer.New(zapcore.DebugLevel)
	logger := zap.New(zapcore.NewTee(newLogger(d.logs, d.json, zapcore.DebugLevel).Core(), counted)).Named("client")
	var attempts atomic.Int64
	tr := idctrace.New(nil, logger, idctrace.WithRetry(policy), idctrace.WithObserver(func(idctrace.Attempt) { attempts.Add(1) }))
	defer tr.CloseIdleConnections()
	for range calls {
		req, err := http.NewRequestWithContext(d.ctx, "GET", "http://"+addr+"/api/v1/public/recordings", nil)
		if err != nil {
			return err
		}
		if resp, err := tr.RoundTrip(req); err == nil {
			resp.Body.Close()
		}
	}
	tr.Flush() // the summary now, not when its second ends
	entries, summaries := logs.FilterMessage(schema.Failed).Len(), logs.FilterMessage(schema.Summarized).All()
	var suppressed int64
	for _, s := range summaries {
		n, _ := s.ContextMap()[schema.Suppressed].(int64)
		suppressed += n
	}
	d.result("%d failed attempts, not %d: the retry budget allows a tenth more than the calls, beyond 10 a second",
		attempts.Load(), calls*(policy.MaxRetries+1))
	d.result("%d log lines: %d entries, then summaries counting the other %d (the storm limit: 10 entries a second)",
		entries+len(summaries), entries, suppressed)
	return nil
}

// batch uploads 40 recordings with 8 workers through a client whose
// Limiter holds the key's quota (the simulator's 30 a second), and prints
// what the server answered: no 429.
func (d *demo) batch(projectID string) error {
	const uploads, workers = 40, 8
	d.heading("quota  %d uploads by %d workers, WithLimiter(NewLimiter(%d, time.Second)): the key's quota", uploads, workers, burst)
	key := d.srv.NewKey(idctest.Write)
	client := idctrace.WrapClient(d.srv.Client(), newLogger(d.logs, d.json, zapcore.DebugLevel).Named("client"),
		idctrace.WithLimiter(idctrace.NewLimiter(burst, time.Second)), idctrace.WithRetry(idctrace.DefaultRetryPolicy()))
	defer client.CloseIdleConnections()
	d.quiet.SetLevel(zapcore.WarnLevel) // the server's 40 lines would bury the point
	defer d.quiet.SetLevel(zapcore.InfoLevel)
	before := len(d.srv.Requests())
	start := time.Now()
	jobs := make(chan int)
	errs := make(chan error, uploads)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				body, contentType := upload(fmt.Sprintf("call-%02d.mp3", i), "project_id", projectID)
				resp, err := d.send(d.ctx, client, key, "POST", "/recordings", body, contentType)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					err = resp.Body.Close()
				}
				errs <- err
			}
		})
	}
	for i := range uploads {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	counts := map[int]int{}
	for _, r := range d.srv.Requests()[before:] {
		counts[r.Status]++
	}
	d.result("%d created, %d answered 429, in %s (the quota allows %d a second)",
		counts[http.StatusCreated], counts[http.StatusTooManyRequests], time.Since(start).Round(100*time.Millisecond), burst)
	return nil
}

// servePage serves the Recorder's debug page on a local port, checks that
// it answers, and keeps it up for cfg.serveFor, or with cfg.serve until the
// demo is interrupted.
func (d *demo) servePage(rec *idctrace.Recorder, email string, cfg config) error {
	mux := http.NewServeMux()
	mux.Handle("/debug/identitycall", rec)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	page := "http://" + ln.Addr().String() + "/debug/identitycall?email=" + url.QueryEscape(email)
	resp, err := http.Get(page)
	if err != nil {
		return err
	}
	resp.Body.Close()
	how := fmt.Sprintf("for %s (-serve keeps it up until interrupted)", cfg.serveFor)
	if cfg.serve {
		how = "until interrupted"
	}
	d.heading("debug page (Recorder is an http.Handler): %s", page)
	d.result("%s, %d failed attempts on it, up %s", resp.Status, rec.Len(), how)
	wait := time.After(cfg.serveFor)
	if cfg.serve {
		wait = nil
	}
	select {
	case <-wait:
	case <-d.ctx.Done():
	}
	return nil
}

// metrics counts attempts per route and status, as an observer.
type metrics struct {
	mu     sync.Mutex
	counts map[string]int
}

func (m *metrics) observe(a idctrace.Attempt) {
	status := fmt.Sprint(a.Status)
	if a.Err != nil {
		status = "transport error"
	}
	key := fmt.Sprintf("%-6s %-40s %s", a.Method, cmp.Or(a.Route, "(undocumented)"), status)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counts == nil {
		m.counts = map[string]int{}
	}
	m.counts[key]++
}

func (m *metrics) print(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]string, 0, len(m.counts))
	for k := range m.counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s  %d\n", k, m.counts[k])
	}
}
