package idctrace

import (
	"errors"
	"net/http"
	"slices"
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
	ErrValidation   = errors.New("identitycall: validation failed")   // 422
	ErrRateLimited  = errors.New("identitycall: rate limit exceeded") // 429
	ErrServer       = errors.New("identitycall: server error")        // 5xx
)

// errNilResponse is returned by CheckResponse for a nil response.
var errNilResponse = errors.New("idctrace: CheckResponse: nil response")

// APIError describes a response with a status of 400 or more. Every string
// in it is redacted, as in the log entry.
type APIError struct {
	StatusCode int
	Message    string        // the body's "error"
	Errors     []string      // the body's "errors" (422)
	RetryAfter time.Duration // the body's "retry_after" seconds, else the Retry-After header; never negative
	RequestID  string
	Method     string
	URL        string    // redacted, as logged
	Time       time.Time // when the request started, UTC
	Body       string    // the capped, sanitized body when it is not the documented JSON

	// Attempt is the attempt that got this response: 1, or more when
	// [WithRetry] retried the request. 0 when unknown.
	Attempt int
}

// Error returns the status, the message and the request ID, for example
// "identitycall: 404 Not Found: Resource not found (request_id 5f0c...)".
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("identitycall: ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if text := http.StatusText(e.StatusCode); text != "" {
		b.WriteString(" " + text)
	}
	msgs := e.Errors
	if e.Message != "" {
		msgs = append([]string{e.Message}, e.Errors...)
	}
	if len(msgs) > 0 {
		b.WriteString(": ")
		b.WriteString(strings.Join(msgs, "; "))
	}
	if e.RequestID != "" {
		b.WriteString(" (request_id " + e.RequestID + ")")
	}
	// The fields are redacted when the Transport fills them; this covers an
	// APIError built by hand.
	return redact.MaskKeys(b.String())
}

// Is reports whether target is the sentinel for e's status: [ErrBadRequest],
// [ErrUnauthorized], [ErrForbidden], [ErrNotFound], [ErrValidation],
// [ErrRateLimited] or, for any 5xx, [ErrServer].
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
		return e.StatusCode == http.StatusUnprocessableEntity
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrServer:
		return e.StatusCode >= 500 && e.StatusCode <= 599
	}
	return false
}

// CheckResponse returns nil when resp's status is below 400 and an
// [*APIError] otherwise. The body stays fully readable, byte for byte.
//
// For a response that came through a [Transport], CheckResponse reuses what
// the Transport already decoded. For any other response it reads a prefix of
// at most [DefaultMaxBodyBytes] itself and replaces resp.Body with a body
// that yields the prefix and then the rest; the read stops when the
// request's context is done.
func CheckResponse(resp *http.Response) error {
	if resp == nil {
		return errNilResponse
	}
	if resp.StatusCode < 400 {
		return nil
	}
	f := recordOf(resp)
	if f == nil {
		req := resp.Request
		if req == nil {
			req = &http.Request{}
		}
		f = newFailure(req, RequestID(resp), time.Now(), 0)
		f.inspectResponse(resp, DefaultMaxBodyBytes, DefaultBodyReadTimeout, time.Now)
	}
	return f.apiError()
}

// recordOf finds the failure record a Transport attached to resp: on its
// body, or, when a middleware above the Transport wrapped the body, on the
// context of the request behind it.
func recordOf(resp *http.Response) *failure {
	if fb, ok := resp.Body.(interface{ record() *failure }); ok {
		return fb.record()
	}
	if resp.Request != nil {
		if c, ok := resp.Request.Context().Value(ctxKey{}).(*idContext); ok &&
			c.rec != nil && c.rec.status == resp.StatusCode {
			return c.rec
		}
	}
	return nil
}

// apiError returns a new APIError from the record of an HTTP failure.
func (f *failure) apiError() *APIError {
	return &APIError{
		StatusCode: f.status,
		Message:    f.message,
		Errors:     slices.Clone(f.errs),
		RetryAfter: f.retryAfter,
		RequestID:  f.requestID,
		Method:     f.method,
		URL:        f.url,
		Time:       f.started.UTC(),
		Body:       f.body,
		Attempt:    f.attempt,
	}
}
