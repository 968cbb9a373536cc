package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/idctest"
)

// The simulator allows each key burst requests a second, the quota of the
// 429 step and of the batch.
const burst = 30

// demo walks through a session against the embedded simulator. By default
// it prints one line per documented failure, then the storm, the quota and
// a ticket; the tour prints every call with both sides' log lines (client
// and server log to the same writer) and a few more calls.
type demo struct {
	ctx      context.Context
	out      io.Writer
	logs     io.Writer // out in the tour, else io.Discard
	tour     bool
	json     bool // log JSON lines
	srv      *idctest.Server
	client   *http.Client    // idctrace without retries: every failure reaches the caller
	retrying *http.Client    // the same, WithRetry
	quiet    zap.AtomicLevel // the server's level, raised while keys are spent
}

// step is one call of the demo: its tour heading, then the request.
type step struct {
	title                   string
	key, method, path, body string
	form                    []string // a multipart upload: file name, then name and value pairs
	tour                    bool     // only in the tour
	retry                   bool     // through the retrying client
	before                  func() error
}

func runDemo(ctx context.Context, w io.Writer, cfg config) error {
	out := &lockedWriter{w: w} // the demo's lines and both loggers', one at a time
	tour := cfg.tour || cfg.json
	logs := io.Writer(io.Discard)
	if tour {
		logs = out
	}
	quiet := zap.NewAtomicLevelAt(zapcore.InfoLevel)
	srv := idctest.NewServer(
		idctest.WithRateLimit(burst, time.Second),
		idctest.WithLogger(newLogger(logs, cfg.json, quiet).Named("server")),
	)
	defer srv.Close()
	recorder := idctrace.NewRecorder(0)
	m := &metrics{}
	logger := newLogger(logs, cfg.json, zapcore.DebugLevel).Named("client")
	opts := []idctrace.Option{idctrace.WithRecorder(recorder), idctrace.WithObserver(m.observe)}
	d := &demo{ctx: ctx, out: out, logs: logs, tour: tour, json: cfg.json, srv: srv, quiet: quiet,
		client: idctrace.WrapClient(srv.Client(), logger, opts...),
		retrying: idctrace.WrapClient(srv.Client(), logger, append(opts,
			idctrace.WithRetry(idctrace.RetryPolicy{MaxRetries: 3, BaseDelay: 100 * time.Millisecond, MaxDelay: 5 * time.Second}))...),
	}
	defer d.client.CloseIdleConnections()
	defer d.retrying.CloseIdleConnections()
	email := cfg.email
	if email == "" {
		email = "you@example.com"
	}

	fmt.Fprintf(out, "idctrace demo: real calls to an IdentityCall simulator at %s\n", srv.URL)
	if tour {
		fmt.Fprintln(out, "The client is idctrace.WrapClient(client, logger). Lines from \"client\" are what your")
		fmt.Fprintln(out, "service would log; lines from \"server\" are IdentityCall's side, with the same request ID.")
	} else {
		fmt.Fprintln(out, "through idctrace.WrapClient(client, logger). -tour shows each call's log entry and server line.")
	}

	ops := srv.NewKey(idctest.Read, idctest.Write, idctest.Delete)
	var project struct{ ID int }
	if err := d.setup("201  create a project", ops, "POST", "/projects", `{"name":"Support EN","language":"en"}`, &project); err != nil {
		return err
	}
	projectID := fmt.Sprint(project.ID)
	var rec struct {
		PublicID string `json:"public_id"`
	}
	if err := d.setupUpload("201  upload renewal-call.mp3", ops, "renewal-call.mp3", projectID, &rec); err != nil {
		return err
	}
	if err := d.setupUpload("201  upload onboarding.mp3", ops, "onboarding.mp3", projectID, nil); err != nil {
		return err
	}
	var number struct{ ID int }
	if err := d.setup("201  buy a virtual number", ops, "POST", "/virtual_numbers/purchase", `{"phone_number":"+15551234567"}`, &number); err != nil {
		return err
	}
	viewer, revoked, scoped := srv.NewKey(idctest.Read), srv.NewKey(idctest.Read), srv.NewProjectKey(project.ID, idctest.Read, idctest.Write)
	srv.RevokeKey(revoked)
	spent := srv.NewKey(idctest.Read) // its second is used up before its call
	spentToo := srv.NewKey(idctest.Read)
	inject := func(status int) func() error {
		return func() error {
			srv.Inject(1, idctest.Fault{Status: status, Route: "GET /recordings"})
			return nil
		}
	}

	if !tour {
		fmt.Fprintln(out, "\nOne call per documented failure and its error, an *APIError or *TransportError (redacted, with the request ID)")
	}
	steps := []step{
		{title: "200  list recordings", key: ops, method: "GET", path: "/recordings?page=1&per_page=10", tour: true},
		{title: "400  per_page past the documented 100", key: ops, method: "GET", path: "/recordings?per_page=500"},
		{title: "200  attach an operator to the number", key: ops, method: "POST", path: fmt.Sprintf("/virtual_numbers/%d/add_operator", number.ID),
			body: `{"phone_number":"+15550000001","name":"Ann Lee"}`, tour: true},
		{title: "401  no API key", method: "GET", path: "/recordings"},
		{title: "401  a revoked API key", key: revoked, method: "GET", path: "/recordings", tour: true},
		{title: "403  a read-only key deletes a recording", key: viewer, method: "DELETE", path: "/recordings/" + rec.PublicID},
		{title: "403  a project-scoped key creates a project", key: scoped, method: "POST", path: "/projects", body: `{"name":"Sales","language":"en"}`, tour: true},
		{title: "404  a recording that does not exist", key: ops, method: "GET", path: "/recordings/018f3a2b-7c4d-7e8f-9a0b-1c2d3e4f5a6b"},
		{title: "404  a base URL without /api/v1/public", key: ops, method: "GET", path: strings.TrimSuffix(srv.URL, idctest.BasePath) + "/recordings", tour: true},
		{title: "422  a purchase without a phone number", key: ops, method: "POST", path: "/virtual_numbers", body: `{"country_code":"US"}`},
		{title: "422  a transcription that is not ready yet (logged at Debug: polling meets it)", key: ops, method: "GET",
			path: "/recordings/" + rec.PublicID + "/transcription", tour: true},
		{title: "422  an upload without a file", key: ops, form: []string{"", "project_id", projectID}, tour: true},
		{title: "422  invalid fields", key: ops, form: []string{"call.mp3", "project_id", projectID, "language", "klingon", "external_id", strings.Repeat("x", 300)}, tour: true},
		{title: fmt.Sprintf("429  past %d requests a second", burst), key: spent, method: "GET", path: "/recordings",
			before: func() error { return d.spend(spent) }},
		{title: "429  the same WithRetry: waits retry_after, then succeeds", key: spentToo, method: "GET", path: "/recordings",
			before: func() error { return d.spend(spentToo) }, tour: true, retry: true},
		{title: "500  an internal server error", key: ops, method: "GET", path: "/recordings", before: inject(http.StatusInternalServerError)},
		{title: "500  the same WithRetry: retried with backoff", key: ops, method: "GET", path: "/recordings",
			before: inject(http.StatusInternalServerError), tour: true, retry: true},
		{title: "503  a load balancer's error", key: ops, method: "GET", path: "/recordings", before: inject(http.StatusServiceUnavailable)},
		{title: "503  the same WithRetry: retried with backoff", key: ops, method: "GET", path: "/recordings",
			before: inject(http.StatusServiceUnavailable), tour: true, retry: true},
	}
	var ticketErr *idctrace.APIError
	for _, s := range steps {
		if s.tour && !tour {
			continue
		}
		if s.before != nil {
			if err := s.before(); err != nil {
				return err
			}
		}
		apiErr, _, err := d.do(s)
		if err != nil {
			return err
		}
		if apiErr != nil && apiErr.StatusCode == http.StatusNotFound && ticketErr == nil {
			ticketErr = apiErr
		}
	}
	timeoutErr := d.timeout(ops)
	if err := d.storm(); err != nil {
		return err
	}
	if err := d.batch(projectID); err != nil {
		return err
	}
	if !tour {
		if timeoutErr != nil {
			d.heading("ticket  the timeout's, from TransportError.SupportTicket, to paste into a request to support")
			indent(out, timeoutErr.SupportTicket(email))
		}
		fmt.Fprintln(out, "\nRun with -tour for every log entry, the server's lines and the debug page; -serve keeps the page up.")
		if cfg.serve {
			return d.servePage(recorder, email, cfg)
		}
		return nil
	}

	fmt.Fprintf(d.out, "\n-- support ticket for the 404 (APIError.SupportTicket)\n\n")
	if ticketErr != nil {
		fmt.Fprint(d.out, ticketErr.SupportTicket(email))
	}
	fmt.Fprintf(d.out, "\n-- support ticket for the timeout (TransportError.SupportTicket)\n\n")
	if timeoutErr != nil {
		fmt.Fprint(d.out, timeoutErr.SupportTicket(email))
	}
	var bundle bytes.Buffer
	if err := recorder.WriteBundle(&bundle, email); err != nil {
		return err
	}
	header, _, _ := strings.Cut(bundle.String(), "\n")
	fmt.Fprintf(d.out, "\n-- failure bundle (Recorder.WriteBundle): %d failed attempts as JSON lines, starting\n%s\n", recorder.Len(), header)
	fmt.Fprintf(d.out, "\n-- attempts per route and status (WithObserver; idcotel.WithMetrics records the same)\n\n")
	m.print(d.out)
	return d.servePage(recorder, email, cfg)
}

// setup makes a call the rest of the demo needs, and decodes the data of
// its answer into v (when not nil).
func (d *demo) setup(title, key, method, path, body string, v any) error {
	return d.decode(step{title: title, key: key, method: method, path: path, body: body}, v)
}

// setupUpload uploads file to the project, and decodes the new recording
// into v (when not nil).
func (d *demo) setupUpload(title, key, file, projectID string, v any) error {
	return d.decode(step{title: title, key: key, form: []string{file, "project_id", projectID, "language", "en"}}, v)
}

func (d *demo) decode(s step, v any) error {
	apiErr, b, err := d.do(s)
	if err == nil && apiErr != nil {
		err = apiErr
	}
	if err != nil || v == nil {
		return err
	}
	return json.Unmarshal(b, &struct{ Data any }{v})
}

// do makes the call of s and prints how it ended: in the tour, the
// heading, then (from the loggers) both sides' lines, then the outcome; by
// default only a failure's error. It returns the body, with the APIError
// of a failure.
func (d *demo) do(s step) (*idctrace.APIError, []byte, error) {
	if d.tour {
		fmt.Fprintf(d.out, "\n-- %s\n", s.title)
	}
	client := d.client
	if s.retry {
		client = d.retrying
	}
	var body io.Reader
	contentType := "application/json"
	if s.body != "" {
		body = strings.NewReader(s.body)
	}
	method, path := s.method, s.path
	if s.form != nil {
		method, path = "POST", "/recordings"
		body, contentType = upload(s.form[0], s.form[1:]...)
	}
	resp, err := d.send(d.ctx, client, s.key, method, path, body, contentType)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	var apiErr *idctrace.APIError
	if errors.As(idctrace.CheckResponse(resp), &apiErr) {
		d.outcome(apiErr)
		return apiErr, b, nil
	}
	if d.tour {
		fmt.Fprintf(d.out, "   => %s  %s\n", resp.Status, summary(b))
	}
	return nil, b, nil
}

// outcome prints the error a call returned.
func (d *demo) outcome(err error) {
	if d.tour {
		fmt.Fprintf(d.out, "   => %s\n", err)
		return
	}
	fmt.Fprintf(d.out, "  %s\n", err)
}

// send sends one request to the simulator through client.
func (d *demo) send(ctx context.Context, client *http.Client, key, method, path string, body io.Reader, contentType string) (*http.Response, error) {
	url := path
	if !strings.HasPrefix(path, "http") {
		url = d.srv.URL + path
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil && contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return client.Do(req)
}

// upload returns a multipart upload and its content type: a few bytes of
// audio named file (none when file is ""), and the fields, name and value
// pairs.
func upload(file string, fields ...string) (io.Reader, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if file != "" {
		fw, _ := mw.CreateFormFile("file", file)
		fw.Write([]byte("ID3...."))
	}
	for i := 0; i+1 < len(fields); i += 2 {
		mw.WriteField(fields[i], fields[i+1])
	}
	mw.Close()
	return &buf, mw.FormDataContentType()
}

// summary shortens a response body for one line.
func summary(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 96 {
		s = s[:93] + "..."
	}
	return s
}

// indent prints text with each line indented.
func indent(w io.Writer, text string) {
	for line := range strings.Lines(text) {
		fmt.Fprint(w, "  "+line)
	}
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
