package idctrace

import (
	"net/http"

	"github.com/identitycall/idctrace/internal/redact"
	"github.com/identitycall/idctrace/internal/ticket"
)

// SupportTicket returns a plain-text block to paste into an IdentityCall
// support ticket. It holds what support asks for: the error message(s), the
// request (method, URL and parameters, redacted, and the documented
// endpoint), the status, the time (UTC, RFC 3339), the request ID, every
// attempt when retries ran (time, status, duration, wait), the time the
// whole call took, the hint when there is one, and accountEmail (left out
// when ""). Like every string idctrace makes, it holds no part of a key
// beyond its last four characters; an APIError built by hand has its fields
// redacted here.
func (e *APIError) SupportTicket(accountEmail string) string {
	if e.record != nil {
		return e.record.ticket(accountEmail).String()
	}
	t := handBuilt(accountEmail, e.RequestID, e.Method, e.URL, e.Route, e.Body, e.Hint)
	t.Time, t.Count = e.Time, e.Attempt
	t.Status = statusText(e.StatusCode)
	t.Message = redact.Text(e.Message, nil, false)
	for _, msg := range e.Errors {
		t.Errors = append(t.Errors, redact.Text(msg, nil, false))
	}
	if e.RetryAfter > 0 || e.StatusCode == http.StatusTooManyRequests {
		t.RetryAfter = e.RetryAfter.String()
	}
	return t.String()
}

// SupportTicket returns the same block as [APIError.SupportTicket], with
// the cause where a status would be.
func (e *TransportError) SupportTicket(accountEmail string) string {
	if e.record != nil {
		return e.record.ticket(accountEmail).String()
	}
	t := handBuilt(accountEmail, e.RequestID, e.Method, e.URL, e.Route, "", e.Hint)
	t.Time, t.Count, t.Waited = e.Time, e.Attempt, e.Duration
	t.Cause = e.cause()
	return t.String()
}

// handBuilt starts the ticket of an error built by hand, whose strings no
// Transport has redacted.
func handBuilt(account, id, method, url, route, body, hint string) ticket.Ticket {
	text := func(s string) string { return redact.Text(s, nil, false) }
	return ticket.Ticket{Account: text(account), RequestID: text(id), Method: text(method), URL: text(url),
		Route: route, Body: text(body), Hint: text(hint)}
}

// ticket returns the ticket of the call whose last attempt r records.
func (r *record) ticket(account string) ticket.Ticket {
	t := ticket.Ticket{
		Account: redact.Text(account, nil, false), Time: r.started, RequestID: r.requestID,
		Method: r.method, URL: r.url, Route: r.route, Message: r.message, Errors: r.errs,
		Body: r.body, Hint: r.hint, Count: r.attempt, Waited: r.waited(),
	}
	if len(r.history) > 0 {
		t.Time = r.history[0].started
	}
	if r.status != 0 {
		t.Status = statusText(r.status)
	} else {
		t.Cause, t.Message = r.message, ""
	}
	if r.showsRetryAfter() {
		t.RetryAfter = r.retryAfter.String()
	}
	for _, a := range append(r.history, r.tried()) {
		outcome := a.errType
		if a.status != 0 {
			outcome = statusText(a.status)
		}
		t.Attempts = append(t.Attempts, ticket.Attempt{Time: a.started, Outcome: outcome,
			Duration: a.duration, Queued: a.queued, RetryIn: a.retryIn})
	}
	return t
}
