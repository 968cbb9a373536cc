package idctrace

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"syscall"
	"time"
)

// RetryPolicy says when and how long a [Transport] retries. See [WithRetry].
type RetryPolicy struct {
	MaxRetries         int           // retries after the first attempt; 0 means no retry
	BaseDelay          time.Duration // first backoff; doubles each retry, with jitter
	MaxDelay           time.Duration // cap on any single wait, backoff or server-asked
	RetryNonIdempotent bool          // also retry requests that are not idempotent on 5xx and transport errors
}

// DefaultRetryPolicy returns 3 retries, a 500 ms base delay and a 60 s cap:
// the wait the IdentityCall docs ask for after a 429.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxRetries: 3, BaseDelay: 500 * time.Millisecond, MaxDelay: time.Minute}
}

// DefaultRateLimitWait is the wait after a 429 that says for how long in
// neither its body's retry_after nor a Retry-After header: the IdentityCall
// docs' own default.
const DefaultRateLimitWait = time.Minute

// WithRetry makes the Transport retry, as the IdentityCall docs advise:
//
//   - 429: after the larger of the body's retry_after and the Retry-After
//     header, exactly, or [DefaultRateLimitWait] when neither says; a 429
//     asking for more than MaxDelay is returned at once.
//   - 500, 502, 503, 504 and transport errors a retry can cure (connection
//     refused or reset, EOF before the response): after BaseDelay·2^(n-1),
//     capped at MaxDelay, with jitter, and at least a Retry-After under
//     MaxDelay. Never TLS or certificate errors, a malformed request, or a
//     done context.
//   - 400, 401, 403, 404, 422, 501 and every other status: never.
//
// A 429 means the request was not processed: every request is retried
// after one. After a 5xx or a transport error, only a request that cannot
// do its work twice is: a documented endpoint the route table marks
// idempotent (reads, updates, deletes), any other GET, HEAD, OPTIONS, PUT
// or DELETE, and a request with an Idempotency-Key header, or any request
// with RetryNonIdempotent set. A request whose context has [AllowRetry]
// is retried whatever its method, and a purchase (a route that spends
// money) only then. A request body is replayed through req.GetBody only,
// never buffered: a request with a body and no GetBody is sent once.
//
// Every attempt carries the same request ID and gets its own log entry with
// its attempt number; an entry followed by a retry adds retry_in. The
// response of a retried attempt is closed; the last response is returned
// intact. A wait ends as soon as the request's context is done, with a
// [*TransportError] holding the context's error, and a deadline that would
// expire during a wait returns the last response without waiting.
//
// Retries are off by default. A MaxRetries of 0 or less keeps them off; a
// zero BaseDelay or MaxDelay takes the value of [DefaultRetryPolicy].
func WithRetry(p RetryPolicy) Option {
	return optionFunc(func(t *Transport) {
		if p.MaxRetries <= 0 {
			t.retry = RetryPolicy{}
			return
		}
		def := DefaultRetryPolicy()
		if p.BaseDelay <= 0 {
			p.BaseDelay = def.BaseDelay
		}
		if p.MaxDelay <= 0 {
			p.MaxDelay = def.MaxDelay
		}
		t.retry = p
	})
}

// retryWait decides whether the failed attempt f of req is retried, and
// after how long. The zero policy never retries, and no retry follows once
// the request's context is done or when its deadline would pass during the
// wait.
func (t *Transport) retryWait(req *http.Request, f *failure) (time.Duration, bool) {
	wait, ok := t.policyWait(req, f)
	ctx := req.Context()
	if deadline, has := ctx.Deadline(); has && !t.now().Add(wait).Before(deadline) {
		return wait, false
	}
	return wait, ok && ctx.Err() == nil
}

// policyWait is retryWait by the policy alone.
func (t *Transport) policyWait(req *http.Request, f *failure) (time.Duration, bool) {
	p := t.retry
	if f.attempt > p.MaxRetries || req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return 0, false // a body that cannot be sent again is sent once
	}
	switch {
	case f.status == http.StatusTooManyRequests:
		wait := DefaultRateLimitWait
		if f.hasRetry {
			wait = f.waitHint
		}
		return wait, wait <= p.MaxDelay
	case f.status == 0 && !retryableError(f.err), f.status != 0 && !retryableStatus(f.status):
		return 0, false
	case !retryAllowed(req.Context()) && (f.endpoint.SpendsMoney || !p.RetryNonIdempotent && !idempotent(req, f)):
		return 0, false
	}
	wait := t.backoff(f.attempt)
	if f.hasRetry && f.waitHint <= p.MaxDelay {
		wait = max(wait, f.waitHint)
	}
	return wait, true
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

func retryableStatus(status int) bool {
	switch status {
	case http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryableError reports whether a transport error is one a new attempt can
// cure: the connection was refused, reset or closed before the response.
// It is a list of what is retried; anything else, TLS and certificate
// errors, malformed requests and unsupported schemes among them, is not.
func retryableError(err error) bool {
	var (
		opErr      *net.OpError
		dnsErr     *net.DNSError
		errTimeout interface{ Timeout() bool }
	)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.As(err, &dnsErr):
		return dnsErr.IsTemporary
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return errors.As(err, &errTimeout) && errTimeout.Timeout()
	}
	return false
}

// idempotent reports whether req, whose failed attempt is f, may be sent
// again after a 5xx or a transport error without the caller's say-so.
func idempotent(req *http.Request, f *failure) bool {
	switch {
	case req.Header.Get("Idempotency-Key") != "":
		return true
	case f.documented:
		return f.endpoint.Idempotent
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
