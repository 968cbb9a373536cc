package idcredis

import (
	"cmp"
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/identitycall/idctrace"
	"github.com/redis/go-redis/v9"
)

// NewLimiter returns an [idctrace.Limiter] that never admits more than n
// requests in any window of length per, counted together by every Limiter
// of every process that uses the same Redis key. It paces them evenly,
// one slot every per/n plus a margin of 5 %, as [idctrace.NewLimiter] does:
// GCRA with a burst of one, so the promise holds for any window, not only
// for windows aligned on per. A waiter takes the next free slot in Redis in
// turn; when that slot comes after its context's deadline, or more than a
// day ahead, Wait returns [idctrace.ErrLocalRateLimit] at once, without
// taking it. A waiter whose context ends after it took its slot leaves
// that slot unused (Redis cannot hand it to the waiters queued after it):
// a cancelled waiter costs the fleet at most its one slot.
//
// Pause is shared too: it records the pause's end under the key (as a time
// relative to Redis's clock, so the machines' clocks need not agree), and
// every Limiter on the key admits nothing before it. The pause also holds
// in this process when Redis cannot be reached.
//
// Redis never holds a caller past its context's deadline, and each call to
// Redis is given up after a second, whatever the client's options; Pause
// does not wait for Redis at all. While Redis fails (it does not answer
// within that second, answers an error, or the key holds another type,
// which is never overwritten), each process paces itself: Wait waits on a
// local [idctrace.NewLimiter] at the same quota, then returns the store's
// error, so that an [idctrace.Transport] sends the request anyway, at the
// quota rather than unpaced. A failed store is asked again after a second,
// and not before every call given up has returned. Such a call runs until
// the client's own timeouts end it (go-redis's ReadTimeout, 5 s by default;
// at once with ContextTimeoutEnabled).
//
// The key holds a hash that expires a second after its last slot or pause
// ends; a value in it that cannot be right is overwritten at the next
// call. NewLimiter panics on a nil client, an empty key, or an n or per
// that is not positive.
func NewLimiter(rdb redis.UniversalClient, key string, n int, per time.Duration) idctrace.Limiter {
	switch {
	case rdb == nil:
		panic("idcredis: NewLimiter: nil Redis client")
	case key == "":
		panic("idcredis: NewLimiter: empty key")
	case n <= 0:
		panic("idcredis: NewLimiter: n must be positive")
	case per <= 0:
		panic("idcredis: NewLimiter: per must be positive")
	}
	return &limiter{rdb: rdb, key: key, interval: spacing(n, per), timeout: storeTimeout, local: idctrace.NewLimiter(n, per)}
}

// spacing is idctrace's: the time between slots that fits n in per with a
// 5 % margin, rounded up to whole microseconds, Redis's TIME resolution.
func spacing(n int, per time.Duration) int64 {
	span := per.Microseconds() + per.Microseconds()/20
	if span < per.Microseconds() {
		span = math.MaxInt64
	}
	d := span / int64(n)
	if span%int64(n) != 0 || d == 0 {
		d++
	}
	return d
}

type limiter struct {
	rdb      redis.UniversalClient
	key      string
	interval int64            // microseconds between slots
	timeout  time.Duration    // for each call to Redis
	local    idctrace.Limiter // paces this process while Redis fails

	mu      sync.Mutex
	until   time.Time // this process's copy of the latest pause
	down    time.Time // until then, Redis is not asked
	downErr error     // why Redis failed; nil once it answers
	lost    int       // calls given up at the bound that still run
}

// Wait takes the next slot in Redis and sleeps until it comes; a pause that
// began meanwhile sends it back for a slot after the pause.
func (l *limiter) Wait(ctx context.Context) error {
	_, err := l.wait(ctx)
	return err
}

// wait is Wait that also returns the slot, on Redis's clock, the request
// was admitted at (none when Redis failed).
func (l *limiter) wait(ctx context.Context) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	deadline, hasDeadline := ctx.Deadline()
	var held time.Time // the slot taken, while its caller sleeps
	for {
		paused, err := l.localPause(ctx, deadline, hasDeadline)
		if err != nil {
			return time.Time{}, err
		}
		if paused {
			held = time.Time{} // a slot taken before the pause is void
		}
		maxWait := int64(-1)
		if hasDeadline {
			maxWait = max(0, time.Until(deadline).Microseconds())
		}
		wait, slot, err := l.reserve(ctx, maxWait, !held.IsZero())
		switch {
		case ctx.Err() != nil:
			return time.Time{}, ctx.Err()
		case errors.Is(err, idctrace.ErrLocalRateLimit):
			return time.Time{}, err
		case err != nil: // the store's: the caller fails open, at the local limiter's pace
			return time.Time{}, cmp.Or(l.local.Wait(ctx), err)
		case slot.IsZero():
			return held, nil // its slot has come, and no pause began
		case wait == 0:
			return slot, nil
		case hasDeadline && !time.Now().Add(wait).Before(deadline):
			return time.Time{}, idctrace.ErrLocalRateLimit // the answer was slow enough to make the slot late
		}
		if err := sleep(ctx, wait); err != nil {
			return time.Time{}, err
		}
		held = slot
	}
}

// localPause sleeps out this process's copy of a pause, and reports whether
// there was one.
func (l *limiter) localPause(ctx context.Context, deadline time.Time, hasDeadline bool) (bool, error) {
	l.mu.Lock()
	until := l.until
	l.mu.Unlock()
	wait := time.Until(until)
	if wait <= 0 {
		return false, nil
	}
	if hasDeadline && !until.Before(deadline) {
		return false, idctrace.ErrLocalRateLimit
	}
	return true, sleep(ctx, wait)
}

// reserve runs reserveScript: the slot it took and the wait until it, or,
// when recheck finds no pause, a zero slot: the caller's has come.
func (l *limiter) reserve(ctx context.Context, maxWait int64, recheck bool) (time.Duration, time.Time, error) {
	flag := 0
	if recheck {
		flag = 1
	}
	v, err := l.run(ctx, reserveScript, l.interval, maxWait, flag)
	switch {
	case err != nil:
		return 0, time.Time{}, err
	case v[0] == noSlot:
		return 0, time.Time{}, idctrace.ErrLocalRateLimit
	case v[0] < 0 || v[0] > horizonMicros:
		return 0, time.Time{}, errors.New("idcredis: Redis answered a wait that cannot be right")
	case v[1] == 0:
		return 0, time.Time{}, nil
	}
	return time.Duration(v[0]) * time.Microsecond, time.UnixMicro(v[1]), nil
}

// Pause admits nothing before t, here at once and, through Redis, in every
// Limiter on the key as soon as Redis has recorded it: the caller does not
// wait for Redis. A t before the current pause's end changes nothing.
func (l *limiter) Pause(t time.Time) {
	l.pause(t)
}

// pause is Pause that returns the call recording it in Redis, or nil.
func (l *limiter) pause(t time.Time) *call {
	l.mu.Lock()
	if t.After(l.until) {
		l.until = t
	}
	l.mu.Unlock()
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	return l.start(context.Background(), pauseScript, l.interval, (d+time.Microsecond-1)/time.Microsecond)
}

// sleep waits d or until ctx ends, and stops its timer either way.
func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
