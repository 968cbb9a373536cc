// Package schema names the messages and field keys of idctrace's log
// entries, for the packages of this module that write or read them. The
// schema itself, for users, is documented once, in idctrace's package doc.
package schema

// Messages.
const (
	Failed      = "identitycall request failed"
	Summarized  = "identitycall request failures summarized"
	LimiterDown = "identitycall rate limiter unavailable; pacing locally"
)

// Keys of a failure entry.
const (
	RequestID    = "request_id"
	Method       = "method"
	URL          = "url"
	Route        = "route"
	Status       = "status"
	Duration     = "duration"
	StartedAt    = "started_at"
	Attempt      = "attempt"
	Queued       = "queued"
	Error        = "error"
	ErrorType    = "error_type"
	Errors       = "errors"
	RetryAfter   = "retry_after"
	Body         = "body"
	RetryIn      = "retry_in"
	RetrySkipped = "retry_skipped"
	Hint         = "hint"
)

// Keys of a summary entry, beside method, route, and status or error_type.
const (
	Suppressed     = "suppressed"
	FirstRequestID = "first_request_id"
	LastRequestID  = "last_request_id"
	FirstAt        = "first_at"
	LastAt         = "last_at"
)
