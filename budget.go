package idctrace

import (
	"sync"
	"sync/atomic"
	"time"
)

// budgetSeconds is how long a deposit into a RetryBudget lasts.
const budgetSeconds = 10

// RetryBudget bounds the retries that nothing else paces (after 5xx,
// transport errors, and 429s asking for less than the backoff) to a share
// of the calls made, as Finagle's does: every first attempt deposits ratio
// of a retry, every such retry withdraws one, deposits expire after 10
// seconds, and minPerSecond retries a second are always allowed. A retry
// that is not sent after all gives its charge back.
//
// A RetryBudget is safe for concurrent use: give one to the Transports that
// share an account. A nil *RetryBudget allows every retry.
type RetryBudget struct {
	ratio        float64
	minPerSecond int

	mu      sync.Mutex
	seconds [budgetSeconds]budgetSecond // a ring: second s at s % budgetSeconds
}

// budgetSecond is what one second of a RetryBudget counts. Deposits, on
// every call's path, are atomic; the rest is guarded by the budget's mutex,
// which also guards moving a second on.
type budgetSecond struct {
	unix      atomic.Int64 // the second counted, set after the counts are reset
	deposits  atomic.Int64 // first attempts
	withdrawn int          // retries paid from the deposits
	free      int          // retries of the minPerSecond allowance
}

// NewRetryBudget returns a RetryBudget in which every first attempt
// deposits ratio of a retry and minPerSecond retries a second are always
// allowed. Negative arguments count as 0: NewRetryBudget(0, 0) allows no
// retry after a 5xx or a transport error.
func NewRetryBudget(ratio float64, minPerSecond int) *RetryBudget {
	return &RetryBudget{ratio: max(ratio, 0), minPerSecond: max(minPerSecond, 0)}
}

// deposit counts a first attempt made at now.
func (b *RetryBudget) deposit(now time.Time) {
	if b == nil {
		return
	}
	unix := now.Unix()
	if s := &b.seconds[slot(unix)]; s.unix.Load() == unix {
		s.deposits.Add(1)
		return
	}
	b.mu.Lock()
	b.second(unix).deposits.Add(1)
	b.mu.Unlock()
}

// charge is what a withdrawal took, so that a retry that is not sent after
// all can give it back: the second it was counted in, and from which pot.
type charge struct {
	unix int64
	free bool // the second's allowance, not the deposits
	ok   bool // something was taken
}

// withdraw reports whether a retry at now is within the budget, and if so
// charges it.
func (b *RetryBudget) withdraw(now time.Time) (charge, bool) {
	if b == nil {
		return charge{}, true
	}
	unix := now.Unix()
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.second(unix)
	if s.free < b.minPerSecond {
		s.free++
		return charge{unix: unix, free: true, ok: true}, true
	}
	deposits, withdrawn := int64(0), 0
	for i := range b.seconds {
		if c := &b.seconds[i]; unix-c.unix.Load() < budgetSeconds {
			deposits += c.deposits.Load()
			withdrawn += c.withdrawn
		}
	}
	if b.ratio*float64(deposits)-float64(withdrawn) < 1 {
		return charge{}, false
	}
	s.withdrawn++
	return charge{unix: unix, ok: true}, true
}

// refund gives back what c took, for a retry that was not sent: its wait
// was cut short, or no rate-limit slot came. A second that has moved on
// keeps its count.
func (b *RetryBudget) refund(c charge) {
	if b == nil || !c.ok {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := &b.seconds[slot(c.unix)]
	switch {
	case s.unix.Load() != c.unix:
	case c.free && s.free > 0:
		s.free--
	case !c.free && s.withdrawn > 0:
		s.withdrawn--
	}
}

// second returns the count of the second unix, reset when it held an older
// one. The caller holds b.mu.
func (b *RetryBudget) second(unix int64) *budgetSecond {
	s := &b.seconds[slot(unix)]
	if s.unix.Load() != unix {
		s.deposits.Store(0)
		s.withdrawn, s.free = 0, 0
		s.unix.Store(unix)
	}
	return s
}

// slot is where the second unix is counted.
func slot(unix int64) int {
	return int((unix%budgetSeconds + budgetSeconds) % budgetSeconds)
}
