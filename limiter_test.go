package idctrace

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// virtual returns a limiter whose clock stands still at the returned
// offset until the test moves it.
func virtual(n int, per time.Duration) (*limiter, *time.Duration) {
	var now time.Duration
	l := NewLimiter(n, per).(*limiter)
	l.clock = func() time.Duration { return now }
	return l, &now
}

func TestNewLimiterRejectsNoQuota(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n    int
		per  time.Duration
		want string
	}{
		{0, time.Second, "idctrace: NewLimiter: n must be positive"},
		{-1, time.Second, "idctrace: NewLimiter: n must be positive"},
		{1, 0, "idctrace: NewLimiter: per must be positive"},
		{1, -time.Second, "idctrace: NewLimiter: per must be positive"},
	} {
		assert.PanicsWithValue(t, tc.want, func() { NewLimiter(tc.n, tc.per) }, "NewLimiter(%d, %v)", tc.n, tc.per)
	}
}

func TestSpacingKeepsTheMargin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n    int
		per  time.Duration
		want time.Duration
	}{
		{20, time.Second, 52500 * time.Microsecond},
		{60, time.Minute, 1050 * time.Millisecond},
		{300, time.Minute, 210 * time.Millisecond},
		{3, time.Second, 350 * time.Millisecond},
		{7, time.Second, 150 * time.Millisecond},
		{1, time.Second, 1050 * time.Millisecond},
		{math.MaxInt, time.Second, time.Nanosecond},                   // never 0: that would mean no limit
		{2, math.MaxInt64, math.MaxInt64/2 + 1},                       // no overflow
		{1_000_003, time.Second, 1050*time.Millisecond/1_000_003 + 1}, // rounded up
	} {
		got := spacing(tc.n, tc.per)
		assert.Equal(t, tc.want, got, "spacing(%d, %v)", tc.n, tc.per)
		if tc.per < math.MaxInt64/2 {
			assert.GreaterOrEqual(t, got*time.Duration(tc.n), tc.per+tc.per/20, "n slots span the window and its margin")
		}
	}
}

func TestLimiterNeverMoreThanNInAnyWindow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n   int
		per time.Duration
	}{{1, time.Second}, {5, 100 * time.Millisecond}, {20, time.Second}, {60, time.Minute}, {7, 13 * time.Millisecond}} {
		l, now := virtual(tc.n, tc.per)
		var slots []time.Duration
		for i := range 10 * tc.n {
			if i%3 == 0 { // callers come faster than the quota, at uneven times
				*now += tc.per / time.Duration(7*tc.n)
			}
			slot, err := l.take(*now, noDeadline)
			require.NoError(t, err)
			slots = append(slots, slot)
		}
		most := maxInWindow(slots, tc.per)
		assert.LessOrEqual(t, most, tc.n, "NewLimiter(%d, %v): the most slots in a window", tc.n, tc.per)
		assert.GreaterOrEqual(t, most, tc.n*20/21, "NewLimiter(%d, %v): the margin is 5 %%, no more", tc.n, tc.per)
		assert.LessOrEqual(t, maxInWindow(slots, tc.per+tc.per/20), tc.n, "the margin holds too")
	}
}

// TestLimiterConcurrentWaiters: waiters in many goroutines are admitted
// one interval apart, never before their slot. The bubble's clock stands
// still while goroutines run, so each returns exactly at its slot.
func TestLimiterConcurrentWaiters(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const n, per = 4, 40 * time.Millisecond
		l := NewLimiter(n, per).(*limiter)
		var (
			mu    sync.Mutex
			slots []time.Duration
			wg    sync.WaitGroup
		)
		for range 8 {
			wg.Go(func() {
				for range 3 {
					assert.NoError(t, l.Wait(context.Background()))
					mu.Lock()
					slots = append(slots, time.Since(l.base))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		slices.Sort(slots)
		require.Len(t, slots, 24)
		assert.LessOrEqual(t, maxInWindow(slots, per), n)
		for i := 1; i < len(slots); i++ {
			assert.Equal(t, spacing(n, per), slots[i]-slots[i-1], "slots %d and %d", i-1, i)
		}
	})
}

// TestLimiterCancelledWaitersGiveTheirSlotsBack: 200 waiters without a
// deadline (an HTTP handler's context) are cancelled in random order; the
// next waiter, whose deadline is one interval away, is admitted, and the
// ones after it are paced as before.
func TestLimiterCancelledWaitersGiveTheirSlotsBack(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := NewLimiter(10, time.Second).(*limiter)
		interval := spacing(10, time.Second)
		require.NoError(t, l.Wait(context.Background()), "the first slot is free")
		cancels := make([]context.CancelFunc, 200)
		errs := make(chan error, len(cancels))
		for i := range cancels {
			ctx, cancel := context.WithCancel(context.Background())
			cancels[i] = cancel
			go func() { errs <- l.Wait(ctx) }()
		}
		synctest.Wait() // every waiter holds a slot and sleeps
		for _, i := range rand.Perm(len(cancels)) {
			cancels[i]()
		}
		for range cancels {
			require.ErrorIs(t, <-errs, context.Canceled)
		}

		var slots []time.Duration
		for range 20 {
			ctx, cancel := context.WithTimeout(context.Background(), interval+time.Millisecond)
			require.NoError(t, l.Wait(ctx), "admitted within one interval, as if nobody had waited")
			cancel()
			slots = append(slots, time.Since(l.base))
		}
		assert.Equal(t, interval, slots[0], "the first free slot after the one taken at 0")
		for i := 1; i < len(slots); i++ {
			assert.Equal(t, interval, slots[i]-slots[i-1], "paced as before")
		}
	})
}

// TestLimiterSlotsGivenBackKeepTheQuota: waiters that leave before their
// slot, in any order, and waiters that come at any time: the slots used are
// never closer than an interval, so no window holds more than n.
func TestLimiterSlotsGivenBackKeepTheQuota(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	l, now := virtual(10, time.Second)
	interval := spacing(10, time.Second)
	var held, used []time.Duration
	for range 5000 {
		*now += time.Duration(rng.Int64N(int64(interval)))
		for len(held) > 0 && held[0] <= *now {
			used, held = append(used, held[0]), held[1:] // its slot came: sent
		}
		switch rng.IntN(3) {
		case 0:
			if len(held) > 0 { // a waiter leaves
				i := rng.IntN(len(held))
				l.giveBack(held[i])
				held = slices.Delete(held, i, i+1)
			}
		default:
			slot, err := l.take(*now, noDeadline)
			require.NoError(t, err)
			held = append(held, slot)
			slices.Sort(held)
		}
	}
	used = append(used, held...)
	slices.Sort(used)
	for i := 1; i < len(used); i++ {
		require.GreaterOrEqual(t, used[i]-used[i-1], interval, "slots %d and %d", i-1, i)
	}
	assert.LessOrEqual(t, maxInWindow(used, time.Second), 10)
}

func TestLimiterDeadlineBeforeSlotReturnsAtOnce(t *testing.T) {
	t.Parallel()
	l := NewLimiter(1, time.Hour)
	require.NoError(t, l.Wait(context.Background()), "the first slot is free")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := l.Wait(ctx)
	assert.ErrorIs(t, err, ErrLocalRateLimit)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	assert.NoError(t, ctx.Err(), "returned at once, not at the deadline")
	assert.Contains(t, err.Error(), "not sent")
}

func TestLimiterRejectedWaitTakesNoSlot(t *testing.T) {
	t.Parallel()
	l, now := virtual(2, time.Second) // a slot every 525 ms
	first, err := l.take(*now, noDeadline)
	require.NoError(t, err)
	_, err = l.take(*now, *now+100*time.Millisecond)
	require.ErrorIs(t, err, ErrLocalRateLimit)
	_, err = l.take(*now, *now+525*time.Millisecond)
	require.ErrorIs(t, err, ErrLocalRateLimit, "a slot at the deadline is too late")
	second, err := l.take(*now, *now+526*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, 525*time.Millisecond, second-first, "the rejected waiters left the slot free")
}

func TestLimiterWaitEndsWithItsContext(t *testing.T) {
	t.Parallel()
	l := NewLimiter(1, time.Hour)
	require.NoError(t, l.Wait(context.Background()))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Wait(ctx) }()
	time.Sleep(10 * time.Millisecond) // usually waiting by now; either way it must end
	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
		assert.NotErrorIs(t, err, ErrLocalRateLimit)
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after its context was cancelled")
	}

	free := NewLimiter(1, time.Hour)
	assert.ErrorIs(t, free.Wait(ctx), context.Canceled, "a done context is not admitted, free slot or not")
}

func TestLimiterPause(t *testing.T) {
	t.Parallel()
	l, now := virtual(10, time.Second)
	l.Pause(l.base.Add(10 * time.Second))
	l.Pause(l.base.Add(5 * time.Second)) // a pause never shrinks
	l.Pause(time.Time{})
	_, err := l.take(*now, 9*time.Second)
	assert.ErrorIs(t, err, ErrLocalRateLimit, "no slot inside the pause")
	slot, err := l.take(*now, noDeadline)
	require.NoError(t, err)
	assert.Equal(t, 10*time.Second, slot, "the first slot is the pause's end")
	next, _ := l.take(*now, noDeadline)
	assert.Equal(t, spacing(10, time.Second), next-slot, "paced after it")

	l.Pause(l.base.Add(math.MaxInt64)) // for ever: no slot, and no overflow
	_, err = l.take(*now, noDeadline)
	assert.ErrorIs(t, err, ErrLocalRateLimit)
}

func TestLimiterPauseSendsHeldSlotsBack(t *testing.T) {
	t.Parallel()
	l, now := virtual(10, time.Second) // a slot every 105 ms
	var held []time.Duration
	for range 4 {
		slot, _ := l.take(*now, noDeadline)
		held = append(held, slot)
	}
	l.Pause(l.base.Add(250 * time.Millisecond)) // a 429 while three waiters sleep
	for i, slot := range held[1:] {             // the first went at once
		*now = slot
		if slot < 250*time.Millisecond {
			assert.True(t, l.paused(), "slot %d falls in the pause", i)
			again, _ := l.take(*now, noDeadline)
			assert.GreaterOrEqual(t, again, 420*time.Millisecond, "taken again after the held ones")
		} else {
			assert.False(t, l.paused(), "slot %d comes after the pause", i)
		}
	}
}

func TestLimiterPauseHoldsWaiters(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := NewLimiter(1000, time.Second).(*limiter)
		end := time.Now().Add(60 * time.Millisecond)
		l.Pause(end)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				assert.NoError(t, l.Wait(context.Background()))
				assert.False(t, time.Now().Before(end), "returned inside the pause")
			})
		}
		wg.Wait()
	})
}

// TestLimiterAgainstFixedWindows is the limiter's purpose: a batch against
// a server that counts arrivals in fixed windows gets most of the quota and
// no 429, even when requests take uneven times to arrive.
func TestLimiterAgainstFixedWindows(t *testing.T) {
	t.Parallel()
	for _, s := range []simulation{
		{quota: 20, window: time.Second, workers: 16, length: 5 * time.Second, latency: 5 * time.Millisecond},
		{quota: 20, window: time.Second, workers: 16, length: 5 * time.Second, latency: 40 * time.Millisecond},
		{quota: 60, window: time.Minute, workers: 16, length: 10 * time.Minute, latency: time.Second},
		{quota: 300, window: time.Minute, workers: 4, length: 5 * time.Minute, latency: 300 * time.Millisecond},
		{quota: 5, window: 100 * time.Millisecond, workers: 32, length: 3 * time.Second, latency: 4 * time.Millisecond},
	} {
		l := NewLimiter(s.quota, s.window).(*limiter)
		res := s.run(l, l)
		quota := float64(s.quota) * s.length.Seconds() / s.window.Seconds()
		t.Logf("%d per %v, %d workers, latency ≤ %v: %d sent, %d ok (%.1f %% of the quota), %d answered 429",
			s.quota, s.window, s.workers, s.latency, res.sent, res.ok, 100*float64(res.ok)/quota, res.tooMany)
		assert.Zero(t, res.tooMany, "%+v", s)
		assert.GreaterOrEqual(t, float64(res.ok), 0.85*quota, "%+v", s)
		assert.LessOrEqual(t, maxInWindow(res.slots, s.window), s.quota)
	}
}

// BenchmarkLimiterWait measures Wait with a free slot, next to the one
// clock reading it makes (the clock alone): on a virtual machine the clock
// is most of the cost.
func BenchmarkLimiterWait(b *testing.B) {
	b.Run("clock alone", func(b *testing.B) {
		base := time.Now()
		var d time.Duration
		for b.Loop() {
			d += time.Since(base)
		}
		runtime.KeepAlive(d)
	})
	ctx := context.Background()
	deadline, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	for _, bc := range []struct {
		name string
		l    Limiter
		ctx  context.Context
	}{
		{"free slot", NewLimiter(math.MaxInt, time.Second), ctx},
		{"free slot, deadline", NewLimiter(math.MaxInt, time.Second), deadline},
		{"no quota", newLimiter(), ctx},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.l.Wait(bc.ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestLimiterFreeSlotAllocatesNothing(t *testing.T) {
	l := NewLimiter(math.MaxInt, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	allocs := testing.AllocsPerRun(100, func() {
		if err := l.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

// TestSpacingRoundsUp: spacing is the ceiling of span/n, for quotas small
// and large and for spans that n divides and does not.
func TestSpacingRoundsUp(t *testing.T) {
	t.Parallel()
	for _, per := range []time.Duration{1, 19, 20, 21, time.Second, time.Minute, math.MaxInt64 / 21 * 20, math.MaxInt64} {
		for _, n := range []int{1, 2, 3, 7, 20, 21, 60, 300, 1_000_003, math.MaxInt} {
			span := per + per/marginDiv
			if span < per {
				span = math.MaxInt64
			}
			want := span / time.Duration(n)
			if span%time.Duration(n) != 0 {
				want++
			}
			assert.Equal(t, want, spacing(n, per), "spacing(%d, %v)", n, per)
		}
	}
}
