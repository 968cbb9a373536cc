package idctrace

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"
)

// learnLimiter is the Limiter of a Transport that retries without one of
// its own: it knows no quota, so it admits every request at once until the
// server answers 429. It then pauses until the 429's retry_after, and paces
// from then on to the quota the overflow showed: as many requests as got an
// answer other than 429 in the cycle that overflowed, in the time from that
// cycle's first answer to the end of the pause. That time is the server's
// window or longer (a retry_after is rounded up), less one round trip, so
// the pace stays under the quota and the next window does not overflow. A
// later overflow (another client spending the same account) teaches a
// slower pace; nothing teaches a faster one.
//
// The Transport drives it as follows, and it is only correct so:
//
//   - Wait(ctx) before every attempt, as any [Limiter];
//   - answered(status, at) for every response an attempt got, whatever its
//     status, 429 included, at the time the response arrived (the time the
//     attempt was sent works as well); nothing for an attempt that got no
//     response;
//   - for a 429, answered first, then Pause(t) with t the time the response
//     arrived plus its retry_after capped at the retry policy's MaxDelay,
//     as for any Limiter.
//
// The Transport finds answered by a type assertion, so a Limiter of the
// caller's (WithLimiter) is never asked to learn.
type learnLimiter struct {
	limiter

	// Until the first 429 or pause there is nothing to wait for, and
	// answers are counted with atomics, not l.mu: the path of every
	// success of a Transport that retries.
	quiet      atomic.Bool
	quietOK    atomic.Int64 // answers counted while quiet
	quietStart atomic.Int64 // the earliest of them, as an offset from base plus 1; 0: none

	cur   cycle         // answers since the last pause ended, over learnSpan at most
	last  cycle         // the latest cycle that overflowed with some success
	floor time.Duration // the pace before last: learning last never goes faster
}

// learnSpan bounds a cycle: the longest window the API documents (60 or
// 300 a minute). An answer more than that after a cycle's start starts a
// new one, so that an overflow is never learnt from older history, such as
// a call at startup and a batch a day later.
const learnSpan = time.Minute

// cycle holds the answers to the requests one server window took: the
// first came at start, ok of them were other than 429, and end is the end
// of the pause the overflow asked for (zero until that Pause).
type cycle struct {
	start, end time.Duration // offsets from base; end is 0 until known
	ok         int
}

// newPauser returns the Limiter of a Transport that retries without one of
// its own.
func newPauser() *learnLimiter {
	l := &learnLimiter{limiter: limiter{base: time.Now()}}
	l.clock = func() time.Duration { return time.Since(l.base) }
	l.quiet.Store(true)
	return l
}

// Wait admits at once while no 429 has been seen; then as the limiter does.
func (l *learnLimiter) Wait(ctx context.Context) error {
	_, err := l.waitQueued(ctx)
	return err
}

func (l *learnLimiter) waitQueued(ctx context.Context) (time.Duration, error) {
	if l.quiet.Load() {
		return 0, ctx.Err()
	}
	return l.limiter.waitQueued(ctx)
}

// answered counts a response with status that arrived at at.
func (l *learnLimiter) answered(status int, at time.Time) {
	if status != http.StatusTooManyRequests && l.quiet.Load() {
		l.countQuietly(int64(at.Sub(l.base)) + 1)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.wake()
	l.count(at.Sub(l.base), status)
}

// countQuietly counts an answer sent at off (plus one) while quiet: the
// earliest start wins, and an answer more than learnSpan after the start
// begins the count anew. Races may lose an answer; the quota is learnt from
// many.
func (l *learnLimiter) countQuietly(off int64) {
	for {
		s := l.quietStart.Load()
		switch {
		case s == 0 || off < s && time.Duration(s-off) <= learnSpan:
			if !l.quietStart.CompareAndSwap(s, off) {
				continue
			}
		case time.Duration(off-s) > learnSpan:
			if !l.quietStart.CompareAndSwap(s, off) {
				continue
			}
			l.quietOK.Store(0)
		}
		l.quietOK.Add(1)
		return
	}
}

// wake ends the quiet start: the answers counted without the lock become
// the current cycle. An answer counted in the instant it ends may be lost:
// the quota is learnt from many. The caller holds l.mu.
func (l *learnLimiter) wake() {
	if !l.quiet.Swap(false) {
		return
	}
	if n := l.quietOK.Load(); n > 0 {
		l.cur = cycle{start: time.Duration(l.quietStart.Load() - 1), ok: int(n)}
	}
}

func (l *learnLimiter) count(at time.Duration, status int) {
	// Between an overflow's first 429 and its Pause (the Transport reads
	// the 429's body first), answers still come from the full window.
	closing := l.last.ok > 0 && l.last.end == 0
	if at >= l.until && !closing {
		// After the last pause ended: the current cycle's.
		if status == http.StatusTooManyRequests {
			if l.cur.ok > 0 {
				l.last, l.floor = l.cur, l.interval
			}
			l.cur = cycle{}
			return
		}
		l.cur.add(at)
		return
	}
	// The overflowed cycle's, sent before its pause and answered after its
	// first 429; an answer sent after the cycle's pause belongs to no cycle.
	if status != http.StatusTooManyRequests && l.last.ok > 0 && (closing || at < l.last.end) {
		l.last.add(at)
		l.learn()
	}
}

func (c *cycle) add(at time.Duration) {
	switch {
	case c.ok > 0 && at-c.start > learnSpan:
		*c = cycle{start: at} // older history teaches nothing
	case c.ok == 0 || at < c.start:
		c.start = at
	}
	c.ok++
}

// Pause admits nothing before t; the first pause after an overflow also
// ends the overflowed cycle, and its pace follows.
func (l *learnLimiter) Pause(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.wake()
	l.pauseLocked(t.Sub(l.base))
	if l.last.ok > 0 && l.last.end == 0 {
		l.last.end = l.until
		l.learn()
	}
}

// learn sets the pace from the last overflowed cycle once its pause is
// known. The caller holds l.mu.
func (l *learnLimiter) learn() {
	if l.last.end > l.last.start {
		l.interval = max(l.floor, spacing(l.last.ok, l.last.end-l.last.start))
	}
}
