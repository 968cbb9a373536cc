package idctrace

import (
	"time"
)

// Attempt is one attempt of a call that was sent, whatever became of it, as
// an observer set with [WithObserver] receives it.
type Attempt struct {
	RequestID string
	Method    string
	URL       string        // redacted
	Route     string        // as Route(req); "" for undocumented paths
	Status    int           // 0 on a transport error
	Start     time.Time     // when the attempt was sent
	Duration  time.Duration // until the response headers (and the prefix of a failure's body, when RoundTrip read it)
	Queued    time.Duration // how long it waited for a rate-limit slot before it was sent; not in Duration
	Attempt   int           // 1, 2, ... with retries
	RetryIn   time.Duration // > 0 when another attempt followed, after this wait (1ns when at once)

	// RetrySkipped says why a failure the retry policy retries was not
	// retried: "budget", "deadline", "max_delay", "max_retries",
	// "not_idempotent" or "no_get_body", as retry_skipped in the entry.
	RetrySkipped string

	// Last reports that the call ended with this attempt: RoundTrip returned
	// its response, or an error (see Err), with no attempt after it.
	Last bool

	// Err is the attempt's *TransportError when no response came back. On
	// the last attempt, it is the error RoundTrip returned, if any: also
	// when the attempt got a response but the call ended while it waited to
	// retry it (the context ended, or no rate-limit slot came in time).
	Err error
}

// observe hands the attempt r records to the observers, if any: nil when
// the call sent none. last reports that the call ends with it, and err is
// what the call returns then. Observers are the caller's code: a panic in
// one reaches the caller, after the Transport has closed the response the
// caller will not get (release).
func (c *call) observe(r *record, last bool, err error) {
	if len(c.t.observers) == 0 || r == nil {
		return
	}
	a := Attempt{
		RequestID:    r.requestID,
		Method:       r.method,
		URL:          r.url,
		Route:        r.route,
		Status:       r.status,
		Start:        r.started,
		Duration:     r.duration,
		Queued:       r.queued,
		Attempt:      r.attempt,
		RetrySkipped: r.retrySkipped,
		Last:         last,
		Err:          err,
	}
	if r.retrying && !last {
		a.RetryIn = max(r.retryIn, time.Nanosecond)
	}
	for _, fn := range c.t.observers {
		fn(a)
	}
}
