// Command idctrace shows the idctrace middleware at work and calls the
// IdentityCall API with it.
//
// With no arguments it starts an embedded IdentityCall simulator and makes
// real calls to it: one per documented failure, each printed with the
// error it returns, then a storm of failures, a batch under a quota, and a
// support ticket. -tour prints every call with the client's log entry and
// the server's line with the same request ID, and serves the debug page.
//
//	go run ./cmd/idctrace                # the demo
//	go run ./cmd/idctrace -tour          # every entry and server line
//	go run ./cmd/idctrace -tour -json    # the same, logging JSON
//
// With arguments it makes one call to a real API, reading the key from
// IDENTITYCALL_API_KEY (never from the command line, where shell history
// would keep it), checked before anything is sent:
//
//	idctrace [flags] METHOD PATH [BODY]
//	IDENTITYCALL_API_KEY=idc_... idctrace GET '/recordings?page=2'
//	IDENTITYCALL_API_KEY=idc_... idctrace -F file=@call.wav -F project_id=1 POST /recordings
//
// The response body goes to stdout. On a failure, with or without a
// response, the log line and a support ticket with its request ID and hint
// go to stderr and the exit code is 1; bad usage exits with 2. Everything
// printed is redacted as idctrace's logs are.
//
// BODY @FILE and the files of -F are streamed from disk, never held in
// memory, and sent again for a retry; only regular files are accepted (a
// device or a named pipe has no length and may never end). A file that
// changes while it is sent fails the call rather than send another body.
// BODY - reads standard input: up to 1 MiB it is sent like a literal and
// retried like one; beyond, it streams and is sent once. While a body is
// sent, progress shows on stderr when it is a terminal, or with -progress.
// A redirect from https to http is refused: it would send the key in
// clear.
//
// Subcommands are named by the first argument:
//
//	idctrace ticket [-log FILE]... [-email you@example.com] REQUEST_ID
//	idctrace report [-log FILE]... [-since DURATION|TIME] [-json]
//	idctrace sim [-addr HOST:PORT] [-rate N/DURATION] [-processing DURATION]
//
// ticket reads JSON-lines logs (as report does) and prints the support
// ticket of one request ID: the call's last attempt, every attempt when
// retries ran, and the time the whole call took; for an ID that only a
// storm summary names, the summary's kind, count and window. An ID not in
// the logs exits with 1, saying how many failures storm summaries counted
// that it may be one of.
//
// report reads JSON-lines logs (zap's JSON encoder, or log/slog's
// JSONHandler through idcslog; plain or gzip; standard input without
// -log) and prints idctrace's failures by endpoint and status or cause,
// with counts that include what storm summaries counted, first and last
// times and the most common hint. -since takes a duration back from now,
// or a time. Lines that are not idctrace entries are skipped and counted.
//
// sim runs the IdentityCall simulator of package idctest until
// interrupted, and prints its URL and a key with every permission: the
// simulator's own key, printed whole, the one exception to redaction. Like
// the service for a new account, it allows each key 60 requests a minute
// (-rate 0 for no limit) and completes each transcription 3 s after its
// upload (-processing).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"time"

	"github.com/identitycall/idctrace/internal/redact"
)

const defaultBaseURL = "https://api.identitycall.ai/api/v1/public"

// config is what the flags and the environment say.
type config struct {
	baseURL  string
	apiKey   string
	retries  int
	email    string
	json     bool
	timeout  time.Duration
	form     formFlags
	progress bool
	tour     bool          // the demo prints every log line
	serve    bool          // the demo keeps its debug page up until interrupted
	serveFor time.Duration // else, for this long
}

// system is what run takes from the process, so that tests can give
// their own.
type system struct {
	getenv   func(string) string
	stdin    io.Reader
	stdout   io.Writer
	stderr   io.Writer
	terminal bool              // stderr is a terminal: -progress defaults to true
	base     http.RoundTripper // under idctrace's Transport; nil: http.DefaultTransport
	now      func() time.Time  // nil: time.Now
}

func (sys *system) clock() func() time.Time {
	if sys.now == nil {
		return time.Now
	}
	return sys.now
}

func main() {
	ctx, stop := context.Background(), func() {}
	if !readsLogs(os.Args[1:]) {
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt)
	}
	code := run(ctx, os.Args[1:], &system{
		getenv: os.Getenv, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		terminal: isTerminal(os.Stderr),
	})
	stop()
	os.Exit(code)
}

// readsLogs reports whether args run a subcommand that reads logs. Those
// hold nothing to clean up, and may wait on standard input: an interrupt
// ends them at once, as it ends cat.
func readsLogs(args []string) bool {
	return len(args) > 0 && (args[0] == "report" || args[0] == "ticket")
}

// isTerminal reports whether f is a character device, as a terminal is.
// /dev/null is one too, which costs nothing: progress written there is lost.
func isTerminal(f *os.File) bool {
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, sys *system) int {
	if len(args) > 0 {
		switch args[0] {
		case "report":
			return runReport(args[1:], sys)
		case "ticket":
			return runTicket(args[1:], sys)
		case "sim":
			return runSim(ctx, args[1:], sys)
		}
	}
	stderr := sys.stderr
	fs := flag.NewFlagSet("idctrace", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(fs, stderr) }
	getenv := sys.getenv
	cfg := config{apiKey: strings.TrimSpace(getenv("IDENTITYCALL_API_KEY"))}
	baseURL := getenv("IDENTITYCALL_BASE_URL")
	if baseURL == "" {
		baseURL = defaultBaseURL
	}
	fs.StringVar(&cfg.baseURL, "base-url", baseURL, "API base URL (env IDENTITYCALL_BASE_URL)")
	fs.IntVar(&cfg.retries, "retries", 2, "retries of 429, 5xx and dropped connections; 0 disables")
	fs.StringVar(&cfg.email, "email", getenv("IDENTITYCALL_EMAIL"), "account email for the support ticket (env IDENTITYCALL_EMAIL)")
	fs.BoolVar(&cfg.json, "json", false, "log JSON lines instead of the console format")
	fs.BoolVar(&cfg.tour, "tour", false, "demo: print every call with its log entry and the server's line (-json implies it)")
	fs.DurationVar(&cfg.timeout, "timeout", 60*time.Second, "timeout of the whole call, retries included; 0 means none")
	fs.Var(&cfg.form, "F", "a multipart form part, name=value or name=@file; repeat for more")
	fs.BoolVar(&cfg.serve, "serve", false, "demo: keep the debug page up until interrupted")
	fs.DurationVar(&cfg.serveFor, "serve-for", 3*time.Second, "demo: how long -tour keeps the debug page up without -serve")
	fs.BoolVar(&cfg.progress, "progress", sys.terminal, "show on stderr how much of a body is sent; on by default when stderr is a terminal")
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	if fs.NArg() == 0 {
		if err := runDemo(ctx, sys.stdout, cfg); err != nil {
			fmt.Fprintln(stderr, "idctrace: demo:", err)
			return 1
		}
		return 0
	}
	c, err := parseCall(fs.Args(), cfg, sys.stdin)
	if err != nil {
		fmt.Fprintln(stderr, "idctrace:", cfg.redact(err.Error()))
		fmt.Fprintln(stderr, "Run 'idctrace -h' for usage.")
		return 2
	}
	return c.do(ctx, sys)
}

// redact makes text safe to print: keys masked, the key and the base
// URL's password replaced, and any user info in a URL that did not parse
// dropped.
func (c config) redact(s string) string {
	secrets := []string{c.apiKey}
	if u, err := url.Parse(c.baseURL); err == nil {
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, p, url.QueryEscape(p), url.PathEscape(p))
		}
	}
	return redact.Text(userInfo.ReplaceAllString(s, "//"), secrets, false)
}

// userInfo finds the user info of a URL in text.
var userInfo = regexp.MustCompile(`//[^/@\s"]*@`)

// parseFlags parses args with fs. With -h it prints fs's usage and stops
// with 0; with a bad flag it prints the problem and where the usage is, and
// stops with 2: the whole usage would bury the problem.
func parseFlags(fs *flag.FlagSet, args []string) (code int, stop bool) {
	usage := fs.Usage
	fs.Usage = func() {}
	defer func() { fs.Usage = usage }()
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		usage()
		return 0, true
	case err != nil:
		fmt.Fprintf(fs.Output(), "Run '%s -h' for usage.\n", fs.Name())
		return 2, true
	}
	return 0, false
}

func usage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprint(w, `Usage:
  idctrace [-tour]                  run the demo against an embedded simulator
  idctrace [flags] METHOD PATH [BODY]
                                    call the IdentityCall API
  idctrace ticket [-log FILE]... [-email you@example.com] REQUEST_ID
                                    the support ticket of a request ID, from JSON logs
  idctrace report [-log FILE]... [-since DURATION|TIME] [-json]
                                    idctrace's failures in JSON logs, by endpoint
  idctrace sim [-addr HOST:PORT] [-rate N/DURATION] [-processing DURATION]
                                    run the simulator, print its URL and a key

METHOD is GET, POST, PUT, PATCH or DELETE. PATH is relative to the base URL,
for example /recordings?page=2. BODY is JSON sent as application/json:
a literal, @FILE, or - for standard input. Uploads send a multipart form
instead, one -F per part:

  idctrace -F file=@call.wav -F project_id=1 -F external_id=crm-42 POST /recordings

Files are streamed from disk and must be regular files. Standard input is
sent once, without retries, when it is longer than 1 MiB. A redirect from
https to http is refused. The API key is read from IDENTITYCALL_API_KEY only.
Run 'idctrace ticket -h', 'idctrace report -h' or 'idctrace sim -h' for their flags.

Flags:
`)
	fs.PrintDefaults()
}
