package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/idctest"
)

// The simulator allows each key burst requests a second; the 429 step
// spends a key's budget, and its 429 asks for the rest of the second. The
// budget is large enough for the demo's other calls with one key, and the
// second long enough to spend it on a loaded machine.
const burst = 30

// demo walks through a session against the embedded simulator. Client and
// server log to the same writer, so each failure shows both sides.
type demo struct {
	ctx     context.Context
	out     io.Writer
	srv     *idctest.Server
	client  *http.Client
	quiet   zap.AtomicLevel // the server's level, raised while the burst runs
	metrics *metrics
	json    bool // log JSON lines
}

func runDemo(ctx context.Context, w io.Writer, cfg config) error {
	out := &lockedWriter{w: w} // the demo's lines and both loggers', one at a time
	quiet := zap.NewAtomicLevelAt(zapcore.InfoLevel)
	srv := idctest.NewServer(
		idctest.WithRateLimit(burst, time.Second),
		idctest.WithLogger(newLogger(out, cfg.json, quiet).Named("server")),
	)
	defer srv.Close()
	recorder := idctrace.NewRecorder(0)
	m := &metrics{}
	client := idctrace.WrapClient(srv.Client(), newLogger(out, cfg.json, zapcore.DebugLevel).Named("client"),
		idctrace.WithRetry(idctrace.RetryPolicy{MaxRetries: 3, BaseDelay: 100 * time.Millisecond, MaxDelay: 5 * time.Second}),
		idctrace.WithRecorder(recorder),
		idctrace.WithObserver(m.observe),
	)
	d := &demo{ctx: ctx, out: out, srv: srv, client: client, quiet: quiet, metrics: m, json: cfg.json}
	email := cfg.email
	if email == "" {
		email = "you@example.com"
	}

	ops := srv.NewKey(idctest.Read, idctest.Write, idctest.Delete)
	viewer := srv.NewKey(idctest.Read)
	revoked := srv.NewKey(idctest.Read)
	srv.RevokeKey(revoked)
	fmt.Fprintf(out, "idctrace demo: an IdentityCall simulator at %s\n", srv.URL)
	fmt.Fprintln(out, "The client is idctrace.WrapClient(..., WithRetry(...)). Lines from \"client\" are what your")
	fmt.Fprintln(out, "service would log; lines from \"server\" are IdentityCall's side, with the same request ID.")

	var project struct{ ID int }
	if _, err := d.callJSON("201  create a project", ops, "POST", "/projects", `{"name":"Support EN","language":"en"}`, &project); err != nil {
		return err
	}
	projectID := fmt.Sprint(project.ID)
	var first string
	for _, name := range []string{"renewal-call.mp3", "onboarding.mp3"} {
		rec, err := d.upload("201  upload "+name, ops, name, "project_id", projectID, "language", "en")
		if err != nil {
			return err
		}
		first = cmp.Or(first, rec)
	}
	var number struct{ ID int }
	if _, err := d.callJSON("201  buy a virtual number", ops, "POST", "/virtual_numbers/purchase", `{"phone_number":"+15551234567"}`, &number); err != nil {
		return err
	}
	scoped := srv.NewProjectKey(project.ID, idctest.Read, idctest.Write)

	steps := []struct {
		title, key, method, path, body string
	}{
		{"200  list recordings", ops, "GET", "/recordings?page=1&per_page=10", ""},
		{"400  per_page past the documented 100", ops, "GET", "/recordings?per_page=500", ""},
		{"200  attach an operator to the number", ops, "POST", fmt.Sprintf("/virtual_numbers/%d/add_operator", number.ID), `{"phone_number":"+15550000001","name":"Ann Lee"}`},
		{"401  no API key", "", "GET", "/recordings", ""},
		{"401  a revoked API key", revoked, "GET", "/recordings", ""},
		{"403  a read-only key deletes a recording", viewer, "DELETE", "/recordings/" + first, ""},
		{"403  a project-scoped key creates a project", scoped, "POST", "/projects", `{"name":"Sales","language":"en"}`},
		{"404  a recording that does not exist", ops, "GET", "/recordings/018f3a2b-7c4d-7e8f-9a0b-1c2d3e4f5a6b", ""},
		{"404  a base URL without /api/v1/public", ops, "GET", strings.TrimSuffix(srv.URL, idctest.BasePath) + "/recordings", ""},
		{"422  a purchase without a phone number", ops, "POST", "/virtual_numbers", `{"country_code":"US"}`},
		{"422  a transcription that is not ready yet (logged at Debug: polling meets it)", ops, "GET", "/recordings/" + first + "/transcription", ""},
	}
	var ticketErr *idctrace.APIError
	for _, s := range steps {
		apiErr, err := d.callJSON(s.title, s.key, s.method, s.path, s.body, nil)
		if err != nil {
			return err
		}
		if apiErr != nil && apiErr.StatusCode == http.StatusNotFound && ticketErr == nil {
			ticketErr = apiErr
		}
	}
	if _, err := d.upload("422  an upload without a file", ops, "", "project_id", projectID); err != nil {
		return err
	}
	if _, err := d.upload("422  invalid fields", ops, "call.mp3", "project_id", projectID, "language", "klingon", "external_id", strings.Repeat("x", 300)); err != nil {
		return err
	}
	if err := d.rateLimit(); err != nil {
		return err
	}
	srv.Inject(1, idctest.Fault{Status: http.StatusInternalServerError, Route: "GET /recordings"})
	if _, err := d.callJSON("500  an internal server error, retried with backoff", ops, "GET", "/recordings", "", nil); err != nil {
		return err
	}
	srv.Inject(1, idctest.Fault{Status: http.StatusServiceUnavailable, Route: "GET /recordings"})
	if _, err := d.callJSON("503  a load balancer's error, retried with backoff", ops, "GET", "/recordings", "", nil); err != nil {
		return err
	}
	timeoutErr := d.timeout(ops)
	if err := d.storm(); err != nil {
		return err
	}
	if err := d.batch(projectID); err != nil {
		return err
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

// callJSON makes one request, prints how it ended and decodes the data of
// a success into v (when not nil). It returns the APIError of a failure.
func (d *demo) callJSON(title, key, method, path, body string, v any) (*idctrace.APIError, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	apiErr, b, err := d.call(title, key, method, path, r, "application/json")
	if err != nil || apiErr != nil || v == nil {
		return apiErr, err
	}
	return nil, json.Unmarshal(b, &struct{ Data any }{v})
}

// call makes one request, prints how it ended and returns the body, with
// the APIError when it failed.
func (d *demo) call(title, key, method, path string, body io.Reader, contentType string) (*idctrace.APIError, []byte, error) {
	fmt.Fprintf(d.out, "\n-- %s\n", title)
	resp, err := d.do(d.ctx, d.client, key, method, path, body, contentType)
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
		fmt.Fprintf(d.out, "   => %s\n", apiErr)
		return apiErr, b, nil
	}
	fmt.Fprintf(d.out, "   => %s  %s\n", resp.Status, summary(b))
	return nil, b, nil
}

// do sends one request to the simulator through client.
func (d *demo) do(ctx context.Context, client *http.Client, key, method, path string, body io.Reader, contentType string) (*http.Response, error) {
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

// upload sends a multipart upload; an empty file name sends no file. It
// returns the new recording's public ID, if one was made.
func (d *demo) upload(title, key, file string, fields ...string) (string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if file != "" {
		fw, _ := mw.CreateFormFile("file", file)
		fw.Write([]byte("ID3....")) // a few bytes of audio
	}
	for i := 0; i+1 < len(fields); i += 2 {
		mw.WriteField(fields[i], fields[i+1])
	}
	mw.Close()
	apiErr, body, err := d.call(title, key, "POST", "/recordings", &buf, mw.FormDataContentType())
	if err != nil || apiErr != nil {
		return "", err
	}
	var created struct {
		Data struct {
			PublicID string `json:"public_id"`
		} `json:"data"`
	}
	return created.Data.PublicID, json.Unmarshal(body, &created)
}

// summary shortens a response body for one line.
func summary(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 96 {
		s = s[:93] + "..."
	}
	return s
}

// metrics counts attempts per route and status, as an observer.
type metrics struct {
	mu     sync.Mutex
	counts map[string]int
}

func (m *metrics) observe(a idctrace.Attempt) {
	status := fmt.Sprint(a.Status)
	if a.Err != nil {
		status = "transport error"
	}
	key := fmt.Sprintf("%-6s %-40s %s", a.Method, cmp.Or(a.Route, "(undocumented)"), status)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counts == nil {
		m.counts = map[string]int{}
	}
	m.counts[key]++
}

func (m *metrics) print(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]string, 0, len(m.counts))
	for k := range m.counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s  %d\n", k, m.counts[k])
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
