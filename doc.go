// Package idctrace is HTTP client middleware for the IdentityCall API.
//
// A [Transport] wraps any [http.RoundTripper]. It tags every request with a
// request ID and, when a call fails (a status of 400 or more, or an error from
// the transport below), writes one structured [zap] entry holding the request
// ID, method, redacted URL, status, duration, start time and the decoded
// IdentityCall error body. A successful call costs a header copy and an ID:
// nothing is logged and no body byte is read.
//
// The response the caller reads is never disturbed: on a failure the
// Transport reads at most a capped prefix of the body and hands back a body
// that yields the same bytes, prefix then rest. [CheckResponse] turns a
// failed response into an [*APIError] that callers inspect with
// [errors.As], or match with [errors.Is] against [ErrNotFound] and friends.
//
// Secrets never leave the package: no header is logged, URL credentials are
// dropped, the values of secret query parameters become REDACTED, and any
// IdentityCall key (idc_...) in a URL, message or body is masked down to at
// most its last four characters. The same redacted record feeds the log
// entry, the [*APIError] and its support ticket.
//
// Retries of 429 and 5xx responses are opt-in through [WithRetry].
package idctrace
