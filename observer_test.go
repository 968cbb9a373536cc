package idctrace

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// recordAttempts is an observer that keeps what it sees.
type recordAttempts struct {
	mu  sync.Mutex
	got []Attempt
}

func (r *recordAttempts) observe(a Attempt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, a)
}

func TestObserverSeesEveryAttempt(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(503, `{"error":"Service unavailable"}`), reply(429, `{"error":"Rate limit exceeded","retry_after":0}`), reply(200, "ok"))
	var first, second recordAttempts
	tr, fs, _ := retrying(srv.Client().Transport, testPolicy)
	WithObserver(first.observe).apply(tr)
	WithObserver(second.observe).apply(tr)
	WithObserver(nil).apply(tr)

	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/public/recordings/rec_1?page=2&q=alice", nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	readAll(t, resp)

	require.Len(t, first.got, 3)
	assert.Equal(t, first.got, second.got, "observers add up")
	id := srv.seenIDs()[0]
	wantURL := srv.URL + "/api/v1/public/recordings/rec_1?page=2&q=REDACTED"
	for i, a := range first.got {
		assert.Equal(t, id, a.RequestID)
		assert.Equal(t, "GET", a.Method)
		assert.Equal(t, wantURL, a.URL, "redacted as the entry is")
		assert.Equal(t, "/recordings/{id}", a.Route)
		assert.Equal(t, i+1, a.Attempt)
		assert.False(t, a.Start.IsZero())
		assert.GreaterOrEqual(t, a.Duration, time.Duration(0))
		assert.NoError(t, a.Err)
	}
	assert.Equal(t, []int{503, 429, 200}, []int{first.got[0].Status, first.got[1].Status, first.got[2].Status})
	assert.Equal(t, fs.got()[0], first.got[0].RetryIn)
	assert.Equal(t, fs.got()[1], first.got[1].RetryIn, "a 429 that asks for no wait waits the backoff")
	assert.Zero(t, first.got[2].RetryIn)
}

func TestObserverSeesTransportErrors(t *testing.T) {
	t.Parallel()
	var seen recordAttempts
	boom := errors.New("connection refused")
	tr := New(stubRT{err: boom}, nil, WithObserver(seen.observe))
	_, err := tr.RoundTrip(newRequest(t, "POST", "https://h/api/v1/public/projects"))
	require.Error(t, err)
	require.Len(t, seen.got, 1)
	a := seen.got[0]
	assert.Zero(t, a.Status)
	var te *TransportError
	require.ErrorAs(t, a.Err, &te)
	assert.ErrorIs(t, a.Err, boom)
	assert.Equal(t, err.Error(), a.Err.Error(), "the observer sees the error the caller gets")
	assert.Equal(t, "/projects", a.Route)
}

func newRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	return req
}

// TestObserverLastAttempt: the call's last attempt is marked, with the
// error the call returned; earlier ones say a retry followed.
func TestObserverLastAttempt(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(503, ""), reply(502, ""))
	tr, _, _ := retrying(srv.Client().Transport, RetryPolicy{MaxRetries: 1, BaseDelay: time.Millisecond, MaxDelay: time.Second})
	var seen recordAttempts
	WithObserver(seen.observe).apply(tr)
	resp, err := tr.RoundTrip(newRequest(t, "GET", srv.URL+"/api/v1/public/recordings"))
	require.NoError(t, err)
	readAll(t, resp)
	require.Len(t, seen.got, 2)
	assert.False(t, seen.got[0].Last)
	assert.Positive(t, seen.got[0].RetryIn)
	assert.True(t, seen.got[1].Last)
	assert.Equal(t, 502, seen.got[1].Status)
	assert.Equal(t, "max_retries", seen.got[1].RetrySkipped)
	assert.NoError(t, seen.got[1].Err, "the call returned a response")
}

// TestCallbackPanicReachesTheCaller: a panic in the caller's code that a
// call runs (an observer, WithLevel, WithLogFields) is the caller's, as in
// any code of theirs; the responses the call would have returned are
// closed first, so nothing stays open, and a retry's charge is given back.
func TestCallbackPanicReachesTheCaller(t *testing.T) {
	t.Parallel()
	retry := RetryPolicy{MaxRetries: 1, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}
	callbacks := map[string]Option{
		"WithObserver":  WithObserver(func(Attempt) { panic("callback bug") }),
		"WithLevel":     WithLevel(func(int, string) zapcore.Level { panic("callback bug") }),
		"WithLogFields": WithLogFields(func(*http.Request) []zap.Field { panic("callback bug") }),
	}
	for _, tt := range []struct {
		name      string
		statuses  []int
		policy    RetryPolicy
		callbacks []string // those the call runs
	}{
		{"success", []int{200}, RetryPolicy{}, []string{"WithObserver"}},
		{"failure", []int{503}, RetryPolicy{}, []string{"WithObserver", "WithLevel", "WithLogFields"}},
		{"a retried failure", []int{503, 200}, retry, []string{"WithObserver", "WithLevel", "WithLogFields"}},
	} {
		for _, callback := range tt.callbacks {
			t.Run(tt.name+"/"+callback, func(t *testing.T) {
				t.Parallel()
				var bodies []*closeCounter
				n := 0
				base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
					b := &closeCounter{Reader: strings.NewReader(`{"error":"x"}`)}
					bodies = append(bodies, b)
					status := tt.statuses[min(n, len(tt.statuses)-1)]
					n++
					return &http.Response{StatusCode: status, Body: b, Header: http.Header{}, Request: r}, nil
				})
				policy := tt.policy
				if policy.MaxRetries > 0 {
					policy.Budget = NewRetryBudget(0, 1) // one retry a second
				}
				tr, _, _ := retrying(base, policy)
				callbacks[callback].apply(tr)
				assert.PanicsWithValue(t, "callback bug", func() {
					tr.RoundTrip(newRequest(t, "GET", "http://h/api/v1/public/recordings"))
				})
				require.NotEmpty(t, bodies)
				for i, b := range bodies {
					assert.Positive(t, b.count(), "body %d is closed", i)
				}
				if policy.Budget != nil && len(bodies) == 1 {
					_, ok := policy.Budget.withdraw(time.Now())
					assert.True(t, ok, "the retry that was not sent gave its charge back")
				}
			})
		}
	}
}

// TestObserverPanicClosesTheRetrysBody: call.attempt gets the
// retry's body from GetBody (c.request) before c.retried tells the
// observers of the kept attempt; when one panics there, the new body is
// never sent and never closed: RoundTrip must close the request body on
// every path (TestObserverPanicReachesTheCaller checks responses only).
func TestObserverPanicClosesTheRetrysBody(t *testing.T) {
	t.Parallel()
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Body != nil {
			r.Body.Close()
		}
		return &http.Response{StatusCode: 503, Body: io.NopCloser(strings.NewReader(`{"error":"down"}`)), Header: http.Header{}, Request: r}, nil
	})
	tr, _, _ := retrying(base, RetryPolicy{MaxRetries: 1, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond})
	WithObserver(func(Attempt) { panic("observer bug") }).apply(tr)
	var rb replayableBody
	first, _ := rb.open()
	req, err := http.NewRequest("PUT", "http://h/api/v1/public/recordings/1", first)
	require.NoError(t, err)
	req.ContentLength, req.GetBody = 7, rb.open
	assert.PanicsWithValue(t, "observer bug", func() { tr.RoundTrip(req) })
	bodies := rb.made()
	require.Len(t, bodies, 2, "the first body, and the retry's from GetBody")
	for i, b := range bodies {
		assert.Equal(t, 1, b.count(), "body of attempt %d is closed once", i+1)
	}
}

// BenchmarkObserver measures what an observer costs a successful call,
// against the same Transport without one, in the same run.
func BenchmarkObserver(b *testing.B) {
	ok := stubRT{status: 200, body: stringBody(`{"data":[]}`)}
	req, err := http.NewRequest("GET", "https://api.identitycall.ai/api/v1/public/recordings/rec_1?page=2", nil)
	require.NoError(b, err)
	req.Header.Set("Authorization", "Bearer "+testKey)
	var n int
	for _, bm := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"without", New(ok, nil)},
		{"with", New(ok, nil, WithObserver(func(a Attempt) { n += a.Status }))},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				resp, err := bm.rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
		})
	}
}

// TestCallbackPanicClosesWhatTheCallHolds: when the caller's code panics
// before an attempt is sent (the ID generator, a Limiter, GetBody, or
// WithLevel on a call that sent nothing), every request body is closed once
// (by the base that got it, or by the Transport), the response a retry kept
// is closed, and the retry's charge is given back.
func TestCallbackPanicClosesWhatTheCallHolds(t *testing.T) {
	t.Parallel()
	bug := func() { panic("callback bug") }
	for _, tt := range []struct {
		name     string
		opt      Option
		canceled bool // the context ends before the call
		getBody  bool // GetBody panics
		sent     int  // attempts the base gets
	}{
		{"WithIDGenerator", WithIDGenerator(func() string { bug(); return "" }), false, false, 0},
		{"Limiter, first attempt", WithLimiter(&panickyLimiter{after: 0}), false, false, 0},
		{"Limiter, retry", WithLimiter(&panickyLimiter{after: 1}), false, false, 1},
		{"Limiter, pause after a 429", WithLimiter(&panickyLimiter{after: 1, pause: true}), false, false, 1},
		{"GetBody", nil, false, true, 1},
		{"WithLevel, nothing sent", WithLevel(func(int, string) zapcore.Level { bug(); return 0 }), true, false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var responses []*closeCounter
			base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				r.Body.Close()
				b := &closeCounter{Reader: strings.NewReader(`{"error":"Rate limit exceeded","retry_after":0}`)}
				responses = append(responses, b)
				return &http.Response{StatusCode: 429, Body: b, Header: http.Header{}, Request: r}, nil
			})
			budget := NewRetryBudget(0, 1) // one retry a second
			tr := New(base, nil, WithRetry(RetryPolicy{MaxRetries: 1, BaseDelay: time.Millisecond,
				MaxDelay: time.Millisecond, Budget: budget}))
			if tt.opt != nil {
				tt.opt.apply(tr)
			}
			ctx, cancel := context.WithCancel(context.Background())
			if tt.canceled {
				cancel()
			}
			defer cancel()
			var rb replayableBody
			first, _ := rb.open()
			req, err := http.NewRequestWithContext(ctx, "PUT", "http://h/api/v1/public/recordings/1", first)
			require.NoError(t, err)
			req.GetBody = rb.open
			if tt.getBody {
				req.GetBody = func() (io.ReadCloser, error) { bug(); return nil, nil }
			}
			assert.PanicsWithValue(t, "callback bug", func() { tr.RoundTrip(req) })
			assert.Len(t, responses, tt.sent, "attempts sent")
			for i, b := range responses {
				assert.Equal(t, 1, b.count(), "response %d is closed once", i+1)
			}
			for i, b := range rb.made() {
				assert.Equal(t, 1, b.count(), "request body %d is closed once", i+1)
			}
			_, ok := budget.withdraw(time.Now())
			assert.True(t, ok, "a retry that was not sent gave its charge back")
		})
	}
}

// panickyLimiter admits after calls, then panics, as a buggy Limiter would;
// with pause, Pause panics instead.
type panickyLimiter struct {
	after int
	calls int
	pause bool
}

func (l *panickyLimiter) Wait(context.Context) error {
	if l.calls++; l.calls > l.after && !l.pause {
		panic("callback bug")
	}
	return nil
}

func (l *panickyLimiter) Pause(time.Time) {
	if l.pause {
		panic("callback bug")
	}
}
