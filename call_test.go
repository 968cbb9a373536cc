package idctrace

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/identitycall/idctrace/internal/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

func TestRetryBodyWithoutGetBodySentOnce(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(503, "busy"), reply(200, "ok"))
	tr, fs, _ := retrying(srv.Client().Transport, testPolicy)
	req, err := http.NewRequest("PUT", srv.URL, io.NopCloser(strings.NewReader("payload")))
	require.NoError(t, err)
	require.Nil(t, req.GetBody)

	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	assert.Equal(t, 503, resp.StatusCode)
	assert.Equal(t, "busy", readAll(t, resp))
	assert.Len(t, srv.got(), 1)
	assert.Empty(t, fs.got())
}

func TestRetryGetBodyErrorEndsRetries(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(503, "busy"), reply(200, "ok"))
	tr, _, _ := retrying(srv.Client().Transport, testPolicy)
	req, err := http.NewRequest("PUT", srv.URL, strings.NewReader("payload"))
	require.NoError(t, err)
	boom := errors.New("cannot reopen upload")
	req.GetBody = func() (io.ReadCloser, error) { return nil, boom }
	var seen recordAttempts
	WithObserver(seen.observe).apply(tr)

	resp, err := tr.RoundTrip(req)
	assert.Nil(t, resp)
	assert.ErrorIs(t, err, boom)
	assert.Len(t, srv.got(), 1)
	require.Len(t, seen.got, 1, "the one attempt sent")
	assert.True(t, seen.got[0].Last, "the observers learn how the call ended")
	assert.ErrorIs(t, seen.got[0].Err, boom)
	assert.Zero(t, seen.got[0].RetryIn)
}

type closeCounter struct {
	io.Reader
	mu     sync.Mutex
	closes int
}

func (c *closeCounter) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closes++
	return nil
}

func (c *closeCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closes
}

func TestRetryClosesEachRequestBodyOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		steps []step
		ctx   func() (context.Context, context.CancelFunc)
	}{
		{"success after retries", []step{reply(500, ""), dropConn, reply(200, "ok")}, nil},
		{"exhausted", []step{reply(503, "")}, nil},
		{"not retryable", []step{reply(404, "")}, nil},
		{"cancelled before the first attempt", []step{reply(200, "")}, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newScripted(t, tt.steps...)
			tr, _, _ := retrying(srv.Client().Transport, testPolicy)
			ctx := context.Background()
			if tt.ctx != nil {
				var cancel context.CancelFunc
				ctx, cancel = tt.ctx()
				defer cancel()
			}
			var rb replayableBody
			first, _ := rb.open()
			req, err := http.NewRequestWithContext(ctx, "PUT", srv.URL, first)
			require.NoError(t, err)
			req.ContentLength, req.GetBody = 7, rb.open

			resp, err := tr.RoundTrip(req)
			if err == nil {
				readAll(t, resp)
			}
			tr.CloseIdleConnections()
			for i, b := range rb.made() {
				assert.Equal(t, 1, b.count(), "body of attempt %d", i+1)
			}
		})
	}
}

func TestRetryDrainsAndClosesIntermediateResponses(t *testing.T) {
	t.Parallel()
	var bodies []*countingBody
	base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		b := &countingBody{r: strings.NewReader(`{"error":"Internal server error"}` + strings.Repeat(" ", 100))}
		bodies = append(bodies, b)
		return &http.Response{StatusCode: 500, Header: http.Header{}, Body: b, ContentLength: -1, Request: req}, nil
	})
	tr, _, _ := retrying(base, RetryPolicy{MaxRetries: 2, BaseDelay: time.Millisecond, MaxDelay: time.Second})
	req, _ := http.NewRequest("GET", "http://h/", nil)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)

	require.Len(t, bodies, 3)
	for _, b := range bodies[:2] {
		assert.True(t, b.closed)
		assert.EqualValues(t, 133, b.n, "drained to the end")
	}
	assert.False(t, bodies[2].closed, "the last response is the caller's to read and close")
	assert.Equal(t, `{"error":"Internal server error"}`+strings.Repeat(" ", 100), readAll(t, resp))
}

func TestRetryCancelDuringBackoff(t *testing.T) {
	t.Parallel()
	// The real timer path: a 10 s backoff that a cancel must cut short. The
	// cancel is armed when the wait begins, so it lands inside it.
	srv := newScripted(t, reply(503, "busy"), reply(200, "ok"))
	ctx, cancel := context.WithCancel(context.Background())
	tr := New(srv.Client().Transport, zap.NewNop(), WithRetry(RetryPolicy{MaxRetries: 3, BaseDelay: 10 * time.Second, MaxDelay: 20 * time.Second}))
	var waited time.Duration
	tr.sleep = func(ctx context.Context, d time.Duration) error {
		waited = d
		time.AfterFunc(50*time.Millisecond, cancel)
		return sleepContext(ctx, d)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)

	var err error
	finishes(t, "RoundTrip after the cancel", func() {
		var resp *http.Response
		if resp, err = tr.RoundTrip(req); resp != nil {
			resp.Body.Close()
		}
	})
	assert.ErrorIs(t, err, context.Canceled)
	assert.GreaterOrEqual(t, waited, 5*time.Second, "the wait was the long backoff")
	assert.Len(t, srv.got(), 1)
}

// TestRetryWaitCutShortIsLogged: a call whose context ends while it waits
// to retry gets an entry of its own, the Recorder keeps it, and the
// observers see the retried attempt as the call's last, with its error.
func TestRetryWaitCutShortIsLogged(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(503, `{"error":"Service unavailable"}`), reply(200, "ok"))
	tr, _, logs := retrying(srv.Client().Transport, testPolicy)
	ctx, cancel := context.WithCancel(context.Background())
	tr.sleep = func(ctx context.Context, d time.Duration) error {
		cancel()
		return sleepContext(ctx, d)
	}
	var seen recordAttempts
	WithObserver(seen.observe).apply(tr)
	rec := NewRecorder(0)
	tr.recorder = rec
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/public/recordings", nil)

	_, err := tr.RoundTrip(req)
	require.ErrorIs(t, err, context.Canceled)
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 2, te.Attempt, "the retry that was not sent")
	assert.Equal(t, "canceled", te.ErrorType)
	assert.Len(t, srv.got(), 1)

	entries := logs.FilterMessage(schema.Failed).All()
	require.Len(t, entries, 2, "the 503, then the end of the call")
	first, end := entries[0].ContextMap(), entries[1].ContextMap()
	assert.Contains(t, first, schema.RetryIn)
	assert.Equal(t, first[schema.RequestID], end[schema.RequestID])
	assert.EqualValues(t, 2, end[schema.Attempt])
	assert.NotContains(t, end, schema.Status)
	assert.Equal(t, "not sent: the wait before attempt 2 ended: context canceled", end[schema.Error])
	assert.Equal(t, 2, rec.Len())

	require.Len(t, seen.got, 1, "one attempt was sent")
	a := seen.got[0]
	assert.Equal(t, 503, a.Status)
	assert.True(t, a.Last)
	assert.Zero(t, a.RetryIn, "no retry followed")
	assert.Same(t, te, a.Err, "the observer sees the error the call returned")
}

// TestClientTimeoutKeepsTheRequestID: when Client.Timeout fires, net/http
// replaces the error by a new one holding only its text (client.go, "Client.
// Timeout exceeded while awaiting headers"), so errors.As finds nothing.
// RequestIDFromError still reads the ID from that text, and the timeout
// still reads as one.
func TestClientTimeoutKeepsTheRequestID(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, hang)
	log, logs := observed()
	client := WrapClient(srv.Client(), log)
	client.Timeout = 50 * time.Millisecond

	_, err := client.Get(srv.URL + "/api/v1/public/recordings")
	require.Error(t, err)
	var ue *url.Error
	require.ErrorAs(t, err, &ue)
	assert.True(t, ue.Timeout(), "(*url.Error).Timeout")
	assert.True(t, os.IsTimeout(err), "os.IsTimeout")

	// Whether the client's timer or the request's deadline ended the call
	// first is a race inside net/http: the text may or may not have been
	// replaced. The ID is found either way. (On a loaded machine the
	// request may not even reach the server in time: the entry has the ID.)
	require.Equal(t, 1, logs.Len())
	f := logs.All()[0].ContextMap()
	assert.Equal(t, f[schema.RequestID], RequestIDFromError(err), "read back from the text: %v", err)
	assert.Contains(t, f[schema.Hint], "No response within")
}

// TestClientTimeoutTextOnly forces the replaced error: a base that only
// listens to the request's Cancel channel returns after the client's timer
// has fired, so the client always replaces the error by its text.
func TestClientTimeoutTextOnly(t *testing.T) {
	t.Parallel()
	base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		//lint:ignore SA1019 Cancel is what http.Client closes when its timer fires
		<-req.Cancel
		return nil, errors.New("net/http: request canceled")
	})
	client := &http.Client{Transport: New(base, nil), Timeout: 20 * time.Millisecond}
	_, err := client.Get("http://api.identitycall.invalid/api/v1/public/recordings")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Client.Timeout exceeded while awaiting headers")
	var te *TransportError
	assert.False(t, errors.As(err, &te), "the client kept only the text")
	assert.True(t, os.IsTimeout(err))
	assert.Regexp(t, `^[0-9a-f-]{36}$`, RequestIDFromError(err))
}

func TestClientContextCancelAndDeadline(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, hang)
	client := WrapClient(srv.Client(), nil)
	for _, tt := range []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		is      error
		timeout bool
	}{
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(20*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled, false},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 20*time.Millisecond)
		}, context.DeadlineExceeded, true},
	} {
		ctx, cancel := tt.ctx()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
		_, err := client.Do(req)
		cancel()
		assert.ErrorIs(t, err, tt.is, tt.name)
		var te *TransportError
		require.ErrorAs(t, err, &te, tt.name)
		assert.Equal(t, tt.timeout, te.Timeout(), tt.name)
		assert.Equal(t, tt.timeout, os.IsTimeout(err), tt.name)
		assert.NotEmpty(t, RequestIDFromError(err))
	}
}

// TestClientSchemeMismatch: an HTTPS request answered in plain HTTP gets the
// client's own message, which it finds by a type assertion our
// TransportError would defeat.
func TestClientSchemeMismatch(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(200, "plain"))
	client := WrapClient(&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}, nil)
	defer client.CloseIdleConnections()
	_, err := client.Get("https" + srv.URL[len("http"):])
	require.Error(t, err)
	assert.ErrorIs(t, err, http.ErrSchemeMismatch)
	var recordErr tls.RecordHeaderError
	assert.ErrorAs(t, err, &recordErr)
	assert.Contains(t, err.Error(), "server gave HTTP response to HTTPS client")
	assert.NotEmpty(t, RequestIDFromError(err))
}

// TestFaultMisbehavingBase: a base transport that breaks the RoundTripper
// contract gets net/http's answer, with and without retries, never a panic.
func TestFaultMisbehavingBase(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name    string
		base    roundTripFunc
		status  int   // of the response returned; 0 for an error
		err     error // errors.Is target
		errText string
	}{
		{name: "5xx with a nil Body", status: 503, base: func(req *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 503, Header: http.Header{}, Request: req}, nil
		}},
		{name: "a response and an error", err: boom, base: func(req *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 503, Header: http.Header{}, Request: req}, boom
		}},
		{name: "a response and a retryable error", err: io.ErrUnexpectedEOF, base: func(req *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 500, Body: http.NoBody, Request: req}, io.ErrUnexpectedEOF
		}},
		{name: "no response and no error", errText: "returned a nil *Response with a nil error",
			base: func(req *http.Request) (*http.Response, error) { return nil, nil }},
	}
	for _, tt := range tests {
		for _, policy := range []RetryPolicy{{}, testPolicy} {
			t.Run(fmt.Sprint(tt.name, "/retries=", policy.MaxRetries), func(t *testing.T) {
				t.Parallel()
				tr, _, logs := retrying(tt.base, policy)
				resp, err := tr.RoundTrip(httptest.NewRequest("GET", "http://h/", nil))
				if tt.status != 0 {
					require.NoError(t, err)
					assert.Equal(t, tt.status, resp.StatusCode)
					assert.ErrorIs(t, CheckResponse(resp), ErrServer)
				} else {
					assert.Nil(t, resp)
					require.Error(t, err)
					if tt.err != nil {
						assert.ErrorIs(t, err, tt.err)
					}
					assert.Contains(t, err.Error(), tt.errText)
				}
				assert.Positive(t, logs.Len())
			})
		}
	}
}

// TestWaitCutShortClosesCallerBodyOnce: when the first attempt
// failed and the retry wait is cut short by the context, call.end closes
// the caller's body again (c.n is still 1), although the base got it with
// the first attempt and closed it. A body is closed once on every path
// (TestRetryClosesEachRequestBodyOnce), and the base may still be reading
// it in its own goroutine (net/http writes bodies in writeLoop).
func TestWaitCutShortClosesCallerBodyOnce(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(503, `{"error":"down"}`))
	tr, _, _ := retrying(srv.Client().Transport, testPolicy)
	ctx, cancel := context.WithCancel(context.Background())
	tr.sleep = func(context.Context, time.Duration) error {
		cancel() // the caller gives up during the wait
		return context.Canceled
	}
	body := &closeCounter{Reader: strings.NewReader("payload")}
	req, err := http.NewRequestWithContext(ctx, "PUT", srv.URL+"/api/v1/public/recordings/1", body)
	require.NoError(t, err)
	req.ContentLength = 7
	req.GetBody = func() (io.ReadCloser, error) { return &closeCounter{Reader: strings.NewReader("payload")}, nil }

	_, err = tr.RoundTrip(req)
	require.ErrorIs(t, err, context.Canceled)
	tr.CloseIdleConnections()
	assert.Equal(t, 1, body.count(), "the caller's body is closed once, by the base that sent it")
}
