package idctrace

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
			entries := logs.FilterMessage(LogMessage).All()
			require.NotEmpty(t, entries)
			last := entries[len(entries)-1].ContextMap()
			if tt.want == "" {
				assert.NotContains(t, last, FieldRetrySkipped)
			} else {
				assert.Equal(t, tt.want, last[FieldRetrySkipped])
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

	entries := logs.FilterMessage(LogMessage).All()
	require.Len(t, entries, 2, "the 503, then the end of the call")
	first, end := entries[0].ContextMap(), entries[1].ContextMap()
	assert.Contains(t, first, FieldRetryIn)
	assert.Equal(t, first[FieldRequestID], end[FieldRequestID])
	assert.EqualValues(t, 2, end[FieldAttempt])
	assert.NotContains(t, end, FieldStatus)
	assert.Equal(t, "not sent: the wait before attempt 2 ended: context canceled", end[FieldError])
	assert.Equal(t, 2, rec.Len())

	require.Len(t, seen.got, 1, "one attempt was sent")
	a := seen.got[0]
	assert.Equal(t, 503, a.Status)
	assert.True(t, a.Last)
	assert.Zero(t, a.RetryIn, "no retry followed")
	assert.Same(t, te, a.Err, "the observer sees the error the call returned")
}
