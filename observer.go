package idctrace

import (
	"net/http"
	"slices"
	"time"

	"github.com/identitycall/idctrace/internal/redact"
)

// Attempt describes one attempt of a call, whatever became of it: what an
// observer set with [WithObserver] receives.
type Attempt struct {
	RequestID string
	Method    string
	URL       string        // redacted
	Route     string        // as Route(req); "" for undocumented paths
	Status    int           // 0 on a transport error
	Err       error         // the *TransportError, nil when a response came back
	Start     time.Time     // when the attempt started
	Duration  time.Duration // until the response headers (and the inspected prefix of a failure)
	Attempt   int           // 1, 2, ... with retries
	RetryIn   time.Duration // > 0 when another attempt follows after this wait (1ns when at once)
}

// WithObserver makes the Transport call fn once per attempt, success or
// failure, after the attempt and before any wait for the next one. fn runs
// on the goroutine of the call and must not block; it sees what the log
// entry sees, redacted the same way. Successes cost one allocation more with
// an observer (the redacted URL) and nothing without. A nil fn adds
// nothing; several WithObserver options add up, in order.
func WithObserver(fn func(Attempt)) Option {
	return optionFunc(func(t *Transport) {
		if fn != nil {
			t.observers = append(t.observers, fn)
		}
	})
}

// observeSuccess hands a successful attempt of req to the observers.
func (t *Transport) observeSuccess(req *http.Request, id string, attempt int, started time.Time, status int) {
	e, _ := endpointOf(req)
	var arr [4]string // the usual secrets, on the stack
	secrets := redact.AppendSecrets(arr[:0], req)
	a := Attempt{
		RequestID: id,
		Method:    req.Method,
		URL:       redact.URL(req.URL, func(name string) bool { return e.LoggedParam(name) || slices.Contains(t.logged, name) }, secrets),
		Route:     e.Path,
		Status:    status,
		Start:     started,
		Duration:  t.now().Sub(started),
		Attempt:   attempt,
	}
	for _, fn := range t.observers {
		fn(a)
	}
}

// observeFailure hands a failed attempt to the observers.
func (t *Transport) observeFailure(f *failure) {
	a := Attempt{
		RequestID: f.requestID,
		Method:    f.method,
		URL:       f.url,
		Route:     f.route,
		Status:    f.status,
		Start:     f.started,
		Duration:  f.duration,
		Attempt:   f.attempt,
	}
	if f.status == 0 {
		a.Err = f.transportError()
	}
	if f.retrying {
		a.RetryIn = max(f.retryIn, time.Nanosecond)
	}
	for _, fn := range t.observers {
		fn(a)
	}
}
