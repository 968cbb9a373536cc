package idctrace

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/identitycall/idctrace/internal/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBackoffJitterStaysInRange(t *testing.T) {
	t.Parallel()
	tr := New(nil, nil, WithRetry(RetryPolicy{MaxRetries: 100, BaseDelay: time.Second, MaxDelay: time.Minute}))
	for attempt := 1; attempt <= 100; attempt++ {
		want := time.Minute
		if attempt <= 6 { // 2^6 s is past the cap
			want = min(time.Second<<(attempt-1), time.Minute)
		}
		for range 20 {
			d := tr.backoff(attempt)
			assert.GreaterOrEqual(t, d, want/2)
			assert.LessOrEqual(t, d, want)
		}
	}
}

func TestRetryAfterWaits(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	policy := RetryPolicy{MaxRetries: 1, BaseDelay: 100 * time.Millisecond, MaxDelay: 30 * time.Second}
	tests := []struct {
		name         string
		body, header string
		waits        []time.Duration // nil: the 429 comes back at once
	}{
		{"body seconds", `{"retry_after":5}`, "", []time.Duration{5 * time.Second}},
		{"header seconds", `{}`, "7", []time.Duration{7 * time.Second}},
		{"larger of the two", `{"retry_after":3}`, "9", []time.Duration{9 * time.Second}},
		{"fraction", `{"retry_after":1.5}`, "", []time.Duration{1500 * time.Millisecond}},
		{"negative: the backoff", `{"retry_after":-5}`, "-5", []time.Duration{100 * time.Millisecond}},
		{"huge body", `{"retry_after":99999999999}`, "", nil},
		{"huge header", `{}`, "99999999999", nil},
		{"past date: the backoff", `{}`, now.Add(-time.Hour).Format(http.TimeFormat), []time.Duration{100 * time.Millisecond}},
		{"near date", `{}`, now.Add(20 * time.Second).Format(http.TimeFormat), []time.Duration{20 * time.Second}},
		{"far future date", `{}`, "Fri, 31 Dec 9999 23:59:59 GMT", nil},
		{"over MaxDelay", `{"retry_after":31}`, "", nil},
		{"neither: the documented minute, past this policy's cap", `{"error":"Rate limit exceeded"}`, "", nil},
		{"garbage: the documented minute, past this policy's cap", `{"retry_after":"soon"}`, "later", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			header := http.Header{}
			if tt.header != "" {
				header.Set("Retry-After", tt.header)
			}
			calls := 0
			base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
				calls++
				return &http.Response{StatusCode: 429, Header: header, Body: io.NopCloser(strings.NewReader(tt.body)), Request: req}, nil
			})
			tr, fs, _ := retrying(base, policy)
			tr.now = func() time.Time { return now }
			req, _ := http.NewRequest("GET", "http://h/", nil)
			resp, err := tr.RoundTrip(req)
			require.NoError(t, err)
			assert.Equal(t, 429, resp.StatusCode)
			assert.Equal(t, tt.body, readAll(t, resp))
			assert.Equal(t, tt.waits, fs.got())
			assert.Equal(t, len(tt.waits)+1, calls)
		})
	}
}

func TestRetryRealTimerShortWait(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(429, `{"error":"Rate limit exceeded","retry_after":0.01}`), reply(200, "ok"))
	tr := New(srv.Client().Transport, nil, WithRetry(RetryPolicy{MaxRetries: 1, BaseDelay: time.Millisecond, MaxDelay: time.Second}))
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	assert.Equal(t, "ok", readAll(t, resp))
	assert.Len(t, srv.got(), 2)
}

func TestRetryDeadlineShorterThanWait(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(429, `{"error":"Rate limit exceeded","retry_after":9}`), reply(200, "ok"))
	tr, fs, logs := retrying(srv.Client().Transport, testPolicy)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // ample for one attempt, short of 9 s
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)

	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	assert.Equal(t, 429, resp.StatusCode, "the 429 comes back instead of a doomed wait")
	assert.Equal(t, `{"error":"Rate limit exceeded","retry_after":9}`, readAll(t, resp))
	assert.Empty(t, fs.got())
	require.Equal(t, 1, logs.Len())
	assert.NotContains(t, logs.All()[0].ContextMap(), schema.RetryIn)
}

// TestRandomJitterRange: the jitter is in [0, d], and 0 for a d that is not
// positive, which no policy gives but which must not panic.
func TestRandomJitterRange(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{-time.Second, 0, 1, time.Millisecond, time.Minute} {
		for range 100 {
			j := randomJitter(d)
			assert.GreaterOrEqual(t, j, time.Duration(0), d)
			assert.LessOrEqual(t, j, max(d, 0), d)
		}
	}
}
