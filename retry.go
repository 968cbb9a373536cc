package idctrace

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"time"
)

// RetryPolicy says when and how long a [Transport] retries. See [WithRetry].
type RetryPolicy struct {
	MaxRetries         int           // retries after the first attempt; 0 means no retry
	BaseDelay          time.Duration // first backoff; doubles each retry, with jitter
	MaxDelay           time.Duration // cap on any single wait, backoff or server-asked
	RetryNonIdempotent bool          // also retry requests that are not idempotent on 5xx and transport errors

	// Budget bounds the retries that nothing else paces (after 5xx,
	// transport errors and 429s asking for less than the backoff) to a
	// share of the calls made; nil means no budget. Transports may share one.
	Budget *RetryBudget
}

// DefaultRetryPolicy returns 3 retries, a 500 ms base delay, a 60 s cap (the
// wait the IdentityCall docs ask for after a 429) and a new budget of
// NewRetryBudget(0.1, 10): retries after 5xx and transport errors at most a
// tenth of the calls, beyond 10 a second.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxRetries: 3, BaseDelay: 500 * time.Millisecond, MaxDelay: time.Minute,
		Budget: NewRetryBudget(0.1, 10)}
}

// defaultRateLimitWait is the wait after a 429 that says for how long in
// neither its body's retry_after nor a Retry-After header: the IdentityCall
// docs' own default.
const defaultRateLimitWait = time.Minute

// retryWait decides whether the failed attempt r of c is retried, and
// after how long. The zero policy never retries. When the policy retries
// r's status or error but not this time, r says why (retrySkipped); when
// it does, r says after how long (retryIn).
func (t *Transport) retryWait(c *call, r *record) (time.Duration, bool) {
	p := t.retry
	if p.MaxRetries <= 0 || r.notSent || !retryable(r) {
		return 0, false
	}
	req, ctx := c.req, c.req.Context()
	rateLimited := r.status == http.StatusTooManyRequests
	var wait time.Duration
	why, unpaced := "", false
	switch {
	case r.attempt > p.MaxRetries:
		why = "max_retries"
	case req.Body != nil && req.Body != http.NoBody && req.GetBody == nil:
		why = "no_get_body" // a body that cannot be sent again is sent once
	case !rateLimited && !retryAllowed(ctx) && (r.endpoint.SpendsMoney || !p.RetryNonIdempotent && !idempotent(req, r)):
		why = "not_idempotent"
	case rateLimited:
		wait = defaultRateLimitWait
		if r.hasRetry {
			wait = r.waitHint
		}
		if wait > p.MaxDelay {
			why = "max_delay"
		}
		if backoff := t.backoff(r.attempt); wait < backoff {
			// A pause this short paces nothing: the backoff and the
			// budget do, as for a 503.
			wait, unpaced = backoff, true
		}
	default:
		wait = t.backoff(r.attempt)
		if r.hasRetry && r.waitHint <= p.MaxDelay {
			wait = max(wait, r.waitHint)
		}
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return 0, false // the caller gave up: nothing to explain
	}
	if deadline, ok := ctx.Deadline(); why == "" && ok && !t.now().Add(wait).Before(deadline) {
		why = "deadline"
	}
	if why == "" && (!rateLimited || unpaced) {
		ok := false
		if c.charged, ok = p.Budget.withdraw(t.now()); !ok {
			why = "budget" // a 429 whose pause holds every caller is not charged
		}
	}
	if why != "" {
		r.retrySkipped = why
		return 0, false
	}
	r.retrying, r.retryIn = true, wait
	return wait, true
}

// retryable reports whether r's status or error is one the policy retries.
func retryable(r *record) bool {
	if r.status != 0 {
		return r.status == http.StatusTooManyRequests || retryableStatus(r.status)
	}
	return retryableError(r.err)
}

func retryableStatus(status int) bool {
	switch status {
	case http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryableError reports whether a transport error is one a new attempt can
// cure: the connection was refused, reset or closed before the response, a
// name did not resolve for now, or a dial timed out. Anything else, TLS
// errors, malformed requests and a done context among them, is not.
func retryableError(err error) bool {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch errorType(err) {
	case "connection_refused", "connection_reset":
		return true
	case "name_resolution":
		return errors.As(err, &dnsErr) && dnsErr.IsTemporary
	case "timeout":
		return !errors.Is(err, context.DeadlineExceeded) && errors.As(err, &opErr) && opErr.Op == "dial"
	}
	return false
}

// idempotent reports whether req, whose failed attempt is r, may be sent
// again after a 5xx or a transport error without the caller's say-so.
func idempotent(req *http.Request, r *record) bool {
	switch {
	case req.Header.Get("Idempotency-Key") != "":
		return true
	case r.route != "": // a documented endpoint
		return r.endpoint.Idempotent
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return true
	}
	return false
}

type allowRetryKey struct{}

// AllowRetry returns a copy of ctx that marks a request made with it as
// safe to retry after a 5xx or a transport error, whatever its method: an
// upload with its external_id, which the IdentityCall docs make
// idempotent, or a purchase the caller has made safe. It matters only to a
// Transport with [WithRetry].
func AllowRetry(ctx context.Context) context.Context {
	return context.WithValue(ctx, allowRetryKey{}, true)
}

func retryAllowed(ctx context.Context) bool {
	allowed, _ := ctx.Value(allowRetryKey{}).(bool)
	return allowed
}

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

// randomJitter returns a random duration in [0, d]; 0 when d is not positive.
func randomJitter(d time.Duration) time.Duration {
	return rand.N(max(d, 0) + 1)
}
