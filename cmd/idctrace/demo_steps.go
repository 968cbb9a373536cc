package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/idctest"
	"go.uber.org/zap/zapcore"
)

// rateLimit spends a fresh key's budget quietly, then makes the call that
// gets 429 and is retried after retry_after.
func (d *demo) rateLimit() error {
	key := d.srv.NewKey(idctest.Read)
	if err := d.spend(key); err != nil {
		return err
	}
	_, err := d.callJSON(fmt.Sprintf("429  past %d requests a second: waits retry_after, then succeeds", burst), key, "GET", "/recordings", "", nil)
	return err
}

// spend sends requests with key, through a client without idctrace and
// with the server's log quiet, until the server answers 429: the window
// is then used up however long the requests took.
func (d *demo) spend(key string) error {
	d.quiet.SetLevel(zapcore.WarnLevel)
	defer d.quiet.SetLevel(zapcore.InfoLevel)
	for range 100 * burst {
		resp, err := d.do(d.ctx, d.srv.Client(), key, "GET", "/recordings", nil, "")
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

// timeout makes a call the server answers too late for its deadline, and
// returns its TransportError.
func (d *demo) timeout(key string) *idctrace.TransportError {
	fmt.Fprintf(d.out, "\n-- timeout  the server answers after 2 s; the call's deadline is 200 ms\n")
	d.srv.Inject(1, idctest.Fault{Delay: 2 * time.Second})
	ctx, cancel := context.WithTimeout(d.ctx, 200*time.Millisecond)
	defer cancel()
	answered := len(d.srv.Requests())
	resp, err := d.do(ctx, d.client, key, "GET", "/projects", nil, "")
	if err == nil {
		resp.Body.Close()
		return nil
	}
	// The server gives up on the request once the client is gone; its
	// line comes before the rest of the demo.
	for deadline := time.Now().Add(2 * time.Second); len(d.srv.Requests()) == answered && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	fmt.Fprintf(d.out, "   => %v\n", err)
	var te *idctrace.TransportError
	errors.As(err, &te)
	return te
}

// storm makes 200 calls to a port where nothing listens, through a
// Transport with the default retry policy (its waits shrunk) and the
// default storm limit, and prints what they cost: requests and lines.
func (d *demo) storm() error {
	fmt.Fprintf(d.out, "\n-- storm  200 calls to a port where nothing listens (the default retry policy, waits shrunk)\n")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	lines := &lineCounter{w: d.out}
	policy := idctrace.DefaultRetryPolicy()
	policy.BaseDelay, policy.MaxDelay = time.Millisecond, time.Millisecond
	var attempts atomic.Int64
	tr := idctrace.New(nil, newLogger(lines, d.json, zapcore.DebugLevel).Named("client"),
		idctrace.WithRetry(policy), idctrace.WithObserver(func(idctrace.Attempt) { attempts.Add(1) }))
	defer tr.CloseIdleConnections()
	const calls = 200
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
	fmt.Fprintf(d.out, "   => %d calls: %d attempts (the retry budget, not %d), %d log lines (the storm limit: %d entries of a kind a second, then a summary)\n",
		calls, attempts.Load(), calls*(policy.MaxRetries+1), lines.n.Load(), 10)
	return nil
}

// lineCounter counts the lines written through it to w.
type lineCounter struct {
	w io.Writer
	n atomic.Int64
}

func (l *lineCounter) Write(p []byte) (int, error) {
	l.n.Add(int64(bytes.Count(p, []byte("\n"))))
	return l.w.Write(p)
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
	fmt.Fprintf(d.out, "\n-- debug page (Recorder is an http.Handler): %s\n   => %s, %d failed attempts on it, up %s\n",
		page, resp.Status, rec.Len(), how)
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

// batch uploads 40 recordings with 8 workers through a client whose
// Limiter holds the key's quota (the simulator's 30 a second), and prints
// what the server answered: no 429.
func (d *demo) batch(projectID string) error {
	const uploads, workers = 40, 8
	fmt.Fprintf(d.out, "\n-- quota  %d uploads by %d workers, WithLimiter(NewLimiter(%d, time.Second)): the key's quota\n", uploads, workers, burst)
	key := d.srv.NewKey(idctest.Write)
	client := idctrace.WrapClient(d.srv.Client(), newLogger(d.out, d.json, zapcore.DebugLevel).Named("client"),
		idctrace.WithLimiter(idctrace.NewLimiter(burst, time.Second)), idctrace.WithRetry(idctrace.DefaultRetryPolicy()))
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
				errs <- d.uploadQuietly(client, key, fmt.Sprintf("call-%02d.mp3", i), projectID)
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
	fmt.Fprintf(d.out, "   => %d created, %d answered 429, in %s (the quota allows %d a second)\n",
		counts[http.StatusCreated], counts[http.StatusTooManyRequests], time.Since(start).Round(100*time.Millisecond), burst)
	return nil
}

// uploadQuietly uploads a small recording, printing nothing.
func (d *demo) uploadQuietly(client *http.Client, key, file, projectID string) error {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", file)
	fw.Write([]byte("ID3...."))
	mw.WriteField("project_id", projectID)
	mw.Close()
	resp, err := d.do(d.ctx, client, key, "POST", "/recordings", &buf, mw.FormDataContentType())
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}
