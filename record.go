package idctrace

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/identitycall/idctrace/internal/api"
	"github.com/identitycall/idctrace/internal/redact"
	"github.com/identitycall/idctrace/internal/ticket"
)

// record is what the Transport knows of one attempt. It is built once,
// redacted as it is built, and is the one source of every output: the log
// entry and the bundle line (through fields), the APIError or
// TransportError, the ticket, the debug page and the observers' Attempt.
// A success gets a minimal record (no body, no hint) for the observers, so
// that URL redaction has one call site.
type record struct {
	requestID string
	method    string
	url       string // redacted
	route     string // as Route; "" for an undocumented path
	started   time.Time
	duration  time.Duration // until the response headers, plus the prefix read when RoundTrip read it
	queued    time.Duration // waited for a rate-limit slot before the attempt; not in duration
	attempt   int
	status    int  // 0 for a transport error, or an attempt that was not sent
	notSent   bool // the attempt was never sent: no rate-limit slot, a wait cut short, GetBody failed

	message    string   // the body's "error", or the transport error's text
	errs       []string // the body's "errors"
	retryAfter time.Duration
	hasRetry   bool          // retryAfter came from the body or the header
	waitHint   time.Duration // the larger of the body's and the header's value
	body       string        // set when the body is not the documented JSON
	hint       string
	errType    string // the transport error's class, as TransportError.ErrorType

	retryIn      time.Duration // > 0 or retrying: another attempt follows after this wait
	retrying     bool
	retrySkipped string           // why the policy's retry did not happen: budget, deadline...
	history      []ticket.Attempt // the call's earlier attempts, oldest first
	callStart    time.Time        // when the call began, before its first wait for a slot

	gzipped  bool         // the body is gzip-encoded: the caller asked for gzip itself
	respBody *failureBody // the response body the record is decoded from; nil when there is none
	extra    []zap.Field  // WithLogFields' fields, computed when the entry was decided on

	endpoint api.Endpoint    // the documented endpoint; zero for an undocumented path
	err      error           // the transport error, unredacted: never printed as is
	ctx      context.Context // the caller's context, for log fields
	sent     *http.Request   // the request as sent; dropped once reported
	secrets  []string        // the request's own secrets; dropped once reported
}

// init starts r as the record of an attempt of req, sent with the request
// ID id. The values of its endpoint's documented query parameters and of
// those named in logged are kept in its URL; others are not.
func (r *record) init(req *http.Request, id string, started time.Time, attempt int, logged []string) {
	e := endpointOf(req)
	secrets := redact.AppendSecrets(make([]string, 0, 4), req) // room for the usual ones: one allocation
	loggedParam := func(name string) bool { return e.LoggedParam(name) || slices.Contains(logged, name) }
	*r = record{
		requestID: id,
		method:    redactMethod(req.Method, secrets),
		url:       redact.URL(req.URL, loggedParam, secrets),
		route:     e.Path,
		started:   started,
		attempt:   attempt,
		endpoint:  e,
		ctx:       req.Context(),
		sent:      req,
		secrets:   secrets,
	}
}

// redactMethod returns method, redacted unless it is a standard one: a
// caller's bug can put anything there, a key included, and net/http sends it.
func redactMethod(method string, secrets []string) string {
	switch method {
	case "", http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return method
	}
	return redact.Text(method, secrets, false)
}

// finish completes r once its status or error is known.
func (r *record) finish() {
	if r.status == 0 && r.errType == "" {
		r.errType = errorType(r.err)
	}
	r.hint = r.findHint()
}

// showsRetryAfter reports whether the outputs carry retry_after: always for
// a 429, and whenever the server gave a value.
func (r *record) showsRetryAfter() bool {
	return r.hasRetry || r.status == http.StatusTooManyRequests
}

// waited is the time from the call's start, its first wait for a
// rate-limit slot included, to the end of this attempt; from the attempt's
// start when no call set callStart (CheckResponse's records, hand-built ones).
func (r *record) waited() time.Duration {
	return r.started.Add(r.duration).Sub(cmp.Or(r.callStart, r.started))
}

// apiError returns a new APIError from the record of an HTTP failure.
func (r *record) apiError() *APIError {
	return &APIError{
		StatusCode: r.status,
		Message:    r.message,
		Errors:     slices.Clone(r.errs),
		RetryAfter: r.retryAfter,
		RequestID:  r.requestID,
		Method:     r.method,
		URL:        r.url,
		Route:      r.route,
		Time:       r.started.UTC(),
		Body:       r.body,
		Hint:       r.hint,
		Attempt:    r.attempt,
		record:     r,
	}
}

// transportError returns a new TransportError from the record of a
// transport failure.
func (r *record) transportError() *TransportError {
	return &TransportError{
		RequestID: r.requestID,
		Method:    r.method,
		URL:       r.url,
		Route:     r.route,
		Time:      r.started.UTC(),
		Duration:  r.duration,
		Attempt:   r.attempt,
		Hint:      r.hint,
		ErrorType: r.errType,
		Err:       r.err,
		record:    r,
	}
}

// tried returns r as one attempt of its call, as a ticket lists it.
func (r *record) tried() ticket.Attempt {
	outcome := r.errType
	if r.status != 0 {
		outcome = statusText(r.status)
	}
	return ticket.Attempt{Time: r.started, Outcome: outcome, Duration: r.duration, Queued: r.queued, RetryIn: r.retryIn}
}
