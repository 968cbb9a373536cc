package main

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/identitycall/idctrace/internal/ticket"
)

// idSlack is how long before the first failure a storm summary counted the
// call of an ID may have started: its ID is made before its first attempt,
// and retries and rate-limit waits come between.
const idSlack = 5 * time.Minute

// The bounds of what ticket keeps of one ID, so that its work is linear in
// the lines read and its memory bounded, even for an ID that a service
// gives to every call.
const (
	maxTickets = 10  // calls printed: the most recent
	maxKept    = 100 // entries of the ID grouped into calls: the most recent
	maxKinds   = 100 // kinds of storm summary counted for an ID not found
)

// finder collects what logs say of one request ID.
type finder struct {
	id       string
	made     time.Time   // when the ID was made, for a UUID that says (version 1, 6, 7); else zero
	entries  []*logEntry // the ID's own: the most recent maxKept, and those read since they were picked
	seen     int         // entries of the ID read
	dropped  bool        // entries older than the most recent maxKept were dropped
	named    *logEntry   // the latest storm summary whose first or last ID it is
	counted  []*kindCount
	kinds    map[kindKey]int // the index in counted of each kind
	beyond   int             // failures of kinds read after maxKinds others
	compared int             // comparisons of entries made, which tests count
}

// kindKey is a kind of failure a storm summary counts.
type kindKey struct{ method, route, outcome string }

// kindCount is what the storm summaries of one kind that may hold the ID
// counted.
type kindCount struct {
	kindKey
	failures    int
	first, last time.Time
}

func newFinder(id string) *finder {
	f := &finder{id: id, kinds: make(map[kindKey]int)}
	if u, err := uuid.Parse(id); err == nil {
		switch u.Version() {
		case 1, 6, 7:
			f.made = time.Unix(u.Time().UnixTime()).UTC()
		}
	}
	return f
}

func (f *finder) add(e *logEntry) {
	switch {
	case !e.summary:
		if e.requestID == f.id {
			f.seen++
			f.entries = append(f.entries, e)
			if len(f.entries) == 2*maxKept {
				f.entries = f.recent(f.entries)
			}
		}
	case e.firstRequestID == f.id || e.lastRequestID == f.id:
		if f.named == nil || namedAt(e, f.id).After(namedAt(f.named, f.id)) {
			f.named = e
		}
	default:
		first, last := cmp.Or(e.firstAt, e.time), cmp.Or(e.lastAt, e.time)
		// An ID made after the last failure counted, or long before the
		// first, is not among them; a UUID's time is in milliseconds.
		if !f.made.IsZero() && (f.made.After(last.Add(time.Millisecond)) || f.made.Before(first.Add(-idSlack))) {
			return
		}
		k := kindKey{method: e.method, route: e.route, outcome: summaryOutcome(e)}
		i, ok := f.kinds[k]
		switch {
		case ok:
		case len(f.counted) < maxKinds:
			i = len(f.counted)
			f.kinds[k] = i
			f.counted = append(f.counted, &kindCount{kindKey: k, first: first, last: last})
		default:
			f.beyond = addSat(f.beyond, e.suppressed)
			return
		}
		c := f.counted[i]
		c.failures = addSat(c.failures, e.suppressed)
		if first.Before(c.first) {
			c.first = first
		}
		if last.After(c.last) {
			c.last = last
		}
	}
}

// recent sorts entries, drops the same entry read twice (a log given
// twice), and returns the most recent maxKept of them.
func (f *finder) recent(entries []*logEntry) []*logEntry {
	slices.SortStableFunc(entries, func(a, b *logEntry) int {
		f.compared++
		return cmp.Or(started(a).Compare(started(b)), cmp.Compare(a.attempt, b.attempt))
	})
	entries = slices.CompactFunc(entries, func(a, b *logEntry) bool {
		f.compared++
		return a.attempt == b.attempt && started(a).Equal(started(b)) && a.status == b.status && a.err == b.err && a.url == b.url
	})
	if n := len(entries) - maxKept; n > 0 {
		f.dropped = true
		kept := copy(entries, entries[n:])
		clear(entries[kept:cap(entries)]) // what the dropped entries held can go
		entries = entries[:kept]
	}
	return entries
}

// tickets returns a ticket for each call of the ID, oldest first: one,
// unless the ID was given to more calls (as a service's own request ID
// can be), and then those of the most recent maxTickets. An ID only storm
// summaries name gets the ticket of the latest. The notes say what the
// tickets cannot.
func (f *finder) tickets(account string) (out []ticket.Ticket, notes []string) {
	calls := f.calls(f.recent(f.entries))
	shown := calls[max(0, len(calls)-maxTickets):]
	switch {
	case f.dropped:
		notes = append(notes, fmt.Sprintf("request ID %q names %d failure entries in these logs: tickets for the %d most recent calls among its latest %d entries, oldest first",
			clean(f.id), f.seen, len(shown), maxKept))
	case len(calls) > len(shown):
		notes = append(notes, fmt.Sprintf("request ID %q names %d calls in these logs: tickets for the %d most recent, oldest first", clean(f.id), len(calls), len(shown)))
	case len(calls) > 1:
		notes = append(notes, fmt.Sprintf("request ID %q names %d calls in these logs: a ticket for each, oldest first", clean(f.id), len(calls)))
	}
	for _, call := range shown {
		out = append(out, callTicket(call, account))
		if last := call[len(call)-1]; last.retryIn > 0 {
			notes = append(notes, fmt.Sprintf("attempt %d of the call that started at %s was retried, and no later attempt is in these logs: it succeeded, or was not logged",
				last.attempt, started(call[0]).UTC().Format(milliLayout)))
		}
	}
	if len(out) == 0 && f.named != nil {
		out = append(out, summaryTicket(f.named, f.id, account))
	}
	return out, notes
}

// calls groups entries, sorted, by call: an attempt after the first joins
// the call with the same request whose last attempt, one or more before
// it, ends nearest to its start. Each entry is matched against every call
// so far: entries are at most 2*maxKept.
func (f *finder) calls(entries []*logEntry) [][]*logEntry {
	var out [][]*logEntry
	for _, e := range entries {
		best, gap := -1, time.Duration(0)
		for i, call := range out {
			f.compared++
			prev := call[len(call)-1]
			if e.attempt <= 1 || prev.attempt >= e.attempt || prev.method != e.method || prev.url != e.url {
				continue
			}
			next := started(prev).Add(prev.duration + prev.retryIn + e.queued)
			if d := started(e).Sub(next).Abs(); best < 0 || d < gap {
				best, gap = i, d
			}
		}
		if best < 0 {
			out = append(out, []*logEntry{e})
		} else {
			out[best] = append(out[best], e)
		}
	}
	return out
}

// callTicket is the ticket of one call, as [idctrace.APIError.SupportTicket]
// writes it: the fields of the attempt whose result the call returned,
// every attempt, and the time from the call's start (the first attempt's
// wait for a rate-limit slot included) to the last one's end.
func callTicket(call []*logEntry, account string) ticket.Ticket {
	first, last := call[0], call[len(call)-1]
	end := last
	// A retry that got no rate-limit slot before the deadline is not sent,
	// and the call returns the response it would have retried.
	if n := len(call); n > 1 && last.status == 0 && last.retrySkipped == "deadline" && call[n-2].status != 0 {
		end = call[n-2]
	}
	t := ticket.Ticket{
		Account: account, Time: started(first), RequestID: clean(end.requestID),
		Method: clean(end.method), URL: cleanURL(end.method, end.url), Route: clean(end.route),
		Message: clean(end.err), Body: clean(end.body), Hint: clean(end.hint),
		Count: last.attempt, Waited: started(last).Add(last.duration).Sub(started(first).Add(-first.queued)),
	}
	for _, msg := range end.errs {
		t.Errors = append(t.Errors, clean(msg))
	}
	if end.status != 0 {
		t.Status = statusText(end.status)
	} else {
		t.Cause, t.Message = t.Message, ""
	}
	if end.retryAfter > 0 || end.status == http.StatusTooManyRequests {
		t.RetryAfter = end.retryAfter.String()
	}
	for _, e := range call {
		outcome := clean(cmp.Or(e.errorType, "_OTHER"))
		if e.status != 0 {
			outcome = statusText(e.status)
		}
		t.Attempts = append(t.Attempts, ticket.Attempt{N: e.attempt, Time: started(e), Outcome: outcome,
			Duration: e.duration, Queued: e.queued, RetryIn: e.retryIn})
	}
	return t
}

// summaryTicket is the ticket of the failure with ID id that the storm
// summary s counted: its kind, when it started, and the summary's count
// and window.
func summaryTicket(s *logEntry, id, account string) ticket.Ticket {
	t := ticket.Ticket{
		Account: account, Time: namedAt(s, id), RequestID: clean(id), Method: clean(s.method), Route: clean(s.route),
		Summary: &ticket.Summary{Count: s.suppressed, FirstAt: cmp.Or(s.firstAt, s.time), LastAt: cmp.Or(s.lastAt, s.time),
			FirstID: clean(s.firstRequestID), LastID: clean(s.lastRequestID)},
	}
	if s.status != 0 {
		t.Status = statusText(s.status)
	} else {
		t.Cause = clean(s.errorType)
	}
	return t
}

// notFound is the message for an ID the logs do not hold: with what the
// storm summaries that may hold it counted.
func (f *finder) notFound(stats *logStats) string {
	var b strings.Builder
	fmt.Fprintf(&b, "request ID %q", clean(f.id))
	if !f.made.IsZero() {
		fmt.Fprintf(&b, " (made %s)", f.made.Format(milliLayout))
	}
	fmt.Fprintf(&b, " not found in %s (%s, %s)", plural(stats.logs, "log"),
		plural(stats.entries, "failure entry"), plural(stats.summaries, "storm summary"))
	if len(f.counted) == 0 {
		return b.String()
	}
	slices.SortStableFunc(f.counted, func(a, b *kindCount) int { return cmp.Compare(b.failures, a.failures) })
	total := f.beyond
	for _, c := range f.counted {
		total = addSat(total, c.failures)
	}
	of := "in these logs"
	if !f.made.IsZero() {
		of = "of that time"
	}
	fmt.Fprintf(&b, "; storm summaries %s counted %d failures of which it may be one:", of, total)
	const listed = 5
	for i, c := range f.counted[:min(len(f.counted), listed)] {
		sep := ","
		if i == 0 {
			sep = ""
		}
		fmt.Fprintf(&b, "%s %d %s %s %s from %s to %s", sep, c.failures, clean(c.method),
			cmp.Or(clean(c.route), "(undocumented path)"), c.outcome, c.first.UTC().Format(milliLayout), c.last.UTC().Format(milliLayout))
	}
	if n := len(f.counted) - listed; n > 0 {
		fmt.Fprintf(&b, ", and %s", plural(n, "more kind"))
	}
	if f.beyond > 0 {
		fmt.Fprintf(&b, ", and %d failures of kinds read after %d others", f.beyond, maxKinds)
	}
	return b.String()
}

const milliLayout = "2006-01-02T15:04:05.000Z07:00"

// summaryOutcome is a summary's status, or its cause.
func summaryOutcome(s *logEntry) string {
	if s.status != 0 {
		return strconv.Itoa(s.status)
	}
	return clean(s.errorType)
}

// started is when e's attempt started; for an entry without started_at,
// when it was written.
func started(e *logEntry) time.Time { return cmp.Or(e.startedAt, e.time) }

// namedAt is when the failure with ID id that s counted started.
func namedAt(s *logEntry, id string) time.Time {
	if id == s.firstRequestID {
		return cmp.Or(s.firstAt, s.time)
	}
	return cmp.Or(s.lastAt, s.time)
}

// statusText is a status as the root package's tickets write it.
func statusText(code int) string {
	return strings.TrimSpace(strconv.Itoa(code) + " " + http.StatusText(code))
}
