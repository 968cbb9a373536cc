package idctrace

import (
	"cmp"
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ErrLocalRateLimit reports a request that was not sent: its [Limiter] had
// no slot for it before its context's deadline. The client held it back; the
// server never saw it.
var ErrLocalRateLimit = errors.New("idctrace: not sent: no rate-limit slot before the deadline")

// A Limiter admits requests under a quota shared by everything that holds it.
type Limiter interface {
	// Wait blocks until a request may be sent. It returns an error at once when ctx
	// ends first, or when no slot comes before ctx's deadline.
	Wait(ctx context.Context) error
	// Pause admits nothing until t: the server answered 429 and asked to wait until t.
	Pause(t time.Time)
}

// marginDiv sets the margin a limiter keeps below its quota: slots are
// per·(1+1/marginDiv)/n apart. The server's window starts when a request
// arrives, not when the client sends it, so a request that arrives late by
// up to per/marginDiv relative to the one n slots before it still lands in
// a new window instead of overflowing the old one.
const marginDiv = 20

// NewLimiter returns an in-process [Limiter] that never admits more than n
// requests in any window of length per. It paces them evenly, one slot
// every per/n plus a margin of 5 % (57 a minute for NewLimiter(60,
// time.Minute)), so a batch never bursts into the server's window. A
// waiter takes the next free slot in turn; when that slot comes after its
// context's deadline, Wait returns [ErrLocalRateLimit] at once, without
// taking it, and a waiter whose context ends gives its slot back. The
// limiter runs no goroutine and is safe for concurrent use; share one value
// among everything that spends the same quota.
//
// NewLimiter panics when n or per is not positive: a quota of nothing is a
// mistake, not a setting.
func NewLimiter(n int, per time.Duration) Limiter {
	if n <= 0 {
		panic("idctrace: NewLimiter: n must be positive")
	}
	if per <= 0 {
		panic("idctrace: NewLimiter: per must be positive")
	}
	l := newLimiter()
	l.interval = spacing(n, per)
	return l
}

// spacing returns the time between slots that fits n in per with the
// margin, rounded up so that n slots never span less than per.
func spacing(n int, per time.Duration) time.Duration {
	span := per + per/marginDiv
	if span < per {
		span = math.MaxInt64
	}
	return (span-1)/time.Duration(n) + 1 // rounded up: span ≥ per > 0
}

// limiter is GCRA with a burst of one: next is the earliest slot nobody has
// taken, and each Wait takes max(now, next, until) and moves next one
// interval on. Taking a slot in the future is a reservation, so the waiter
// knows at once whether it comes before its deadline. A waiter that leaves
// before its slot puts it in free, where the next Wait takes it first.
//
// With an interval of 0 it knows no quota and only pauses: the limiter of
// a Transport that retries without one of its own.
//
// Times are offsets from base on the monotonic clock.
type limiter struct {
	base  time.Time
	clock func() time.Duration // the time since base

	mu       sync.Mutex
	interval time.Duration   // between slots; 0 admits every request at once
	next     time.Duration   // the earliest slot not taken
	until    atomic.Int64    // the end of the latest pause, a time.Duration; written under mu
	free     []time.Duration // slots given back, in order
}

// noDeadline is the deadline of a context without one.
const noDeadline = time.Duration(math.MaxInt64)

func newLimiter() *limiter {
	l := &limiter{base: time.Now()}
	l.clock = func() time.Duration { return time.Since(l.base) }
	return l
}

// Wait blocks until the caller's slot, or returns ErrLocalRateLimit at once
// when that slot comes after ctx's deadline, or ctx's error when ctx ends
// while it waits.
func (l *limiter) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	deadline := noDeadline
	if d, ok := ctx.Deadline(); ok {
		deadline = d.Sub(l.base)
	}
	for {
		now := l.clock()
		slot, err := l.take(now, deadline)
		if err != nil || slot <= now {
			return err
		}
		if err := sleepContext(ctx, slot-now); err != nil {
			l.giveBack(slot)
			return err
		}
		if !l.paused() {
			return nil
		}
	}
}

// idle reports whether l would admit at once: it knows no quota, and no
// pause holds. A Transport that retries without a quota of its own skips
// Wait then, on every call but those a 429 paused.
func (l *limiter) idle() bool {
	u := time.Duration(l.until.Load())
	return l.interval == 0 && (u == 0 || l.clock() >= u)
}

// take reserves the earliest free slot at or after now, unless it would
// come at or after deadline.
func (l *limiter) take(now, deadline time.Duration) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	earliest := max(now, time.Duration(l.until.Load()))
	// A slot given back is free until it is due: taken at any later time,
	// it would come closer than an interval to the slot after it.
	i, _ := slices.BinarySearch(l.free, earliest)
	l.free = l.free[i:]
	slot := max(earliest, l.next)
	if len(l.free) > 0 {
		slot = l.free[0] // one given back is taken first
	}
	if slot >= deadline {
		return 0, ErrLocalRateLimit
	}
	switch {
	case len(l.free) > 0:
		l.free = l.free[1:]
	case l.interval > 0:
		l.next = slot + min(l.interval, noDeadline-slot) // a pause for ever saturates
	}
	return slot, nil
}

// giveBack frees slot, taken by a waiter that left before it came.
func (l *limiter) giveBack(slot time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.interval == 0:
	case slot+l.interval == l.next:
		l.next = slot // the last one taken: as if it never was
	default:
		i, _ := slices.BinarySearch(l.free, slot)
		l.free = slices.Insert(l.free, i, slot)
	}
}

// paused reports whether a pause holds now: one that began while a waiter
// slept sends it back to take a slot after the pause.
func (l *limiter) paused() bool {
	return l.clock() < time.Duration(l.until.Load())
}

// Pause admits nothing before t. A pause only ever grows: a t before the
// current pause's end changes nothing.
func (l *limiter) Pause(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.until.Store(max(l.until.Load(), int64(t.Sub(l.base))))
}

// pause holds every caller of the limiter after the 429 r: until the wait
// it asks for ends (its retry_after, or a minute when it says nothing,
// capped at the retry policy's MaxDelay, or a minute without one), or until
// its retry, after retryIn, when that comes later: a retry never finds its
// window spent by calls that came after it.
func (t *Transport) pause(r *record, retryIn time.Duration) {
	if t.limiter == nil {
		return
	}
	d := defaultRateLimitWait
	if r.hasRetry {
		d = r.waitHint
	}
	maxDelay := cmp.Or(t.retry.MaxDelay, time.Minute) // WithRetry leaves it 0 or positive
	// The limiter's clock, not the Transport's seam:
	t.limiter.Pause(time.Now().Add(max(min(d, maxDelay), retryIn)))
}
