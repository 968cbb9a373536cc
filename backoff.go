package idctrace

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff returns BaseDelay·2^(attempt-1), capped at MaxDelay, with equal
// jitter: a wait in [d/2, d], so retries spread out and never pass the cap.
func (t *Transport) backoff(attempt int) time.Duration {
	p := t.retry
	d := p.MaxDelay
	if shift := attempt - 1; shift < 62 && p.BaseDelay <= p.MaxDelay>>shift {
		d = p.BaseDelay << shift
	}
	return d/2 + t.jitter(d-d/2)
}

// sleepContext waits d, or until ctx is done, and then returns ctx's error.
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// randomJitter returns a random duration in [0, d].
func randomJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}
