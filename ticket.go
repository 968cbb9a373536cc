package idctrace

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/identitycall/idctrace/internal/redact"
)

// SupportTicket returns a plain-text block to paste into an IdentityCall
// support ticket. It holds what support asks for: the error message(s), the
// request (method, URL and parameters, redacted, and the documented
// endpoint), the status, the time (UTC, RFC 3339), the request ID, the
// attempt count when retries ran, the hint when there is one, and
// accountEmail (left out when ""). Like every string idctrace makes, it
// holds no part of a key beyond its last four characters.
func (e *APIError) SupportTicket(accountEmail string) string {
	t := ticket{
		account: accountEmail, time: e.Time, requestID: e.RequestID, method: e.Method, url: e.URL, route: e.Route,
		status: statusText(e.StatusCode), message: e.Message, errs: e.Errors, attempt: e.Attempt, body: e.Body, hint: e.Hint,
	}
	if e.RetryAfter > 0 || e.StatusCode == http.StatusTooManyRequests {
		t.retryAfter = e.RetryAfter.String()
	}
	return t.String()
}

// SupportTicket returns the same block as [APIError.SupportTicket], with
// the transport error's cause where a status would be, and how long the
// attempt waited for it.
func (e *TransportError) SupportTicket(accountEmail string) string {
	t := ticket{
		account: accountEmail, time: e.Time, requestID: e.RequestID, method: e.Method, url: e.URL, route: e.Route,
		attempt: e.Attempt, hint: e.Hint, waited: e.Duration.Round(time.Millisecond).String(),
	}
	if e.Err != nil {
		t.cause = e.cause
		if t.cause == "" {
			t.cause = e.Err.Error()
		}
	}
	return t.String()
}

// ticket is what both kinds of ticket hold.
type ticket struct {
	account, requestID, method, url, route string
	time                                   time.Time
	status, cause, waited                  string
	message                                string
	errs                                   []string
	retryAfter                             string
	attempt                                int
	body, hint                             string
}

func (t ticket) String() string {
	var b strings.Builder
	line := func(label, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%-12s %s\n", label+":", redact.Text(value, nil, false))
		}
	}
	b.WriteString("IdentityCall support request\n")
	line("Account", t.account)
	if !t.time.IsZero() {
		line("Time", t.time.UTC().Format(time.RFC3339))
	}
	line("Request ID", t.requestID)
	endpoint, params := splitURL(t.url)
	line("Request", strings.TrimSpace(t.method+" "+endpoint))
	if t.route != "" {
		line("Endpoint", t.method+" "+t.route)
	}
	line("Parameters", params)
	line("Status", t.status)
	line("Cause", t.cause)
	if t.cause != "" {
		line("Waited", t.waited)
	}
	line("Error", t.message)
	if len(t.errs) > 0 {
		b.WriteString("Errors:\n")
		for _, msg := range t.errs {
			fmt.Fprintf(&b, "  - %s\n", redact.Text(msg, nil, false))
		}
	}
	line("Retry after", t.retryAfter)
	if t.attempt > 1 {
		line("Attempts", fmt.Sprint(t.attempt))
	}
	line("Body", t.body)
	line("Hint", t.hint)
	return redact.MaskKeys(b.String())
}

// splitURL splits a (redacted) URL into its endpoint and its decoded query
// parameters, "name=value" joined by ", ".
func splitURL(raw string) (endpoint, params string) {
	endpoint, query, _ := strings.Cut(raw, "?")
	var parts []string
	for part := range strings.SplitSeq(query, "&") {
		if part != "" {
			k, v, _ := strings.Cut(part, "=")
			parts = append(parts, redact.QueryUnescape(k)+"="+redact.QueryUnescape(v))
		}
	}
	return endpoint, strings.Join(parts, ", ")
}
