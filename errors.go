package idctrace

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/identitycall/idctrace/internal/redact"
)

// Sentinel errors for the documented IdentityCall statuses. An [*APIError]
// matches them with [errors.Is]:
//
//	if errors.Is(err, idctrace.ErrNotFound) { ... }
var (
	ErrBadRequest   = errors.New("identitycall: bad request")         // 400
	ErrUnauthorized = errors.New("identitycall: unauthorized")        // 401: invalid, missing, revoked or expired key
	ErrForbidden    = errors.New("identitycall: permission required") // 403
	ErrNotFound     = errors.New("identitycall: resource not found")  // 404
	ErrValidation   = errors.New("identitycall: validation failed")   // 422, but for ErrNotReady
	ErrNotReady     = errors.New("identitycall: not ready yet")       // 422 "Transcription not available", while polling
	ErrRateLimited  = errors.New("identitycall: rate limit exceeded") // 429
	ErrServer       = errors.New("identitycall: server error")        // 5xx
)

// APIError describes a response with a status of 400 or more. When a
// [Transport] or [CheckResponse] builds it, every string in it is redacted,
// as in the log entry; one built by hand is redacted when printed (Error,
// SupportTicket).
type APIError struct {
	StatusCode int
	Message    string        // the body's "error"
	Errors     []string      // the body's "errors" (422)
	RetryAfter time.Duration // the body's "retry_after" seconds, else the Retry-After header; never negative
	RequestID  string
	Method     string
	URL        string    // redacted, as logged
	Route      string    // the documented endpoint, as [Route]; "" for any other path
	Time       time.Time // when the request started, UTC
	Body       string    // the capped, sanitized body when it is not the documented JSON
	Hint       string    // what to check when the cause is most likely local; "" when none applies

	// Attempt is the attempt that got this response: 1, or more when
	// [WithRetry] retried the request. 0 when unknown.
	Attempt int

	record *record // what the Transport knew, for the ticket; nil when built by hand
}

// Error returns the status, the message and the request ID, for example
// "identitycall: 404 Not Found: Resource not found (request_id 5f0c...)".
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("identitycall: " + statusText(e.StatusCode))
	msgs := e.Errors
	if e.Message != "" {
		msgs = append([]string{e.Message}, e.Errors...)
	}
	if len(msgs) > 0 {
		b.WriteString(": " + strings.Join(msgs, "; "))
	}
	writeRequestID(&b, e.RequestID)
	if e.record == nil {
		return redact.MaskKeys(b.String()) // built by hand: nothing redacted it yet
	}
	return b.String()
}

// statusText is "404 Not Found", or the bare code when it has no name.
func statusText(code int) string {
	return strings.TrimSpace(strconv.Itoa(code) + " " + http.StatusText(code))
}

// Is reports whether target is the sentinel for e's status: [ErrBadRequest],
// [ErrUnauthorized], [ErrForbidden], [ErrNotFound], [ErrRateLimited], for any
// 5xx [ErrServer], and for a 422 [ErrNotReady] when it is the documented
// not-ready answer (a 422 from a recording's transcription, results or
// summary: "Transcription not available") and [ErrValidation] otherwise.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.StatusCode == http.StatusBadRequest
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrValidation:
		return e.StatusCode == http.StatusUnprocessableEntity && !notReady(e.StatusCode, e.Route)
	case ErrNotReady:
		return notReady(e.StatusCode, e.Route)
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrServer:
		return e.StatusCode >= 500 && e.StatusCode <= 599
	}
	return false
}

// TransportError is the error of a call that ended without a response: a
// refused connection, a timeout, or a request the Transport did not send.
// Every error a [Transport] returns reaches one with [errors.As], but for a
// certificate error, which stays net/http's *tls.CertificateVerificationError
// around it, since retry policies such as go-retryablehttp's look for that
// type. When the Transport builds it, its strings are redacted.
type TransportError struct {
	RequestID string
	Method    string
	URL       string        // redacted
	Route     string        // the documented endpoint, as [Route]; "" for any other path
	Time      time.Time     // when the attempt started, UTC
	Duration  time.Duration // how long the attempt waited for the error
	Attempt   int           // the attempt that failed: 1, or more with [WithRetry]
	Hint      string        // what to check when the cause is most likely local; "" when none applies

	// ErrorType is the cause's class, as OpenTelemetry's error.type:
	// timeout, canceled, name_resolution, connection_refused,
	// connection_reset, tls, local_rate_limit (not sent: see
	// [ErrLocalRateLimit]) or _OTHER.
	ErrorType string
	Err       error // the cause: the base transport's error, or the context's

	record *record // what the Transport knew; nil when built by hand
}

// Error returns the method, the URL, the cause and the request ID, for
// example "identitycall: GET https://api.identitycall.ai/api/v1/public/recordings:
// dial tcp: connection refused (request_id 5f0c...)". Everything in it is
// redacted. [RequestIDFromError] reads the ID back from this text, as it
// must when [http.Client] replaced the error by its text.
func (e *TransportError) Error() string {
	var b strings.Builder
	b.WriteString("identitycall: " + e.Method + " " + e.URL + ": " + e.cause())
	writeRequestID(&b, e.RequestID)
	if e.record == nil {
		return redact.Text(b.String(), nil, false) // built by hand: nothing redacted it yet
	}
	return b.String()
}

// cause is the text of Err: redacted when the Transport built e.
func (e *TransportError) cause() string {
	switch {
	case e.record != nil:
		return e.record.message
	case e.Err != nil:
		return redact.Text(e.Err.Error(), nil, false)
	}
	return ""
}

// Unwrap returns the base transport's error, so that [errors.Is] and
// [errors.As] reach context.DeadlineExceeded, *net.OpError and the like.
func (e *TransportError) Unwrap() error { return e.Err }

// Timeout reports whether the cause is a timeout, so that
// (*url.Error).Timeout and [os.IsTimeout] keep working.
func (e *TransportError) Timeout() bool { return errorType(e.Err) == "timeout" }

// requestIDMark opens the request ID in the text of both error types.
const requestIDMark = "(request_id "

func writeRequestID(b *strings.Builder, id string) {
	if id != "" {
		b.WriteString(" " + requestIDMark + id + ")")
	}
}

// RequestIDFromError returns the request ID of the call behind err: an
// [*APIError] or a [*TransportError] anywhere in err's chain (through
// *url.Error), or, when [http.Client] replaced the error by its text (as it
// does when Client.Timeout fires), the ID that text holds. "" when there is
// none. Every ID a Transport sends can be read back from text: it replaces
// one that could not (see [ContextWithRequestID]).
func RequestIDFromError(err error) string {
	if err == nil {
		return ""
	}
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		return apiErr.RequestID
	}
	if te, ok := errors.AsType[*TransportError](err); ok {
		return te.RequestID
	}
	s := err.Error()
	for i := strings.LastIndex(s, requestIDMark); i >= 0; i = strings.LastIndex(s[:i], requestIDMark) {
		// Cut may read past the next mark; id then holds its "(" and is refused.
		if id, _, ok := strings.Cut(s[i+len(requestIDMark):], ")"); ok && id != "" && !strings.ContainsAny(id, " (") {
			return id
		}
	}
	return ""
}
