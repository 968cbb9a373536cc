package idctrace

// The quota proofs: what a server with fixed windows answers a Transport
// with NewLimiter, or with WithRetry alone, and what it learns.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/identitycall/idctrace/idctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// quotaWorkers callers run at once for quotaTime against a server that
// allows 20 requests a second: a quota of about 60.
const (
	quotaWorkers = 16
	quotaTime    = 3 * time.Second
)

// quotaRun makes quotaWorkers workers call srv with key for quotaTime
// through tr, and returns what the server answered, in the order requests
// arrived.
func quotaRun(tr *Transport, srv *idctest.Server, key string) (statuses []int) {
	ctx, cancel := context.WithTimeout(context.Background(), quotaTime)
	defer cancel()
	var wg sync.WaitGroup
	for range quotaWorkers {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/recordings", nil)
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					return // the deadline, or no slot before it: the run is over
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	for _, r := range srv.Requests() { // in order, for longestRun: the log keeps them all at this size
		statuses = append(statuses, r.Status)
	}
	return statuses
}

// longestRun returns the longest run of want in statuses.
func longestRun(statuses []int, want int) int {
	most, run := 0, 0
	for _, s := range statuses {
		if s != want {
			run = 0
			continue
		}
		run++
		most = max(most, run)
	}
	return most
}

// TestQuotaIsKept: 16 workers for 3 s against a server that allows 20
// requests a second in fixed windows, as IdentityCall does. With
// NewLimiter(20, time.Second) at least 85 % of the quota succeeds, no
// request gets a 429 and no call returns one. With WithRetry alone, the
// Transport only pauses: each window may answer 429 to the callers in
// flight when it overflows, and no more, and no call returns a 429 unless
// its retry would pass its deadline. The simulator and the Transport talk
// HTTP over an in-memory network in a synctest bubble, so that the proof
// does not depend on the machine's speed (limitsim_test.go adds network
// delays to the limiter's own proof).
func TestQuotaIsKept(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		opts   func() []Option // made in the bubble, on its clock
		minOK  int             // of a quota of about 60
		max429 int
	}{
		{"NewLimiter", func() []Option {
			return []Option{WithLimiter(NewLimiter(20, time.Second)), WithRetry(DefaultRetryPolicy())}
		}, 51, 0},
		{"WithRetry alone", func() []Option { return []Option{WithRetry(DefaultRetryPolicy())} }, 51, 1 << 30},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				network := newPipeNet()
				srv := idctest.NewUnstartedServer(idctest.WithRateLimit(20, time.Second))
				srv.Listener = network
				srv.Start()
				defer srv.Close()
				base := network.transport()
				defer base.CloseIdleConnections()
				var seen recordAttempts
				tr := New(base, nil, append(tt.opts(), WithObserver(seen.observe))...)
				statuses := quotaRun(tr, srv, srv.NewKey(idctest.Read))
				counts := srv.Counts()
				require.Len(t, statuses, counts.Answered, "the request log holds every request of the run")
				ok, tooMany := counts.ByStatus[http.StatusOK], counts.ByStatus[http.StatusTooManyRequests]
				var returned []string
				for _, a := range seen.got {
					if a.Last && a.Status == http.StatusTooManyRequests && a.RetrySkipped != "deadline" {
						returned = append(returned, fmt.Sprintf("%q at attempt %d", a.RetrySkipped, a.Attempt))
					}
				}
				t.Logf("%s: %d sent, %d ok, %d answered 429 (at most %d in a row), %d calls returned a 429 before their deadline",
					tt.name, counts.Answered, ok, tooMany, longestRun(statuses, http.StatusTooManyRequests), len(returned))
				assert.Empty(t, returned, "no call returns a 429 but at its deadline")
				assert.GreaterOrEqual(t, ok, tt.minOK)
				assert.LessOrEqual(t, tooMany, tt.max429)
				assert.LessOrEqual(t, longestRun(statuses, http.StatusTooManyRequests), quotaWorkers,
					"a window answers 429 to the callers in flight when it overflows, no more")
			})
		})
	}
}

// TestNothingLearntOutlivesThePause: whatever a server answered before, a
// Transport with WithRetry and no limiter of its own sends at full speed
// once the last 429's pause has ended. Each script runs, then 30 calls with
// a 300 ms deadline go to a healthy server: every one is sent at once.
func TestNothingLearntOutlivesThePause(t *testing.T) {
	t.Parallel()
	tooMany := func(retryAfter string) func() (int, string) {
		return func() (int, string) { return 429, `{"error":"Rate limit exceeded","retry_after":` + retryAfter + `}` }
	}
	ok := func() (int, string) { return 200, `{"data":[]}` }
	unavailable := func() (int, string) { return 503, `{"error":"Service unavailable"}` }
	repeat := func(n int, steps ...func() (int, string)) []func() (int, string) {
		var out []func() (int, string)
		for range n {
			out = append(out, steps...)
		}
		return out
	}
	for _, tt := range []struct {
		name   string
		script []func() (int, string)
	}{
		{"one stray 429", []func() (int, string){ok, tooMany("1")}},
		{"200 and 429 (retry_after 60), 12 pairs", repeat(12, ok, tooMany("60"))},
		{"503 and 429 (retry_after 0), 200 pairs", repeat(200, unavailable, tooMany("0"))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var sent atomic.Int64
				base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
					step := ok
					if n := int(sent.Add(1)); n <= len(tt.script) {
						step = tt.script[n-1]
					}
					status, body := step()
					return &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
				})
				var seen recordAttempts
				tr := New(base, nil, WithRetry(DefaultRetryPolicy()), WithObserver(seen.observe))
				call := func(ctx context.Context) (int, error) {
					req, _ := http.NewRequestWithContext(ctx, "GET", "http://h/api/v1/public/recordings", nil)
					resp, err := tr.RoundTrip(req)
					if err != nil {
						return 0, err
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					return resp.StatusCode, nil
				}
				for int(sent.Load()) < len(tt.script) {
					call(context.Background())
				}
				time.Sleep(time.Minute) // every pause has ended
				seen.got = nil
				refused := 0
				for range 30 {
					ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
					status, err := call(ctx)
					cancel()
					if errors.Is(err, ErrLocalRateLimit) {
						refused++
						continue
					}
					assert.NoError(t, err)
					assert.Equal(t, 200, status)
				}
				t.Logf("%d of 30 calls refused locally", refused)
				assert.Zero(t, refused)
				for _, a := range seen.got {
					assert.Zero(t, a.Queued, "sent at once")
				}
			})
		})
	}
}
