package idcredis

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/identitycall/idctrace"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestNewLimiterRejectsBadArguments(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	for _, tc := range []struct {
		rdb  redis.UniversalClient
		key  string
		n    int
		per  time.Duration
		want string
	}{
		{nil, "k", 1, time.Second, "idcredis: NewLimiter: nil Redis client"},
		{rdb, "", 1, time.Second, "idcredis: NewLimiter: empty key"},
		{rdb, "k", 0, time.Second, "idcredis: NewLimiter: n must be positive"},
		{rdb, "k", 1, -time.Second, "idcredis: NewLimiter: per must be positive"},
	} {
		assert.PanicsWithValue(t, tc.want, func() { NewLimiter(tc.rdb, tc.key, tc.n, tc.per) })
	}
}

func TestSpacing(t *testing.T) {
	t.Parallel()
	assert.Equal(t, int64(52500), spacing(20, time.Second))
	assert.Equal(t, int64(1050000), spacing(60, time.Minute))
	assert.Equal(t, int64(350000), spacing(3, time.Second))
	assert.Equal(t, int64(1), spacing(1<<40, time.Second), "never 0: that would mean no limit")
}

// TestLimiterAtMostNInAnyWindow: three processes (clients), three callers
// each, on one key: the slots Redis admitted them at, all together, never
// hold more than n in a window of length per, and no caller returned
// before its slot.
func TestLimiterAtMostNInAnyWindow(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	const n, per = 4, 400 * time.Millisecond
	var (
		mu    sync.Mutex
		slots []time.Time
		wg    sync.WaitGroup
	)
	for range 3 {
		l := patient(NewLimiter(srv.client(t), "quota:window", n, per))
		for range 3 {
			wg.Go(func() {
				for range 2 {
					slot, err := l.wait(context.Background())
					if !assert.NoError(t, err) {
						return
					}
					assert.False(t, time.Now().Before(slot), "returned before its slot") // one machine, one clock
					mu.Lock()
					slots = append(slots, slot)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	require.Len(t, slots, 18)
	slices.SortFunc(slots, func(a, b time.Time) int { return a.Compare(b) })
	interval := per/n + per/n/20
	closest := time.Duration(math.MaxInt64)
	for i := 1; i < len(slots); i++ {
		closest = min(closest, slots[i].Sub(slots[i-1]))
	}
	most := maxInWindow(slots, per)
	t.Logf("%d admitted in %v, at most %d in a window of %v", len(slots), slots[len(slots)-1].Sub(slots[0]), most, per)
	assert.LessOrEqual(t, most, n)
	assert.Equal(t, interval, closest, "queued callers go one interval apart: the pace is the quota's, less 5 %")
}

// maxInWindow returns the most of the sorted times in any window of
// length per.
func maxInWindow(times []time.Time, per time.Duration) int {
	most, j := 0, 0
	for i := range times {
		for times[i].Sub(times[j]) >= per {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

func TestLimiterPauseIsShared(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	a := patient(NewLimiter(srv.client(t), "quota:pause", 10, time.Second))
	b := patient(NewLimiter(srv.client(t), "quota:pause", 10, time.Second))

	end := time.Now().Add(300 * time.Millisecond)
	<-a.pause(end).done // Pause does not wait for Redis; the test does
	require.NoError(t, b.Wait(context.Background()))
	assert.False(t, time.Now().Before(end), "b was admitted inside a's pause")

	end = time.Now().Add(time.Minute)
	<-a.pause(end).done
	<-a.pause(time.Now().Add(time.Second)).done // a pause never shrinks
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()
	err := b.Wait(ctx)
	assert.ErrorIs(t, err, idctrace.ErrLocalRateLimit, "no slot before the deadline")
	assert.True(t, time.Now().Before(deadline), "returned at once, not at the deadline")
}

// TestLimiterPauseSendsWaitersBack: callers holding slots when another
// process pauses the key go after the pause, still one slot apart.
func TestLimiterPauseSendsWaitersBack(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	waiters := patient(NewLimiter(srv.client(t), "quota:held", 10, time.Second)) // a slot every 105 ms
	other := patient(NewLimiter(srv.client(t), "quota:held", 10, time.Second))
	type admission struct{ slot, returned time.Time }
	var (
		mu       sync.Mutex
		admitted []admission
		wg       sync.WaitGroup
	)
	for range 5 {
		wg.Go(func() {
			slot, err := waiters.wait(context.Background())
			returned := time.Now()
			assert.NoError(t, err)
			assert.False(t, returned.Before(slot), "returned before its slot")
			mu.Lock()
			admitted = append(admitted, admission{slot, returned})
			mu.Unlock()
		})
	}
	time.Sleep(20 * time.Millisecond) // usually four hold slots by now; either way the checks hold
	end := time.Now().Add(400 * time.Millisecond)
	<-other.pause(end).done // Pause does not wait for Redis; the test does
	paused := time.Now()
	wg.Wait()
	slices.SortFunc(admitted, func(a, b admission) int { return a.slot.Compare(b.slot) })
	for i, a := range admitted {
		// A slot taken before the pause may go before it; one after the
		// pause began goes after its end (a waiter that woke late after
		// the end goes with the slot it held).
		assert.True(t, a.slot.Before(paused) || !a.returned.Before(end), "admitted inside the pause (%v to %v): %+v", paused, end, a)
		if i > 0 {
			assert.GreaterOrEqual(t, a.slot.Sub(admitted[i-1].slot), 105*time.Millisecond, "paced")
		}
	}
}

func TestLimiterDeadlineBeforeSlot(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	l := patient(NewLimiter(srv.client(t), "quota:deadline", 1, 2*time.Second)) // a slot every 2.1 s
	first, err := l.wait(context.Background())
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = l.wait(ctx)
	assert.ErrorIs(t, err, idctrace.ErrLocalRateLimit, "returned at once: waiting would have ended with the context's error")

	second, err := l.wait(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 2100*time.Millisecond, second.Sub(first), "the refused caller took no slot")
}

func TestLimiterWaitEndsWithItsContext(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	l := patient(NewLimiter(srv.client(t), "quota:cancel", 1, time.Hour))
	require.NoError(t, l.Wait(context.Background()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Wait(ctx) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after its context was cancelled")
	}
}

// TestLimiterStoreDown: when Redis stops, Wait gives up within 2 s with the
// store's error, which is not ErrLocalRateLimit, so a Transport fails open;
// a pause still holds in the process that was asked for it. It measures
// time, so it runs alone.
func TestLimiterStoreDown(t *testing.T) {
	srv := startRedis(t)
	l := patient(NewLimiter(srv.client(t), "quota:down", 100, time.Second))
	require.NoError(t, l.Wait(context.Background()))
	l.timeout = storeTimeout // what the test measures
	srv.stop()

	for i, ctx := range []context.Context{context.Background(), t.Context()} {
		start := time.Now()
		err := l.Wait(ctx)
		took := time.Since(start)
		t.Logf("after %v: %v", took, err)
		assert.Error(t, err)
		assert.NotErrorIs(t, err, idctrace.ErrLocalRateLimit)
		assert.False(t, errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled), "the store's error, not the caller's")
		assert.Less(t, took, 2*time.Second)
		if i > 0 {
			assert.Less(t, took, 100*time.Millisecond, "a store that just failed is not asked again")
		}
	}

	start := time.Now()
	end := start.Add(200 * time.Millisecond)
	l.Pause(end)
	assert.Less(t, time.Since(start), 100*time.Millisecond, "Pause does not ask a store that just failed")
	assert.Error(t, l.Wait(context.Background()))
	assert.False(t, time.Now().Before(end), "the pause held in this process")
}

func TestLimiterStoreNeverReached(t *testing.T) { // it measures time, so it runs alone
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // nothing listens on port 1
	defer rdb.Close()
	l := NewLimiter(rdb, "quota:nowhere", 10, time.Second)
	start := time.Now()
	err := l.Wait(context.Background())
	assert.Error(t, err)
	assert.NotErrorIs(t, err, idctrace.ErrLocalRateLimit)
	assert.Less(t, time.Since(start), 2*time.Second)
}

// TestFailOpenWarningHoldsNoRedisPassword: a common mistake, a
// Redis URL given as Addr, makes go-redis's dial error quote the address,
// password included; idcredis wraps it ("idcredis: Redis: ..."), and the
// Transport writes it in its fail-open warning through redact.Text, which
// does not know URL passwords. The password is then in the service's logs
// once a minute for as long as the store is "down".
func TestFailOpenWarningHoldsNoRedisPassword(t *testing.T) {
	t.Parallel()
	const password = "Sup3rS3cretRedisPass"
	rdb := redis.NewClient(&redis.Options{Addr: "redis://default:" + password + "@127.0.0.1:1", MaxRetries: -1})
	defer rdb.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	core, logs := observer.New(zap.DebugLevel)
	tr := idctrace.New(srv.Client().Transport, zap.New(core), idctrace.WithLimiter(NewLimiter(rdb, "quota", 60, time.Minute)))
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest("GET", srv.URL+"/api/v1/public/recordings", nil)
	require.NoError(t, err)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err, "sent anyway: the limiter fails open")
	resp.Body.Close()
	warnings := logs.FilterMessage("identitycall rate limiter unavailable; pacing locally").All()
	require.Len(t, warnings, 1)
	t.Logf("warning: %v", warnings[0].ContextMap()["error"])
	assert.NotContains(t, warnings[0].ContextMap()["error"], password)
}

// TestCancelledWaitersCostOneSlotEach checks NewLimiter's doc: a cancelled
// waiter costs the fleet at most its one slot. Twenty waiters without
// deadlines (an HTTP handler's r.Context()) queue on a quota of one a
// minute and are cancelled; the next slot comes 21 intervals after the
// first, no later.
func TestCancelledWaitersCostOneSlotEach(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	rdb := srv.client(t)
	l := patient(NewLimiter(rdb, "quota:cancelled", 1, time.Minute))
	interval := time.Duration(l.interval) * time.Microsecond
	first, err := l.wait(context.Background())
	require.NoError(t, err)

	const waiters = 20
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range waiters {
		wg.Go(func() { assert.ErrorIs(t, l.Wait(ctx), context.Canceled) })
	}
	queued := strconv.FormatInt(first.Add((waiters+1)*interval).UnixMicro(), 10)
	require.Eventually(t, func() bool { return rdb.HGet(ctx, "quota:cancelled", "next").Val() == queued },
		10*time.Second, time.Millisecond, "every waiter took its slot")
	cancel()
	wg.Wait()

	_, slot, err := l.reserve(context.Background(), -1, false)
	require.NoError(t, err)
	t.Logf("the next slot comes %v after the first", slot.Sub(first))
	assert.LessOrEqual(t, slot.Sub(first), (waiters+1)*interval)
}
