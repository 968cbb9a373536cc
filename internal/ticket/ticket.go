// Package ticket writes the plain-text block a user pastes into an
// IdentityCall support request. The root package fills it from a failure
// record, the command from log entries; both print it through String, so a
// ticket reads the same wherever it comes from.
package ticket

import (
	"cmp"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/identitycall/idctrace/internal/redact"
)

// Ticket is what support asks for. Its fields must already be redacted:
// String only keeps each of them on one line.
type Ticket struct {
	Account    string
	Time       time.Time // when the call started
	RequestID  string
	Method     string
	URL        string // split into the request and its parameters
	Route      string
	Status     string // "404 Not Found"; "" for a transport error
	Cause      string // the transport error, when there is no status
	Message    string
	Errors     []string
	RetryAfter string
	Attempts   []Attempt     // every attempt of the call, oldest first; a block when more than one
	Count      int           // the number of attempts, when Attempts is not known
	Waited     time.Duration // from the call's start to the end of its last attempt
	Body       string
	Hint       string
	Summary    *Summary // set when the ticket stands for failures a storm summary counted
}

// Attempt is one attempt of a call.
type Attempt struct {
	N        int // the attempt's number, 1 for the first; 0: its place in Attempts
	Time     time.Time
	Outcome  string        // the status, such as "503 Service Unavailable", or the cause
	Duration time.Duration // until the response, or the error
	Queued   time.Duration // waited for a rate-limit slot first
	RetryIn  time.Duration // the wait before the next attempt; 0 for the last
}

// Summary is a storm summary: failures of one kind in one window that were
// counted rather than logged one by one.
type Summary struct {
	Count           int // the failures it counted, the ticket's among them
	FirstAt, LastAt time.Time
	FirstID, LastID string
}

// String returns the ticket, one field a line, the empty ones left out.
func (t Ticket) String() string {
	var b strings.Builder
	line := func(label, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%-12s %s\n", label+":", oneLine(value))
		}
	}
	b.WriteString("IdentityCall support request\n")
	line("Account", t.Account)
	if !t.Time.IsZero() {
		line("Time", t.Time.UTC().Format(time.RFC3339))
	}
	line("Request ID", t.RequestID)
	endpoint, params := splitURL(t.URL)
	if endpoint != "" || t.Route == "" { // without a URL, the Endpoint line shows the method
		line("Request", strings.TrimSpace(t.Method+" "+endpoint))
	}
	if t.Route != "" {
		line("Endpoint", t.Method+" "+t.Route)
	}
	line("Parameters", params)
	line("Status", t.Status)
	line("Cause", t.Cause)
	line("Error", t.Message)
	if len(t.Errors) > 0 {
		b.WriteString("Errors:\n")
		for _, msg := range t.Errors {
			fmt.Fprintf(&b, "  - %s\n", oneLine(msg))
		}
	}
	line("Retry after", t.RetryAfter)
	switch {
	case len(t.Attempts) > 1:
		b.WriteString("Attempts:\n")
		for i, a := range t.Attempts {
			fmt.Fprintf(&b, "  %d. %s  %s  took %s", cmp.Or(a.N, i+1), a.Time.UTC().Format("15:04:05.000"), oneLine(a.Outcome), round(a.Duration))
			// A wait that rounds to nothing is left out, not shown as 0s.
			if q := round(a.Queued); q > 0 {
				fmt.Fprintf(&b, ", queued %s", q)
			}
			if r := round(a.RetryIn); r > 0 {
				fmt.Fprintf(&b, ", retried after %s", r)
			}
			b.WriteByte('\n')
		}
	case t.Count > 1:
		line("Attempts", fmt.Sprint(t.Count))
	}
	if w := round(t.Waited); w > 0 {
		line("Waited", w.String())
	}
	if s := t.Summary; s != nil {
		line("Summarized", fmt.Sprintf("one of %d failures of this kind counted from %s to %s, not logged one by one (first %s, last %s)",
			s.Count, s.FirstAt.UTC().Format("15:04:05.000"), s.LastAt.UTC().Format("15:04:05.000Z"), s.FirstID, s.LastID))
	}
	line("Body", t.Body)
	line("Hint", t.Hint)
	return b.String()
}

// round keeps a duration readable: milliseconds, or microseconds below one.
func round(d time.Duration) time.Duration {
	if d >= time.Millisecond || d <= 0 {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}

// splitURL splits a redacted URL into its endpoint and its decoded query
// parameters, "name=value" joined by ", ". Decoding makes text that the
// redaction of the URL did not see, such as a key with a letter escaped
// ("%69dc_..."): the decoded parameters have their keys masked.
func splitURL(raw string) (endpoint, params string) {
	endpoint, query, _ := strings.Cut(raw, "?")
	var parts []string
	for part := range strings.FieldsFuncSeq(query, func(r rune) bool { return r == '&' || r == ';' }) {
		k, v, _ := strings.Cut(part, "=")
		parts = append(parts, redact.MaskKeys(redact.QueryUnescape(k))+"="+redact.MaskKeys(redact.QueryUnescape(v)))
	}
	return endpoint, strings.Join(parts, ", ")
}

// oneLine keeps a value on its line: line breaks (Unicode's too: U+2028
// and U+2029) and tabs become spaces, other control characters (C1's too,
// such as U+0085, which some readers take for a line break) and invalid
// UTF-8 U+FFFD.
func oneLine(s string) string {
	clean := true
	for i := 0; clean && i < len(s); i++ {
		clean = 0x20 <= s[i] && s[i] < 0x7f
	}
	if clean {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t' || r == '\u2028' || r == '\u2029':
			return ' '
		case r < 0x20 || r == 0x7f || 0x80 <= r && r < 0xa0:
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}
