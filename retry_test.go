package idctrace

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/identitycall/idctrace/internal/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRetryScripts(t *testing.T) {
	t.Parallel()
	const ms = time.Millisecond
	tests := []struct {
		name     string
		method   string
		body     string
		header   http.Header
		policy   RetryPolicy
		steps    []step
		status   int    // of the response returned
		respBody string // what the caller reads
		waits    []time.Duration
	}{
		{name: "500 503 200", method: "GET", steps: []step{
			reply(500, `{"error":"Internal server error"}`), reply(503, "unavailable"), reply(200, `{"data":[]}`)},
			status: 200, respBody: `{"data":[]}`, waits: []time.Duration{100 * ms, 200 * ms}},
		{name: "429 500 201 on PUT with a body", method: "PUT", body: `{"name":"call"}`, steps: []step{
			reply(429, `{"error":"Rate limit exceeded","retry_after":0}`), reply(500, `{"error":"x"}`), reply(201, `{"data":{}}`)},
			status: 201, respBody: `{"data":{}}`, waits: []time.Duration{100 * ms, 200 * ms}}, // a 429 waits the backoff at least
		{name: "exhausted returns the last response", method: "GET", steps: []step{
			reply(503, "one"), reply(503, "two"), reply(502, "three"), reply(504, `{"error":"last"}`)},
			status: 504, respBody: `{"error":"last"}`, waits: []time.Duration{100 * ms, 200 * ms, 400 * ms}},
		{name: "POST not retried on 503", method: "POST", body: "x", steps: []step{reply(503, "busy"), reply(200, "ok")},
			status: 503, respBody: "busy"},
		{name: "POST retried on 429", method: "POST", body: "x", steps: []step{
			reply(429, `{"error":"Rate limit exceeded","retry_after":2}`), reply(201, "created")},
			status: 201, respBody: "created", waits: []time.Duration{2 * time.Second}},
		{name: "POST with Idempotency-Key retried on 503", method: "POST", body: "x", header: http.Header{"Idempotency-Key": {"k1"}},
			steps: []step{reply(503, "busy"), reply(201, "created")}, status: 201, respBody: "created", waits: []time.Duration{100 * ms}},
		{name: "PATCH retried on 502 with RetryNonIdempotent", method: "PATCH", body: "x",
			policy: RetryPolicy{MaxRetries: 1, BaseDelay: 100 * ms, MaxDelay: time.Second, RetryNonIdempotent: true},
			steps:  []step{reply(502, "bad gateway"), reply(200, "ok")}, status: 200, respBody: "ok", waits: []time.Duration{100 * ms}},
		{name: "dropped connection then success", method: "GET", steps: []step{dropConn, reply(200, "ok")},
			status: 200, respBody: "ok", waits: []time.Duration{100 * ms}},
		{name: "503 Retry-After beats a shorter backoff", method: "GET", steps: []step{reply(503, "", "Retry-After", "3"), reply(200, "ok")},
			status: 200, respBody: "ok", waits: []time.Duration{3 * time.Second}},
		{name: "backoff capped at MaxDelay", method: "GET",
			policy: RetryPolicy{MaxRetries: 4, BaseDelay: 300 * ms, MaxDelay: time.Second},
			steps:  []step{reply(500, "")}, status: 500, waits: []time.Duration{300 * ms, 600 * ms, time.Second, time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newScripted(t, tt.steps...)
			policy := tt.policy
			if policy.MaxRetries == 0 {
				policy = testPolicy
			}
			tr, fs, logs := retrying(srv.Client().Transport, policy)
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, err := http.NewRequest(tt.method, srv.URL+"/recordings", body)
			require.NoError(t, err)
			for k, v := range tt.header {
				req.Header[k] = v
			}

			resp, err := tr.RoundTrip(req)
			require.NoError(t, err)
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Equal(t, tt.respBody, readAll(t, resp))
			assert.Equal(t, tt.waits, fs.got())

			hits := srv.got()
			require.Len(t, hits, len(tt.waits)+1, "one attempt per wait, plus the first")
			for _, h := range hits {
				assert.Equal(t, hits[0].id, h.id, "every attempt carries the same request ID")
				assert.Equal(t, tt.body, h.body, "every attempt sends the same body")
			}
			assert.Equal(t, hits[0].id, RequestID(resp))

			entries := logs.FilterMessage(schema.Failed).AllUntimed()
			failures := len(hits)
			if tt.status < 400 {
				failures--
			}
			require.Len(t, entries, failures, "one entry per failed attempt")
			for i, e := range entries {
				f := e.ContextMap()
				assert.EqualValues(t, i+1, f[schema.Attempt])
				assert.Equal(t, hits[0].id, f[schema.RequestID])
				if i < len(tt.waits) {
					assert.Equal(t, tt.waits[i], f[schema.RetryIn])
				} else {
					assert.NotContains(t, f, schema.RetryIn, "no retry follows the last entry")
				}
			}
			if tt.status >= 400 {
				var apiErr *APIError
				require.ErrorAs(t, CheckResponse(resp), &apiErr)
				assert.Equal(t, len(hits), apiErr.Attempt)
			}
		})
	}
}

func TestRetryNeverOnClientErrors(t *testing.T) {
	t.Parallel()
	for _, status := range []int{400, 401, 403, 404, 409, 422, 501, 505} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			t.Parallel()
			srv := newScripted(t, reply(status, `{"error":"no"}`), reply(200, "ok"))
			tr, fs, _ := retrying(srv.Client().Transport, testPolicy)
			req, _ := http.NewRequest("GET", srv.URL, nil)
			resp, err := tr.RoundTrip(req)
			require.NoError(t, err)
			assert.Equal(t, status, resp.StatusCode)
			assert.Equal(t, `{"error":"no"}`, readAll(t, resp))
			assert.Len(t, srv.got(), 1)
			assert.Empty(t, fs.got())
		})
	}
}

func TestRetryTransportErrors(t *testing.T) {
	t.Parallel()
	refused := func() string {
		return "http://" + refusedAddr(t) + "/"
	}
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake failure is the point
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close) // not defer: the subtests run after this returns

	tests := []struct {
		name     string
		url      string
		attempts int
	}{
		{"connection refused is retried", refused(), 4},
		{"unknown certificate authority is not", tlsSrv.URL, 1},
		{"unsupported scheme is not", "ftp://h/x", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := &http.Transport{}
			defer base.CloseIdleConnections()
			tr, _, logs := retrying(base, testPolicy)
			req, err := http.NewRequest("GET", tt.url, nil)
			require.NoError(t, err)
			resp, err := tr.RoundTrip(req)
			assert.Nil(t, resp)
			require.Error(t, err)
			assert.Equal(t, tt.attempts, logs.Len(), "one entry per attempt")
		})
	}
}

// timeoutErr is a net.Error that timed out.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestRetryableError(t *testing.T) {
	t.Parallel()
	dial := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{io.EOF, true},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{dial(os.NewSyscallError("connect", syscall.ECONNREFUSED)), true},
		{&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{&net.OpError{Op: "write", Err: os.NewSyscallError("write", syscall.EPIPE)}, true},
		{dial(timeoutErr{}), true},
		{&net.OpError{Op: "read", Err: timeoutErr{}}, false}, // the request may have been processed
		{&net.DNSError{Err: "server misbehaving", IsTemporary: true}, true},
		{&net.DNSError{Err: "no such host", IsNotFound: true}, false},
		{fmt.Errorf("op: %w", context.Canceled), false},
		{fmt.Errorf("%w: %w", context.Canceled, syscall.ECONNRESET), false},
		{context.DeadlineExceeded, false},
		{fmt.Errorf("%w: %w", dial(timeoutErr{}), context.DeadlineExceeded), false},
		{x509.UnknownAuthorityError{}, false},
		{errors.New("net/http: invalid header field name"), false},
	} {
		assert.Equal(t, tt.want, retryableError(tt.err), "%v", tt.err)
	}
}

func TestWithRetryDefaults(t *testing.T) {
	t.Parallel()
	assert.Zero(t, New(nil, nil).retry, "retries are off by default")
	assert.Zero(t, New(nil, nil, WithRetry(RetryPolicy{BaseDelay: time.Second})).retry)
	tr := New(nil, nil, WithRetry(RetryPolicy{MaxRetries: 2}))
	assert.Equal(t, RetryPolicy{MaxRetries: 2, BaseDelay: 500 * time.Millisecond, MaxDelay: time.Minute}, tr.retry)
	def := DefaultRetryPolicy()
	assert.Equal(t, NewRetryBudget(0.1, 10), def.Budget)
	assert.NotSame(t, def.Budget, DefaultRetryPolicy().Budget, "each policy gets a budget of its own")
	def.Budget = nil
	assert.Equal(t, RetryPolicy{MaxRetries: 3, BaseDelay: 500 * time.Millisecond, MaxDelay: time.Minute}, def)
}

// TestRetryFollowsTheDocs: the documented minute after a bare 429, and the
// route table's word on what may be sent twice.
func TestRetryFollowsTheDocs(t *testing.T) {
	t.Parallel()
	const base = "/api/v1/public"
	lenient := DefaultRetryPolicy()
	lenient.RetryNonIdempotent = true
	tests := []struct {
		name     string
		method   string
		path     string
		header   http.Header
		allow    bool // AllowRetry on the request's context
		policy   RetryPolicy
		steps    []step
		attempts int
		waits    []time.Duration
	}{
		{name: "429 saying nothing waits the documented minute", method: "GET", path: base + "/recordings",
			policy: DefaultRetryPolicy(), steps: []step{reply(429, `{"error":"Rate limit exceeded"}`), reply(200, "ok")},
			attempts: 2, waits: []time.Duration{time.Minute}},
		{name: "upload not retried after a 503", method: "POST", path: base + "/recordings",
			policy: DefaultRetryPolicy(), steps: []step{reply(503, ""), reply(201, "ok")}, attempts: 1},
		{name: "upload with AllowRetry retried after a 503", method: "POST", path: base + "/recordings", allow: true,
			policy: DefaultRetryPolicy(), steps: []step{reply(503, ""), reply(201, "ok")}, attempts: 2, waits: []time.Duration{500 * time.Millisecond}},
		{name: "documented PATCH retried after a 502", method: "PATCH", path: base + "/recordings/rec_1",
			policy: DefaultRetryPolicy(), steps: []step{reply(502, ""), reply(200, "ok")}, attempts: 2, waits: []time.Duration{500 * time.Millisecond}},
		{name: "purchase never retried after a 503, even with RetryNonIdempotent", method: "POST", path: base + "/virtual_numbers/purchase",
			policy: lenient, steps: []step{reply(503, ""), reply(201, "ok")}, attempts: 1},
		{name: "purchase never retried after a 503, even with an Idempotency-Key", method: "POST", path: base + "/virtual_numbers",
			header: http.Header{"Idempotency-Key": {"k1"}}, policy: DefaultRetryPolicy(), steps: []step{reply(503, ""), reply(201, "ok")}, attempts: 1},
		{name: "purchase never retried after a dropped connection", method: "POST", path: base + "/virtual_numbers/purchase",
			policy: lenient, steps: []step{dropConn, reply(201, "ok")}, attempts: 1},
		{name: "purchase with AllowRetry retried after a 503", method: "POST", path: base + "/virtual_numbers/purchase", allow: true,
			policy: DefaultRetryPolicy(), steps: []step{reply(503, ""), reply(201, "ok")}, attempts: 2, waits: []time.Duration{500 * time.Millisecond}},
		{name: "purchase retried after a 429: it was not processed", method: "POST", path: base + "/virtual_numbers/purchase",
			policy: DefaultRetryPolicy(), steps: []step{reply(429, `{"error":"Rate limit exceeded","retry_after":2}`), reply(201, "ok")},
			attempts: 2, waits: []time.Duration{2 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newScripted(t, tt.steps...)
			tr, fs, _ := retrying(srv.Client().Transport, tt.policy)
			ctx := context.Background()
			if tt.allow {
				ctx = AllowRetry(ctx)
			}
			req, err := http.NewRequestWithContext(ctx, tt.method, srv.URL+tt.path, strings.NewReader(`{"phone_number":"+15551234567"}`))
			require.NoError(t, err)
			for k, v := range tt.header {
				req.Header[k] = v
			}
			resp, err := tr.RoundTrip(req)
			if err == nil {
				readAll(t, resp)
			}
			assert.Len(t, srv.got(), tt.attempts)
			assert.Equal(t, tt.waits, fs.got())
		})
	}
}

// TestRetrySkippedSaysWhy: a failure the policy retries, but not this time,
// says why in its entry and to the observers; a failure the policy never
// retries, or a Transport without a policy, says nothing.
func TestRetrySkippedSaysWhy(t *testing.T) {
	t.Parallel()
	const base = "/api/v1/public"
	tests := []struct {
		name    string
		method  string
		path    string
		body    io.Reader
		policy  RetryPolicy
		timeout time.Duration
		steps   []step
		want    string // retry_skipped of the last entry
	}{
		{name: "budget", method: "GET", path: base + "/recordings", policy: withBudget(testPolicy, NewRetryBudget(0, 0)),
			steps: []step{reply(503, "")}, want: "budget"},
		{name: "deadline", method: "GET", path: base + "/recordings", policy: DefaultRetryPolicy(), timeout: 30 * time.Second,
			steps: []step{reply(429, `{"error":"Rate limit exceeded","retry_after":60}`)}, want: "deadline"},
		{name: "max_delay", method: "GET", path: base + "/recordings", policy: DefaultRetryPolicy(),
			steps: []step{reply(429, `{"error":"Rate limit exceeded","retry_after":120}`)}, want: "max_delay"},
		{name: "max_retries", method: "GET", path: base + "/recordings", policy: testPolicy,
			steps: []step{reply(503, "")}, want: "max_retries"},
		{name: "not_idempotent", method: "POST", path: base + "/recordings", policy: testPolicy,
			steps: []step{reply(502, "")}, want: "not_idempotent"},
		{name: "purchase: not_idempotent", method: "POST", path: base + "//virtual_numbers/purchase", policy: testPolicy,
			steps: []step{dropConn}, want: "not_idempotent"},
		{name: "no_get_body", method: "PATCH", path: base + "/recordings/1", policy: testPolicy,
			body: io.NopCloser(strings.NewReader(`{"name":"x"}`)), steps: []step{reply(500, "")}, want: "no_get_body"},
		{name: "never retried: nothing to say", method: "GET", path: base + "/recordings", policy: testPolicy,
			steps: []step{reply(404, "")}, want: ""},
		{name: "no policy: nothing to say", method: "GET", path: base + "/recordings",
			steps: []step{reply(503, "")}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newScripted(t, tt.steps...)
			tr, _, logs := retrying(srv.Client().Transport, tt.policy)
			tr.storm = nil
			var seen recordAttempts
			WithObserver(seen.observe).apply(tr)
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			req, err := http.NewRequestWithContext(ctx, tt.method, srv.URL+tt.path, tt.body)
			require.NoError(t, err)
			if rc, ok := tt.body.(io.ReadCloser); ok && rc != nil {
				req.Body, req.GetBody = rc, nil
			}
			resp, err := tr.RoundTrip(req)
			if err == nil {
				readAll(t, resp)
			}
			entries := logs.FilterMessage(schema.Failed).All()
			require.NotEmpty(t, entries)
			last := entries[len(entries)-1].ContextMap()
			if tt.want == "" {
				assert.NotContains(t, last, schema.RetrySkipped)
			} else {
				assert.Equal(t, tt.want, last[schema.RetrySkipped])
			}
			require.NotEmpty(t, seen.got)
			final := seen.got[len(seen.got)-1]
			assert.True(t, final.Last)
			assert.Equal(t, tt.want, final.RetrySkipped)
		})
	}
}

func withBudget(p RetryPolicy, b *RetryBudget) RetryPolicy {
	p.Budget = b
	return p
}

// TestRetryNeverResendsAPurchaseThatMayHaveLeft: a purchase sent on a
// reused connection reaches the server, which drops the connection;
// http.Transport replays it itself (it carries an Idempotency-Key) and that
// replay's dial is refused. The error says "dial", yet the purchase left:
// the Transport must not send it again. (A review's proof against retrying
// requests whose last dial failed.)
func TestRetryNeverResendsAPurchaseThatMayHaveLeft(t *testing.T) {
	t.Parallel()
	srv := newScripted(t,
		reply(200, `{}`), // makes the connection a reused one
		dropConn,         // the purchase arrives; the connection drops
		reply(200, `{"ok":true}`))
	refused := refusedAddr(t)
	var dials atomic.Int32
	var d net.Dialer
	base := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) == 2 { // http.Transport's own replay: the server is restarting
			return d.DialContext(ctx, network, refused)
		}
		return d.DialContext(ctx, network, addr)
	}}
	defer base.CloseIdleConnections()
	tr, _, _ := retrying(base, testPolicy)

	warm, err := tr.RoundTrip(newRequest(t, "GET", srv.URL+"/api/v1/public/recordings"))
	require.NoError(t, err)
	readAll(t, warm)
	req, err := http.NewRequest("POST", srv.URL+"/api/v1/public/virtual_numbers/purchase",
		strings.NewReader(`{"phone_number":"+15551234567"}`))
	require.NoError(t, err)
	req.Header.Set("Idempotency-Key", "k1")
	resp, err := tr.RoundTrip(req)
	if resp != nil {
		readAll(t, resp)
	}
	purchases := 0
	for _, h := range srv.got() {
		if h.method == "POST" {
			purchases++
		}
	}
	assert.Equal(t, 1, purchases, "the purchase reached the server %d times (err %v)", purchases, err)
}
