package idctrace

import (
	"cmp"
	"slices"

	"github.com/identitycall/idctrace/internal/redact"
	"github.com/identitycall/idctrace/internal/ticket"
)

// SupportTicket returns a plain-text block to paste into an IdentityCall
// support ticket: what support asks for (the error, the request, the
// status, the time, the request ID, every attempt when retries ran, the
// time the call took, a hint when there is one) and accountEmail, left out
// when "". Like every string idctrace makes, it holds no secret.
func (e *APIError) SupportTicket(accountEmail string) string {
	if e.record != nil {
		return e.record.ticket(accountEmail).String()
	}
	r := &record{requestID: e.RequestID, method: e.Method, url: e.URL, route: e.Route, started: e.Time,
		attempt: e.Attempt, status: e.StatusCode, message: e.Message, errs: e.Errors, retryAfter: e.RetryAfter,
		hasRetry: e.RetryAfter > 0, body: e.Body, hint: e.Hint}
	return handBuilt(r, accountEmail)
}

// SupportTicket returns the same block as [APIError.SupportTicket], with
// the cause where a status would be.
func (e *TransportError) SupportTicket(accountEmail string) string {
	if e.record != nil {
		return e.record.ticket(accountEmail).String()
	}
	r := &record{requestID: e.RequestID, method: e.Method, url: e.URL, route: e.Route, started: e.Time,
		attempt: e.Attempt, duration: e.Duration, message: cmp.Or(e.cause(), e.ErrorType), errType: e.ErrorType, hint: e.Hint}
	return handBuilt(r, accountEmail)
}

// handBuilt is the ticket of an error built by hand, from r, whose fields
// nothing has redacted yet.
func handBuilt(r *record, account string) string {
	text := func(s string) string { return redact.Text(s, nil, false) }
	r.requestID, r.method, r.url, r.route, r.message, r.body, r.hint = text(r.requestID), text(r.method), text(r.url),
		text(r.route), text(r.message), text(r.body), text(r.hint)
	r.errs = slices.Clone(r.errs)
	for i, e := range r.errs {
		r.errs[i] = text(e)
	}
	return r.ticket(account).String()
}

// ticket returns the ticket of the call whose last attempt r records. It
// shares nothing with r: two tickets of one record may render at once.
func (r *record) ticket(account string) ticket.Ticket {
	t := ticket.Ticket{
		Account: redact.Text(account, nil, false), RequestID: r.requestID,
		Method: r.method, URL: r.url, Route: r.route, Message: r.message, Errors: slices.Clone(r.errs),
		Body: r.body, Hint: r.hint, Count: r.attempt, Waited: r.waited(),
		Attempts: append(r.history[:len(r.history):len(r.history)], r.tried()), // a copy
	}
	t.Time = t.Attempts[0].Time // when the call's first attempt started
	if r.status != 0 {
		t.Status = statusText(r.status)
	} else {
		t.Cause, t.Message = r.message, ""
	}
	if r.showsRetryAfter() {
		t.RetryAfter = r.retryAfter.String()
	}
	return t
}
