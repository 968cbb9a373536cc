package idctrace

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/identitycall/idctrace/internal/redact"
)

// SupportTicket returns a plain-text block to paste into an IdentityCall
// support ticket. It holds what support asks for: the error message(s), the
// request (method, endpoint and parameters, redacted), the status, the time
// (UTC, RFC 3339), the request ID, the attempt count when retries ran, and
// accountEmail. Like every string idctrace makes, it holds no part of a key
// beyond its last four characters.
func (e *APIError) SupportTicket(accountEmail string) string {
	var b strings.Builder
	line := func(label, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%-12s %s\n", label+":", redact.Text(value, nil, false))
		}
	}
	b.WriteString("IdentityCall support request\n")
	line("Account", accountEmail)
	if !e.Time.IsZero() {
		line("Time", e.Time.UTC().Format(time.RFC3339))
	}
	line("Request ID", e.RequestID)
	endpoint, params := splitURL(e.URL)
	line("Request", strings.TrimSpace(e.Method+" "+endpoint))
	line("Parameters", params)
	status := fmt.Sprint(e.StatusCode)
	if text := http.StatusText(e.StatusCode); text != "" {
		status += " " + text
	}
	line("Status", status)
	line("Error", e.Message)
	if len(e.Errors) > 0 {
		b.WriteString("Errors:\n")
		for _, msg := range e.Errors {
			fmt.Fprintf(&b, "  - %s\n", redact.Text(msg, nil, false))
		}
	}
	if e.RetryAfter > 0 || e.StatusCode == http.StatusTooManyRequests {
		line("Retry after", e.RetryAfter.String())
	}
	if e.Attempt > 1 {
		line("Attempts", fmt.Sprint(e.Attempt))
	}
	line("Body", e.Body)
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
			parts = append(parts, unescapeQuery(k)+"="+unescapeQuery(v))
		}
	}
	return endpoint, strings.Join(parts, ", ")
}

func unescapeQuery(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}
