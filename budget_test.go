package idctrace

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identitycall/idctrace/internal/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRetryBudgetArithmetic(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	b := NewRetryBudget(0.1, 2)
	assert.True(t, allowed(b, t0), "the allowance of the second")
	assert.True(t, allowed(b, t0))
	assert.False(t, allowed(b, t0), "nothing deposited yet")
	for range 25 {
		b.deposit(t0)
	}
	assert.True(t, allowed(b, t0), "25 first attempts pay for 2 retries")
	assert.True(t, allowed(b, t0))
	assert.False(t, allowed(b, t0))
	assert.True(t, allowed(b, t0.Add(time.Second)), "a new second, a new allowance")

	later := t0.Add(budgetSeconds * time.Second)
	assert.True(t, allowed(b, later))
	assert.True(t, allowed(b, later))
	assert.False(t, allowed(b, later), "the deposits expired after 10 s")
	for range 10 {
		b.deposit(later)
	}
	assert.True(t, allowed(b, later), "and the withdrawals with them: 10 new first attempts pay for one")

	var none *RetryBudget
	none.deposit(t0)
	assert.True(t, allowed(none, t0), "a nil budget allows every retry")
	zero := NewRetryBudget(-1, -5)
	assert.Equal(t, NewRetryBudget(0, 0), zero, "negative arguments count as 0")
	zero.deposit(t0)
	assert.False(t, allowed(zero, t0))
}

// allowed reports whether b allows a retry at now, and charges it.
func allowed(b *RetryBudget, now time.Time) bool {
	_, ok := b.withdraw(now)
	return ok
}

// TestRetryBudgetRefund: a retry that is not sent after all gives back what
// it took, from the pot it took it from, within its second.
func TestRetryBudgetRefund(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	b := NewRetryBudget(0.1, 1)
	for range 10 {
		b.deposit(t0)
	}
	free, ok := b.withdraw(t0)
	require.True(t, ok)
	paid, ok := b.withdraw(t0)
	require.True(t, ok)
	assert.False(t, allowed(b, t0), "the allowance and the deposits are spent")
	b.refund(free)
	assert.True(t, allowed(b, t0), "the allowance came back")
	b.refund(paid)
	assert.True(t, allowed(b, t0), "and the deposit")
	assert.False(t, allowed(b, t0))

	late, ok := b.withdraw(t0.Add(time.Second)) // the next second's allowance
	require.True(t, ok)
	b.withdraw(t0.Add(budgetSeconds * time.Second)) // the ring moves past that second
	b.refund(late)
	assert.False(t, allowed(b, t0.Add(budgetSeconds*time.Second)), "a second that moved on keeps its count")
	b.refund(charge{})
	(*RetryBudget)(nil).refund(free)
}

// TestRetryBudgetRefundsARetryNotSent: a retry whose wait the context cuts
// short is not charged: the next call's failure is still retried.
func TestRetryBudgetRefundsARetryNotSent(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(503, ""), reply(503, ""), reply(200, "ok"))
	tr := budgetTransport(srv.Client().Transport, NewRetryBudget(0, 1)) // one retry a second, and the clock stands still
	ctx, cancel := context.WithCancel(context.Background())
	tr.sleep = func(context.Context, time.Duration) error { cancel(); return ctx.Err() } // the caller gives up during the wait
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/public/recordings", nil)
	_, err := tr.RoundTrip(req)
	require.ErrorIs(t, err, context.Canceled)

	tr.sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() } // the wait passes
	req, _ = http.NewRequest("GET", srv.URL+"/api/v1/public/recordings", nil)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	readAll(t, resp)
	assert.Equal(t, 200, resp.StatusCode, "the retry not sent gave its allowance back")
}

// budgetTransport returns a Transport with the default policy, its delays
// shrunk to nothing, and a clock that stands still: the budget's 10 s and
// its allowance a second then do not depend on how fast the machine is.
func budgetTransport(base http.RoundTripper, budget *RetryBudget) *Transport {
	p := DefaultRetryPolicy()
	if budget != nil {
		p.Budget = budget
	}
	tr, _, _ := retrying(base, p)
	frozen := time.Unix(1_800_000_000, 0)
	tr.now = func() time.Time { return frozen }
	return tr
}

// TestRetryBudgetBoundsAnOutage: 50 callers make 2,000 calls, in one
// second of the Transport's clock, against a server that answers every
// request 503, or 429 with a retry_after of 0 (a gateway's storm). Without
// a budget the server gets 4 requests a call; with the default one, at
// most the budget's bound: 1.1 a call plus the 10 retries of the second.
func TestRetryBudgetBoundsAnOutage(t *testing.T) {
	t.Parallel()
	const callers, calls = 50, 2000
	for _, tt := range []struct {
		name   string
		status int
		body   string
		budget *RetryBudget
		most   int
	}{
		{"503, default policy", 503, `{"error":"Service unavailable"}`, nil, calls + calls/10 + 10},
		{"429 retry_after 0, default policy", 429, `{"error":"Rate limit exceeded","retry_after":0}`, nil, calls + calls/10 + 10},
		{"503, no budget", 503, `{"error":"Service unavailable"}`, NewRetryBudget(1e9, 0), 4 * calls},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var sent atomic.Int64
			down := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				sent.Add(1)
				return stubRT{status: tt.status, body: stringBody(tt.body)}.RoundTrip(r)
			})
			tr := budgetTransport(down, tt.budget)
			var wg sync.WaitGroup
			for range callers {
				wg.Go(func() {
					for range calls / callers {
						req, _ := http.NewRequest("GET", "http://h/api/v1/public/recordings", nil)
						resp, err := tr.RoundTrip(req)
						if assert.NoError(t, err) {
							readAll(t, resp)
						}
					}
				})
			}
			wg.Wait()
			got := int(sent.Load())
			t.Logf("%s: %d calls sent %d requests", tt.name, calls, got)
			assert.LessOrEqual(t, got, tt.most)
			assert.GreaterOrEqual(t, got, calls+calls/10, "the budget's share of retries was used")
		})
	}
}

// TestRetryBudgetKeepsRareFailuresRetried: with 1 % of attempts failing at
// random, every failed call is retried and succeeds.
func TestRetryBudgetKeepsRareFailuresRetried(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	var mu sync.Mutex
	var failed, sent atomic.Int32
	flaky := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		mu.Lock()
		fail := rng.IntN(100) == 0
		mu.Unlock()
		if fail {
			failed.Add(1)
			return stubRT{status: 503, body: stringBody("")}.RoundTrip(r)
		}
		return stubRT{status: 200, body: stringBody("ok")}.RoundTrip(r)
	})
	tr := budgetTransport(flaky, nil)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for range 100 {
				req, _ := http.NewRequest("GET", "http://h/api/v1/public/recordings", nil)
				resp, err := tr.RoundTrip(req)
				if assert.NoError(t, err) {
					assert.Equal(t, 200, resp.StatusCode, "a failed call was retried to success")
					readAll(t, resp)
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 2000+failed.Load(), sent.Load(), "one retry per failed attempt")
	assert.NotZero(t, failed.Load())
}

// TestRetryBudgetRefillsAfterAnOutage: once the outage has spent the
// budget, calls that succeed again refill it, and the next failure is
// retried.
func TestRetryBudgetRefillsAfterAnOutage(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	down.Store(true)
	var failNext atomic.Int32
	srv := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		if down.Load() || failNext.Add(-1) >= 0 {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(200)
	})
	log, logs := observed()
	tr := budgetTransport(srv.Client().Transport, NewRetryBudget(0.1, 0))
	tr.logger, tr.storm = log, nil
	get := func() int {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/public/recordings", nil)
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		readAll(t, resp)
		return resp.StatusCode
	}
	for range 100 {
		get()
	}
	last := logs.FilterMessage(schema.Failed).All()
	assert.Equal(t, "budget", last[len(last)-1].ContextMap()[schema.RetrySkipped], "the outage spent the budget")
	assert.Equal(t, 503, get(), "not retried: still no budget")

	down.Store(false)
	for range 30 {
		require.Equal(t, 200, get())
	}
	failNext.Store(1)
	before := len(srv.got())
	assert.Equal(t, 200, get(), "the refilled budget pays for a retry")
	assert.Equal(t, 2, len(srv.got())-before)
}

// TestRetryBudgetAnd429: a 429 whose retry_after pauses every caller is
// retried whatever the budget; one that asks for less than the backoff
// (a gateway's retry_after: 0) is paced by nothing else, and is charged.
func TestRetryBudgetAnd429(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, body string
		statuses   []int // what the server got
	}{
		{"a pause: not charged", `{"error":"Rate limit exceeded","retry_after":60}`, []int{429, 503}},
		{"no pause: charged", `{"error":"Rate limit exceeded","retry_after":0}`, []int{429}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newScripted(t, reply(429, tt.body), reply(503, ""), reply(200, "ok"))
			tr := budgetTransport(srv.Client().Transport, NewRetryBudget(0, 0))
			req, _ := http.NewRequestWithContext(context.Background(), "GET", srv.URL+"/api/v1/public/recordings", nil)
			resp, err := tr.RoundTrip(req)
			require.NoError(t, err)
			readAll(t, resp)
			assert.Equal(t, tt.statuses[len(tt.statuses)-1], resp.StatusCode)
			assert.Len(t, srv.got(), len(tt.statuses))
		})
	}
}

// TestRetryBudgetShared: one budget across two Transports of one account.
func TestRetryBudgetShared(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(503, ""))
	budget := NewRetryBudget(0.5, 0)
	a := budgetTransport(srv.Client().Transport, budget)
	b := budgetTransport(srv.Client().Transport, budget)
	for range 4 {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/public/recordings", nil)
		resp, err := a.RoundTrip(req)
		require.NoError(t, err)
		readAll(t, resp)
	}
	before := len(srv.got())
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/public/recordings", nil)
	resp, err := b.RoundTrip(req)
	require.NoError(t, err)
	readAll(t, resp)
	assert.Equal(t, 1, len(srv.got())-before, "a's retries spent the budget b shares")
}

// TestRetryBudgetRefundsARetryAnObserverStopped: a retry that is not sent
// because an observer panicked gives its charge back (review: it kept it).
func TestRetryBudgetRefundsARetryAnObserverStopped(t *testing.T) {
	var sent atomic.Int64
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		return stubRT{status: 503, body: stringBody(`{"error":"Service unavailable"}`)}.RoundTrip(r)
	})
	tr := budgetTransport(base, NewRetryBudget(0, 1))
	var panicking atomic.Bool
	panicking.Store(true)
	tr.observers = append(tr.observers, func(a Attempt) {
		if a.RetryIn > 0 && panicking.Load() {
			panic("observer")
		}
	})
	func() {
		defer func() { require.NotNil(t, recover(), "the observer's panic reaches the caller") }()
		tr.RoundTrip(mustRequest(t, "GET", "http://h/api/v1/public/recordings"))
	}()
	require.EqualValues(t, 1, sent.Load(), "the retry was not sent")

	panicking.Store(false)
	sent.Store(0)
	resp, err := tr.RoundTrip(mustRequest(t, "GET", "http://h/api/v1/public/recordings"))
	require.NoError(t, err)
	readAll(t, resp)
	assert.EqualValues(t, 2, sent.Load(), "the retry not sent kept its charge: this call's retry was refused")
}
