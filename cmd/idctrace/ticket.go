package main

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/identitycall/idctrace/internal/api"
	"github.com/identitycall/idctrace/internal/redact"
)

// emailNote follows a ticket without an account email.
const emailNote = "(Support needs your account's email: run again with -email you@example.com, or set IDENTITYCALL_EMAIL.)"

// runTicket is `idctrace ticket`: the support ticket of one request ID,
// from logs.
func runTicket(args []string, sys *system) int {
	fs := flag.NewFlagSet("idctrace ticket", flag.ContinueOnError)
	fs.SetOutput(sys.stderr)
	var logs logFlags
	fs.Var(&logs, "log", "a JSON-lines log, plain or gzip; repeat for more; none or - reads standard input")
	email := fs.String("email", sys.getenv("IDENTITYCALL_EMAIL"), "account email for the ticket (env IDENTITYCALL_EMAIL)")
	fs.Usage = func() {
		fmt.Fprint(sys.stderr, `Usage: idctrace ticket [-log FILE]... [-email you@example.com] REQUEST_ID

Prints the support ticket of the call with that request ID, from the
entries idctrace logged of it: the last attempt's status or cause, error,
body and hint, every attempt when there were retries, and the time the
whole call took. An ID that only a storm summary names gets a ticket from
the summary. An ID given to more calls (as a service's own ID can be) gets
a ticket for each of its 10 most recent, found among its latest 100
entries. Logs are JSON lines from zap or from log/slog through idcslog,
plain or gzip-compressed; lines are read as 'idctrace report -h' says.
Everything printed is redacted. Exits with 1 when the ID is not in the
logs.

Flags:
`)
		fs.PrintDefaults()
	}
	// Flags may come after the ID too, as in "idctrace ticket ID -log f".
	var ids []string
	for rest := args; ; rest = fs.Args()[1:] {
		if code, stop := parseFlags(fs, rest); stop {
			return code
		}
		if fs.NArg() == 0 {
			break
		}
		ids = append(ids, fs.Arg(0))
	}
	if len(ids) != 1 || strings.TrimSpace(ids[0]) == "" {
		fmt.Fprintf(sys.stderr, "idctrace ticket: want one request ID, got %d arguments; run 'idctrace ticket -h' for usage\n", len(ids))
		return 2
	}
	f := newFinder(strings.TrimSpace(ids[0]))
	stats, err := readLogs(logs, sys.stdin, f.add)
	if err != nil {
		fmt.Fprintln(sys.stderr, "idctrace ticket:", clean(err.Error()))
		return 1
	}
	for _, note := range stats.notes {
		fmt.Fprintln(sys.stderr, "idctrace ticket:", clean(note))
	}
	tickets, notes := f.tickets(clean(*email))
	if len(tickets) == 0 {
		fmt.Fprintln(sys.stderr, "idctrace ticket:", f.notFound(&stats))
		return 1
	}
	for _, note := range notes {
		fmt.Fprintln(sys.stderr, "idctrace ticket:", note)
	}
	var out strings.Builder
	for i, t := range tickets {
		if i > 0 {
			out.WriteByte('\n')
		}
		out.WriteString(t.String())
	}
	if _, err := io.WriteString(sys.stdout, out.String()); err != nil {
		fmt.Fprintln(sys.stderr, "idctrace ticket:", err)
		return 1
	}
	if *email == "" {
		fmt.Fprintln(sys.stderr, emailNote)
	}
	return 0
}

// clean makes a string from a log safe to print: a log holds what servers
// echoed, keys among it, in any escaping.
func clean(s string) string { return redact.Text(s, nil, false) }

// cleanURL redacts a URL taken from a log as the Transport redacts one: a
// log written by another version or tool may hold query values this one
// would not print.
func cleanURL(method, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		before, _, _ := strings.Cut(raw, "?")
		return clean(before)
	}
	rel, _ := api.Relative(u.Path)
	e, _ := api.Match(cmp.Or(method, http.MethodGet), rel)
	return redact.URL(u, e.LoggedParam, nil)
}
