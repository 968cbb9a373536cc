package idctrace

import (
	"net/http"
	"time"
)

// learnLimiter is the Limiter of a Transport that retries without one of
// its own: it knows no quota, so it admits every request at once until the
// server answers 429. It then pauses until the 429's retry_after, and paces
// from then on to the quota the overflow showed: as many requests as got an
// answer other than 429 in the cycle that overflowed, in the time from that
// cycle's first request to the end of the pause. That time is never shorter
// than the server's window, since a retry_after is rounded up, so the pace
// stays under the quota and the next window does not overflow again. A
// later overflow (another client spending the same account) teaches a
// slower pace; nothing teaches a faster one.
//
// The Transport drives it as follows, and it is only correct so:
//
//   - Wait(ctx) before every attempt, as any [Limiter];
//   - observe(sent, status) for every response an attempt got, whatever its
//     status, 429 included, where sent is when Wait admitted that attempt;
//     nothing for an attempt that got no response;
//   - for a 429, observe first, then Pause(t) with t the time the response
//     arrived plus its retry_after capped at the retry policy's MaxDelay,
//     as for any Limiter.
//
// observe is safe on a nil receiver, so a Transport whose Limiter came from
// WithLimiter keeps a nil *learnLimiter and calls it all the same.
type learnLimiter struct {
	limiter
	cur  cycle // requests sent since the last pause ended
	last cycle // the latest cycle that overflowed with some success
}

// cycle holds the requests one server window took: the first was sent at
// start, ok of them got an answer other than 429, and end is the end of the
// pause the overflow asked for (zero until that Pause).
type cycle struct {
	start, end time.Duration // offsets from base; end is 0 until known
	ok         int
}

func newLearnLimiter() *learnLimiter {
	l := &learnLimiter{limiter: limiter{base: time.Now()}}
	l.clock = func() time.Duration { return time.Since(l.base) }
	return l
}

// observe counts a response to an attempt that Wait admitted at sent.
func (l *learnLimiter) observe(sent time.Time, status int) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count(sent.Sub(l.base), status)
}

func (l *learnLimiter) count(sent time.Duration, status int) {
	if sent >= l.until {
		// Sent after the last pause ended: the current cycle's.
		if status == http.StatusTooManyRequests {
			if l.cur.ok > 0 {
				l.last = l.cur
			}
			l.cur = cycle{}
			return
		}
		l.cur.add(sent)
		return
	}
	// Sent before the pause began: the overflowed cycle's, answered late.
	if status != http.StatusTooManyRequests && l.last.ok > 0 {
		l.last.add(sent)
		l.learn()
	}
}

func (c *cycle) add(sent time.Duration) {
	if c.ok == 0 || sent < c.start {
		c.start = sent
	}
	c.ok++
}

// Pause admits nothing before t; the first pause after an overflow also
// ends the overflowed cycle, and its pace follows.
func (l *learnLimiter) Pause(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
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
		l.interval = spacing(l.last.ok, l.last.end-l.last.start)
	}
}
