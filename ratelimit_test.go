package idctrace

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"

	"github.com/identitycall/idctrace/internal/schema"
)

// fakeLimiter answers Wait with err, after sleeping wait, and records the
// pauses it is asked for.
type fakeLimiter struct {
	wait time.Duration
	err  error

	mu     sync.Mutex
	pauses []time.Time
	waits  int
}

func (l *fakeLimiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	l.waits++
	l.mu.Unlock()
	if l.wait > 0 {
		time.Sleep(l.wait)
	}
	return l.err
}

func (l *fakeLimiter) Pause(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pauses = append(l.pauses, t)
}

// TestLimiterFirstAttemptNotSent: a call whose first slot comes after its
// deadline is not sent: a TransportError that reads as local, with its ID,
// a hint and an entry, at once, and no Attempt for the observers.
func TestLimiterFirstAttemptNotSent(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(200, "ok"))
	log, logs := observed()
	var seen recordAttempts
	lim := NewLimiter(1, time.Hour)
	tr := New(srv.Client().Transport, log, WithLimiter(lim), WithObserver(seen.observe))
	resp, err := tr.RoundTrip(newRequest(t, "GET", srv.URL+"/api/v1/public/recordings"))
	require.NoError(t, err, "the hour's one slot")
	readAll(t, resp)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	body := &closeCounter{Reader: strings.NewReader(`{"name":"x"}`)}
	req, _ := http.NewRequestWithContext(ctx, "PATCH", srv.URL+"/api/v1/public/recordings/1", body)
	var te *TransportError
	finishes(t, "a call with no slot before its deadline", func() { _, err = tr.RoundTrip(req) })
	require.ErrorIs(t, err, ErrLocalRateLimit)
	require.ErrorAs(t, err, &te)
	assert.NotEmpty(t, te.RequestID)
	assert.Equal(t, "local_rate_limit", te.ErrorType)
	assert.Contains(t, te.Hint, "The server never saw it")
	assert.Equal(t, 1, strings.Count(te.Error(), "not sent"), "said once: %s", te.Error())
	assert.Equal(t, 1, strings.Count(te.SupportTicket(""), "not sent"), "said once")
	assert.Len(t, srv.got(), 1, "the server saw only the first call")
	assert.Equal(t, 1, body.count(), "the request's body is closed, as RoundTrip must")
	assert.Len(t, seen.got, 1, "no Attempt for what was not sent")
	entries := logs.FilterMessage(schema.Failed).All()
	require.Len(t, entries, 1)
	f := entries[0].ContextMap()
	assert.Equal(t, te.RequestID, f[schema.RequestID])
	assert.Equal(t, "local_rate_limit", f[schema.ErrorType])
	assert.Equal(t, "not sent: no rate-limit slot before the deadline", f[schema.Error])
	assert.NotContains(t, f, schema.Status, "it never reads as a server error")
	assert.Equal(t, zapcore.WarnLevel, entries[0].Level, "at Warn, as the 429 it spares")
}

// TestLimiterRetryNotSent: a retry whose slot comes after the deadline is
// not sent; the call returns the last response, and its entry says why.
func TestLimiterRetryNotSent(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(503, `{"error":"Service unavailable"}`), reply(200, "ok"))
	log, logs := observed()
	var seen recordAttempts
	lim := &fakeLimiter{}
	tr := New(srv.Client().Transport, log, WithLimiter(lim), WithObserver(seen.observe),
		WithRetry(RetryPolicy{MaxRetries: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}))
	var calls atomic.Int32
	tr.limiter = limiterFunc(func(ctx context.Context) error {
		if calls.Add(1) > 1 {
			return ErrLocalRateLimit // the retry's slot is past the deadline
		}
		return nil
	})
	resp, err := tr.RoundTrip(newRequest(t, "GET", srv.URL+"/api/v1/public/recordings"))
	require.NoError(t, err)
	assert.Equal(t, 503, resp.StatusCode, "the last response, intact")
	assert.Equal(t, `{"error":"Service unavailable"}`, readAll(t, resp))
	assert.Len(t, srv.got(), 1)

	entries := logs.FilterMessage(schema.Failed).All()
	require.Len(t, entries, 2, "the 503, then the retry that was not sent")
	end := entries[1].ContextMap()
	assert.Equal(t, "deadline", end[schema.RetrySkipped])
	assert.EqualValues(t, 2, end[schema.Attempt])
	require.Len(t, seen.got, 1)
	assert.True(t, seen.got[0].Last)
	assert.Zero(t, seen.got[0].RetryIn)
	assert.NoError(t, seen.got[0].Err, "the call returned a response")
}

type limiterFunc func(context.Context) error

func (f limiterFunc) Wait(ctx context.Context) error { return f(ctx) }
func (f limiterFunc) Pause(time.Time)                {}

// TestLimiterFailsOpen: a limiter that cannot decide lets every request
// go, and the Transport warns once a minute while that lasts.
func TestLimiterFailsOpen(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(200, "ok"))
	log, logs := observed()
	tr := New(srv.Client().Transport, log, WithLimiter(&fakeLimiter{err: errors.New("redis: connection refused")}))
	for range 5 {
		resp, err := tr.RoundTrip(newRequest(t, "GET", srv.URL+"/api/v1/public/recordings"))
		require.NoError(t, err)
		readAll(t, resp)
	}
	assert.Len(t, srv.got(), 5, "sent anyway")
	warnings := logs.FilterMessage(schema.LimiterDown).All()
	require.Len(t, warnings, 1, "once a minute")
	assert.Equal(t, "redis: connection refused", warnings[0].ContextMap()[schema.Error])
}

// TestLimiterPausedBy429: a 429 pauses the limiter for its retry_after,
// capped at the policy's MaxDelay, or a minute without a policy.
func TestLimiterPausedBy429(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		body   string
		policy RetryPolicy
		want   time.Duration
	}{
		{"retry_after", `{"error":"Rate limit exceeded","retry_after":3}`, RetryPolicy{}, 3 * time.Second},
		{"says nothing: the documented minute", `{"error":"Rate limit exceeded"}`, RetryPolicy{}, time.Minute},
		{"capped at MaxDelay", `{"error":"Rate limit exceeded","retry_after":90}`,
			RetryPolicy{MaxRetries: 1, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Second}, 2 * time.Second},
		{"capped at a minute without a policy", `{"error":"Rate limit exceeded","retry_after":3600}`, RetryPolicy{}, time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lim := &fakeLimiter{}
			tr := New(stubRT{status: 429, body: stringBody(tt.body)}, nil, WithLimiter(lim), WithRetry(tt.policy))
			before := time.Now()
			resp, err := tr.RoundTrip(newRequest(t, "GET", "http://h/api/v1/public/recordings"))
			require.NoError(t, err)
			resp.Body.Close()
			lim.mu.Lock()
			defer lim.mu.Unlock()
			require.NotEmpty(t, lim.pauses)
			got := lim.pauses[0].Sub(before)
			assert.GreaterOrEqual(t, got, tt.want)
			assert.Less(t, got, tt.want+time.Minute, "and no more than the wait, give or take the call")
		})
	}
}

// TestLimiterQueuedIsReported: the wait for a slot is on the entry and the
// Attempt, apart from the duration.
func TestLimiterQueuedIsReported(t *testing.T) {
	t.Parallel()
	log, logs := observed()
	var seen recordAttempts
	tr := New(stubRT{status: 500, body: stringBody("{}")}, log, WithLimiter(&fakeLimiter{wait: 20 * time.Millisecond}), WithObserver(seen.observe))
	resp, err := tr.RoundTrip(newRequest(t, "GET", "http://h/api/v1/public/recordings"))
	require.NoError(t, err)
	resp.Body.Close()
	queued := logs.All()[0].ContextMap()[schema.Queued].(time.Duration)
	assert.GreaterOrEqual(t, queued, 20*time.Millisecond)
	require.Len(t, seen.got, 1)
	assert.Equal(t, queued, seen.got[0].Queued)
	assert.Less(t, seen.got[0].Duration, queued, "the duration does not count the wait")
}

// TestNoQueuedWithoutAQuota: a Transport that retries with no quota of its
// own skips its limiter while it only pauses, so no time between two clock
// readings is logged as queued (on a loaded CI machine, the scheduler put
// 1.7 ms there). Here every reading of the clock is 5 ms after the last.
func TestNoQueuedWithoutAQuota(t *testing.T) {
	t.Parallel()
	log, logs := observed()
	tr := New(stubRT{status: 404, body: stringBody(notFoundBody)}, log, WithRetry(testPolicy))
	now := time.Now()
	tr.now = func() time.Time { now = now.Add(5 * time.Millisecond); return now }
	resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
	require.NoError(t, err)
	readAll(t, resp)
	tr.Flush()
	require.Equal(t, 1, logs.Len())
	assert.NotContains(t, logs.All()[0].ContextMap(), schema.Queued)
}

// TestRetryWithoutSlotAfterTransportError: a retry that gets no
// rate-limit slot before the deadline is "not sent: the call returns the
// last response" (README, Quotas; WithLimiter's doc), with retry_skipped:
// deadline. When the attempt that failed was a transport error, there is
// no kept response, and call.notSent only sets retry_skipped when c.kept
// != nil: the call returns ErrLocalRateLimit ("not sent ... the server
// never saw it") in place of the connection refused that the server's
// outage caused, and the entry carries no retry_skipped.
func TestRetryWithoutSlotAfterTransportError(t *testing.T) {
	t.Parallel()
	addr := refusedAddr(t)

	log, logs := observed()
	var seen recordAttempts
	var waits atomic.Int32
	tr := New(nil, log, WithObserver(seen.observe),
		WithRetry(RetryPolicy{MaxRetries: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}),
		WithLimiter(limiterFunc(func(ctx context.Context) error {
			if waits.Add(1) > 1 {
				return ErrLocalRateLimit // the retry's slot is past the deadline
			}
			return nil
		})))
	defer tr.Flush()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/api/v1/public/recordings", nil)
	require.NoError(t, err)
	_, err = tr.RoundTrip(req)
	require.Error(t, err)

	assert.ErrorIs(t, err, syscall.ECONNREFUSED, "the call's outcome is the refused connection it met")
	assert.NotErrorIs(t, err, ErrLocalRateLimit, "the request was sent: it must not read as held back by the client")
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "connection_refused", te.ErrorType)

	entries := logs.FilterMessage(schema.Failed).All()
	require.NotEmpty(t, entries)
	last := entries[len(entries)-1].ContextMap()
	assert.Equal(t, "deadline", last[schema.RetrySkipped], "the entry says why the refused connection was not retried")
}

// TestLimiterErrorRedactsURLPassword: a Limiter's error that names its
// store's URL with a password (a client's dial error, a proxy's) reaches
// no output with the password: not the fail-open warning, nor, for an
// error that wraps ErrLocalRateLimit, the "not sent: ..." entry, the
// error's text or its ticket.
func TestLimiterErrorRedactsURLPassword(t *testing.T) {
	t.Parallel()
	const password = "Sup3rS3cretRedisPass"
	tests := []struct {
		name string
		err  error
	}{
		{"fail open", errors.New("dial redis://default:" + password + "@cache.internal:6379: connection refused")},
		{"not sent", errors.Join(errors.New("quota store redis://default:"+password+"@cache.internal:6379"), ErrLocalRateLimit)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newScripted(t, reply(200, "ok"))
			log, logs := observed()
			tr := New(srv.Client().Transport, log, WithLimiter(&fakeLimiter{err: tt.err}))
			defer tr.Flush()
			resp, err := tr.RoundTrip(newRequest(t, "GET", srv.URL+"/api/v1/public/recordings"))
			var outputs []any
			if errors.Is(tt.err, ErrLocalRateLimit) {
				require.ErrorIs(t, err, ErrLocalRateLimit)
				var te *TransportError
				require.ErrorAs(t, err, &te)
				outputs = append(outputs, te.Error(), te.SupportTicket(""))
			} else {
				require.NoError(t, err)
				readAll(t, resp)
			}
			entries := logs.All()
			require.Len(t, entries, 1, "the warning, or the entry")
			outputs = append(outputs, entries[0].ContextMap()[schema.Error])
			for _, out := range outputs {
				assert.NotContains(t, out, password)
			}
		})
	}
}
