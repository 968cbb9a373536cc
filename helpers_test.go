package idctrace

import (
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identitycall/idctrace/internal/schema"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// observed returns a logger that records every entry at Debug and above.
func observed() (*zap.Logger, *observer.ObservedLogs) {
	return observedAt(zapcore.DebugLevel)
}

func observedAt(lvl zapcore.Level) (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(lvl)
	return zap.New(core), logs
}

// jsonLogger returns a logger that writes JSON lines into buf, for tests that
// check the encoded text rather than the fields.
func jsonLogger(buf *syncBuffer) *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(buf), zapcore.DebugLevel))
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// protocols are the wire protocols every behaviour is checked over.
var protocols = []string{"HTTP/1.1", "HTTP/2.0"} // as resp.Proto spells them

// newServer starts h on loopback: plain HTTP/1.1, or HTTP/2 over TLS.
// srv.Client() speaks the same protocol.
func newServer(t testing.TB, proto string, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // aborted handlers are the point of some tests
	switch proto {
	case "HTTP/1.1":
		srv.Start()
	case "HTTP/2.0":
		srv.EnableHTTP2 = true
		srv.StartTLS()
	default:
		t.Fatalf("unknown protocol %q", proto)
	}
	t.Cleanup(srv.Close)
	return srv
}

// stubRT answers without a network, for benchmarks and body tests.
type stubRT struct {
	status int
	header http.Header
	body   func() io.ReadCloser
	err    error
}

func (s stubRT) RoundTrip(req *http.Request) (*http.Response, error) {
	if s.err != nil {
		return nil, s.err
	}
	body := s.body()
	return &http.Response{
		Status:        http.StatusText(s.status),
		StatusCode:    s.status,
		Header:        s.header,
		Body:          body,
		ContentLength: -1,
		Request:       req,
	}, nil
}

func stringBody(s string) func() io.ReadCloser {
	return func() io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }
}

// readAll reads and closes resp's body.
func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return string(b)
}

// step answers one request.
type step func(w http.ResponseWriter, r *http.Request)

// reply answers with status and body, and header given as name, value pairs.
func reply(status int, body string, header ...string) step {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return replyWith(status, h, body)
}

func replyWith(status int, header http.Header, body string) step {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, vv := range header {
			w.Header()[k] = vv
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// hang answers only when the request ends: a server that never answers in
// time, for tests whose client gives up.
func hang(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

// dropConn closes the connection without answering.
func dropConn(w http.ResponseWriter, r *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

// hit is what one request carried.
type hit struct {
	id, method, body string
	header           http.Header
}

// scripted is a loopback server that answers the n-th request with the n-th
// step (the last step repeats) and records what each request carried.
type scripted struct {
	*httptest.Server
	mu    sync.Mutex
	steps []step
	hits  []hit
}

func newScripted(t *testing.T, steps ...step) *scripted {
	t.Helper()
	return newScriptedProto(t, "HTTP/1.1", steps...)
}

func newScriptedProto(t *testing.T, proto string, steps ...step) *scripted {
	t.Helper()
	s := &scripted{steps: steps}
	s.Server = newServer(t, proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		n := len(s.hits)
		s.hits = append(s.hits, hit{r.Header.Get(DefaultRequestIDHeader), r.Method, string(body), r.Header.Clone()})
		st := s.steps[min(n, len(s.steps)-1)]
		s.mu.Unlock()
		st(w, r)
	}))
	return s
}

func (s *scripted) got() []hit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]hit(nil), s.hits...)
}

// seen returns the values of the named header in the requests received.
func (s *scripted) seen(name string) []string {
	var out []string
	for _, h := range s.got() {
		out = append(out, h.header.Get(name))
	}
	return out
}

func (s *scripted) seenIDs() []string { return s.seen(DefaultRequestIDHeader) }

// fakeSleep records the waits asked of it and returns at once, or with the
// context's error when it is done.
type fakeSleep struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (f *fakeSleep) sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.waits = append(f.waits, d)
	f.mu.Unlock()
	return ctx.Err()
}

func (f *fakeSleep) got() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.waits...)
}

var testPolicy = RetryPolicy{MaxRetries: 3, BaseDelay: 100 * time.Millisecond, MaxDelay: 10 * time.Second}

// retrying returns a Transport over base with p, a fake sleep and no jitter
// (every backoff is its upper bound), logging to an observer.
func retrying(base http.RoundTripper, p RetryPolicy) (*Transport, *fakeSleep, *observer.ObservedLogs) {
	log, logs := observed()
	tr := New(base, log, WithRetry(p))
	fs := &fakeSleep{}
	tr.sleep = fs.sleep
	tr.limiter = nil          // its pauses run on the real clock; the limiter's own tests cover them
	tr.bodyWait = time.Minute // a loaded machine must not cut a 429's body short: its retry_after decides
	tr.jitter = func(d time.Duration) time.Duration { return d }
	return tr, fs, logs
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// finishes runs f and fails the test if f is still running 30 s later: a
// hang fails the test instead of stalling it. Nothing here measures speed;
// 30 s is far past any deadline the tests set.
func finishes(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s still running after 30 s", what)
	}
}

// listen returns a TCP listener on a free loopback port.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln
}

// accounted returns the failures the entries in logs account for: one per
// failure entry, and each summary's count.
func accounted(logs *observer.ObservedLogs) int {
	n := logs.FilterMessage(schema.Failed).Len()
	for _, e := range logs.FilterMessage(schema.Summarized).All() {
		n += int(e.ContextMap()[schema.Suppressed].(int64))
	}
	return n
}

// replayableBody makes a request body that counts its Close calls, and is
// the request's GetBody: made returns every body made so far.
type replayableBody struct {
	mu     sync.Mutex
	bodies []*closeCounter
}

func (r *replayableBody) open() (io.ReadCloser, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := &closeCounter{Reader: strings.NewReader("payload")}
	r.bodies = append(r.bodies, b)
	return b, nil
}

func (r *replayableBody) made() []*closeCounter {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*closeCounter(nil), r.bodies...)
}

// pipeNet is an in-memory network for a testing/synctest bubble: a
// listener whose connections are net.Pipe ends, and a dialer that makes
// them. Goroutines blocked on it are durably blocked, so the bubble's clock
// moves while a real HTTP server and client talk over it.
type pipeNet struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeNet() *pipeNet {
	return &pipeNet{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (p *pipeNet) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

func (p *pipeNet) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

func (p *pipeNet) Addr() net.Addr { return pipeAddr{} }

// transport returns a client transport that dials p.
func (p *pipeNet) transport() *http.Transport {
	return &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		client, server := net.Pipe()
		select {
		case p.conns <- server:
			return client, nil
		case <-p.done:
			return nil, net.ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "127.0.0.1:1" }

// blockingCore is a zap core that holds the write of every entry whose
// message is msg until release is closed, as a stalled logger would.
type blockingCore struct {
	msg     string
	entered chan struct{} // closed when such a write begins
	release chan struct{}
	once    sync.Once
	written atomic.Int32 // such entries written
}

func newBlockingCore(msg string) *blockingCore {
	return &blockingCore{msg: msg, entered: make(chan struct{}), release: make(chan struct{})}
}

func (c *blockingCore) Enabled(zapcore.Level) bool        { return true }
func (c *blockingCore) With([]zapcore.Field) zapcore.Core { return c }
func (c *blockingCore) Sync() error                       { return nil }

func (c *blockingCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	return ce.AddCore(e, c)
}

func (c *blockingCore) Write(e zapcore.Entry, _ []zapcore.Field) error {
	if e.Message == c.msg {
		c.once.Do(func() { close(c.entered) })
		<-c.release
		c.written.Add(1)
	}
	return nil
}

// writtenWhen calls f while a write is held, releases the write when f
// returns or 50 ms later, whichever is first, and returns how many entries
// were written when f returned: 1 if f waits for the write, 0 if not.
func (c *blockingCore) writtenWhen(f func()) int32 {
	returned := make(chan struct{})
	released := make(chan struct{})
	go func() {
		defer close(released)
		select {
		case <-returned:
		case <-time.After(50 * time.Millisecond):
		}
		close(c.release)
	}()
	f()
	written := c.written.Load()
	close(returned)
	<-released
	return written
}
