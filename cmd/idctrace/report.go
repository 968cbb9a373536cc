package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/identitycall/idctrace/internal/redact"
)

// logFlags collects repeated -log flags.
type logFlags []string

func (f *logFlags) String() string     { return strings.Join(*f, ", ") }
func (f *logFlags) Set(s string) error { *f = append(*f, s); return nil }

// runReport is `idctrace report`: failures in logs, by kind.
func runReport(args []string, sys *system) int {
	fs := flag.NewFlagSet("idctrace report", flag.ContinueOnError)
	fs.SetOutput(sys.stderr)
	var logs logFlags
	fs.Var(&logs, "log", "a JSON-lines log, plain or gzip; repeat for more; none or - reads standard input")
	since := fs.String("since", "", "only failures from then on: a duration back from now (90m, 24h) or a time (2026-03-01T14:00:00Z)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	fs.Usage = func() {
		fmt.Fprint(sys.stderr, `Usage: idctrace report [-log FILE]... [-since DURATION|TIME] [-json]

Prints the failures that idctrace logged, by endpoint and status or cause:
how many (entries written, plus those storm summaries counted), the first
and last, and the most common hint. Logs are JSON lines from zap or from
log/slog through idcslog, plain or gzip-compressed. Everything printed is
redacted.

Lines that are not idctrace entries are skipped and counted, and so are
lines longer than 1 MiB. So is an entry that cannot be right, counted as
unreadable, in the table and in JSON alike: one with a field of the wrong
type, a time before 2000 or after 2200, a negative count, a negative
duration or one longer than 200 years, or a status that is not an HTTP
status. Counts stop at the largest int64 rather than overflow. A path that
is no documented endpoint is shown with {id} for each segment holding a
digit (but a version, such as v1). The first 100 kinds of failure read
get a row each; the failures of kinds first read after that are summed in
a last row, (other kinds). A row's most common hint is counted among the
first 8 hints it read. Text fields are cut to 4 KiB.

Flags:
`)
		fs.PrintDefaults()
	}
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(sys.stderr, "idctrace report: unexpected argument %q; logs are given with -log\n", redact.Text(fs.Arg(0), nil, false))
		return 2
	}
	cut, err := parseSince(*since, sys.clock()())
	if err != nil {
		fmt.Fprintln(sys.stderr, "idctrace report:", redact.Text(err.Error(), nil, false))
		return 2
	}
	r := &report{since: cut, groups: make(map[groupKey]*group)}
	stats, err := readLogs(logs, sys.stdin, r.add)
	if err != nil {
		fmt.Fprintln(sys.stderr, "idctrace report:", redact.Text(err.Error(), nil, false))
		return 1
	}
	for _, note := range stats.notes {
		fmt.Fprintln(sys.stderr, "idctrace report:", redact.Text(note, nil, false))
	}
	if *asJSON {
		err = r.writeJSON(sys.stdout, &stats)
	} else {
		err = r.writeTable(sys.stdout, &stats)
	}
	if err != nil {
		fmt.Fprintln(sys.stderr, "idctrace report:", err)
		return 1
	}
	return 0
}

// parseSince reads -since: a duration counts back from now, which makes
// "the last hour" mean the same for a live log and a copy; for an older
// log, a time says where to start.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("-since %s: want a duration back from now, such as 90m", s)
		}
		return now.Add(-d), nil
	}
	for _, layout := range append(timeLayouts, "2006-01-02T15:04:05", time.DateTime, time.DateOnly) {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil // without an offset, UTC
		}
	}
	return time.Time{}, fmt.Errorf("-since %q: want a duration (90m, 24h) or a time (2026-03-01T14:00:00Z)", s)
}

// groupKey is a kind of failure: a status, or a transport error's cause.
type groupKey struct {
	method, endpoint string
	status           int
	cause            string
}

// The bounds of a report, so that its memory and length stay bounded
// whatever the logs hold.
const (
	maxRows  = 100 // kinds of failure with a row of their own
	maxHints = 8   // hint texts counted in a row
)

// group is what the logs say of one kind of failure.
type group struct {
	groupKey
	failures, entries, suppressed int
	first, last                   time.Time
	firstRequestID, lastRequestID string
	hints                         map[string]int // at most maxHints
	lastError                     string         // of the last transport error
}

type report struct {
	since   time.Time
	groups  map[groupKey]*group // at most maxRows
	other   *group              // kinds first read after maxRows others; nil until one is
	leftOut int                 // failures before since
}

// add counts e in its kind's group.
func (r *report) add(e *logEntry) {
	first, last, n := e.time, e.time, 1
	firstID, lastID := e.requestID, e.requestID
	if first.IsZero() {
		first, last = e.startedAt, e.startedAt
	}
	if e.summary {
		n, firstID, lastID = e.suppressed, e.firstRequestID, e.lastRequestID
		first, last = cmp.Or(e.firstAt, e.time), cmp.Or(e.lastAt, e.time)
	}
	if !r.since.IsZero() && last.Before(r.since) {
		r.leftOut = addSat(r.leftOut, n)
		return
	}
	k := groupKey{method: e.method, endpoint: endpoint(e), status: e.status}
	if k.status == 0 {
		k.cause = cmp.Or(e.errorType, "_OTHER")
	}
	g := r.groups[k]
	switch {
	case g != nil:
	case len(r.groups) < maxRows:
		g = &group{groupKey: k, hints: make(map[string]int)}
		r.groups[k] = g
	default:
		if r.other == nil {
			r.other = &group{hints: make(map[string]int)}
		}
		g = r.other
	}
	g.failures = addSat(g.failures, n)
	if e.summary {
		g.suppressed = addSat(g.suppressed, n)
	} else {
		g.entries++
		if _, ok := g.hints[e.hint]; e.hint != "" && (ok || len(g.hints) < maxHints) {
			g.hints[e.hint]++
		}
		if e.status == 0 {
			g.lastError = e.err
		}
	}
	if g.first.IsZero() || first.Before(g.first) {
		g.first, g.firstRequestID = first, firstID
	}
	if g.last.IsZero() || !last.Before(g.last) {
		g.last, g.lastRequestID = last, lastID
	}
}

// endpoint is e's route or, when it has none, its URL's path with {id}
// for each segment that holds a digit: such a path is no documented
// endpoint, and would otherwise make a kind of failure for each ID in it.
func endpoint(e *logEntry) string {
	if e.route != "" {
		return e.route
	}
	path, _, _ := strings.Cut(e.url, "?")
	if u, err := url.Parse(e.url); err == nil && u.Path != "" {
		path = u.Path
	}
	segments := strings.Split(path, "/")
	for i, seg := range segments {
		if strings.ContainsAny(seg, "0123456789") && !isVersion(seg) {
			segments[i] = "{id}"
		}
	}
	return strings.Join(segments, "/")
}

// isVersion reports whether seg names an API version, such as v1.
func isVersion(seg string) bool {
	return len(seg) > 1 && seg[0] == 'v' && strings.Trim(seg[1:], "0123456789") == ""
}

// row is a group as printed: every string redacted, since a log may hold
// what a server echoed, a key among it.
type row struct {
	Method         string    `json:"method"`
	Endpoint       string    `json:"endpoint"`
	Status         int       `json:"status,omitempty"`
	Cause          string    `json:"cause,omitempty"`
	Failures       int       `json:"failures"`
	Entries        int       `json:"entries"`
	Suppressed     int       `json:"suppressed"`
	First          time.Time `json:"first"`
	Last           time.Time `json:"last"`
	FirstRequestID string    `json:"first_request_id,omitempty"`
	LastRequestID  string    `json:"last_request_id,omitempty"`
	Hint           string    `json:"hint,omitempty"`
	LastError      string    `json:"last_error,omitempty"`
	Other          bool      `json:"other,omitempty"` // the sum of the kinds without a row
}

// rows are the groups, most failures first, and the other kinds last.
func (r *report) rows() []row {
	rows := make([]row, 0, len(r.groups)+1)
	for _, g := range r.groups {
		rows = append(rows, g.row())
	}
	slices.SortFunc(rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(b.Failures, a.Failures), cmp.Compare(a.Endpoint, b.Endpoint),
			cmp.Compare(a.Method, b.Method), cmp.Compare(a.Status, b.Status), cmp.Compare(a.Cause, b.Cause))
	})
	if r.other != nil {
		other := r.other.row()
		other.Endpoint, other.Other = "(other kinds)", true
		rows = append(rows, other)
	}
	return rows
}

// row is g as printed: every string redacted, since a log may hold what a
// server echoed, a key among it.
func (g *group) row() row {
	clean := func(s string) string { return redact.Text(s, nil, false) }
	return row{
		Method: clean(g.method), Endpoint: clean(g.endpoint), Status: g.status, Cause: clean(g.cause),
		Failures: g.failures, Entries: g.entries, Suppressed: g.suppressed,
		First: g.first.UTC(), Last: g.last.UTC(),
		FirstRequestID: clean(g.firstRequestID), LastRequestID: clean(g.lastRequestID),
		Hint: clean(commonest(g.hints)), LastError: clean(g.lastError),
	}
}

// commonest is the most frequent key of counts; of equals, the first in
// order, so that the report is the same from run to run.
func commonest(counts map[string]int) string {
	best, n := "", 0
	for k, c := range counts {
		if c > n || c == n && k < best {
			best, n = k, c
		}
	}
	return best
}

func (r *report) writeTable(w io.Writer, stats *logStats) error {
	rows := r.rows()
	var b strings.Builder
	if len(rows) == 0 {
		b.WriteString("No failures.\n")
	} else {
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "METHOD\tENDPOINT\tSTATUS\tFAILURES\tFIRST (UTC)\tLAST (UTC)\tHINT")
		for _, row := range rows {
			method, status := row.Method, row.Cause
			if row.Status != 0 {
				status = strconv.Itoa(row.Status)
			}
			if row.Other {
				method, status = "-", "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", method, row.Endpoint, status, row.Failures,
				stamp(row.First), stamp(row.Last), row.Hint)
		}
		tw.Flush() // a strings.Builder never fails
	}
	for line := range strings.Lines(b.String()) {
		if _, err := fmt.Fprintln(w, strings.TrimRight(line, " \n")); err != nil { // the padding of an empty hint
			return err
		}
	}
	_, err := fmt.Fprintln(w, r.summary(stats))
	return err
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.DateTime)
}

// summary is the report's last line: what was read and what was skipped.
func (r *report) summary(s *logStats) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Read %s from %s: %s, %s", plural(s.lines, "line"), plural(s.logs, "log"),
		plural(s.entries, "failure entry"), plural(s.summaries, "storm summary"))
	if r.leftOut > 0 {
		fmt.Fprintf(&b, "; %s before -since left out", plural(r.leftOut, "failure"))
	}
	fmt.Fprintf(&b, "; %s skipped (%d not idctrace entries, %d unreadable, %d longer than 1 MiB).",
		plural(s.skipped(), "line"), s.other, s.unreadable, s.tooLong)
	return b.String()
}

// plural writes n and noun, in the plural unless n is 1.
func plural(n int, noun string) string {
	switch {
	case n == 1:
	case strings.HasSuffix(noun, "y"):
		noun = noun[:len(noun)-1] + "ies"
	default:
		noun += "s"
	}
	return fmt.Sprintf("%d %s", n, noun)
}

func (r *report) writeJSON(w io.Writer, s *logStats) error {
	out := struct {
		Failures   []row `json:"failures"`
		Lines      int   `json:"lines"`
		Entries    int   `json:"entries"`
		Summaries  int   `json:"summaries"`
		LeftOut    int   `json:"left_out"`
		Skipped    int   `json:"skipped"`
		Other      int   `json:"skipped_other"`
		Unreadable int   `json:"skipped_unreadable"`
		TooLong    int   `json:"skipped_too_long"`
	}{r.rows(), s.lines, s.entries, s.summaries, r.leftOut, s.skipped(), s.other, s.unreadable, s.tooLong}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
