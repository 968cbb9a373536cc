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
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/idctest"
)

// burst is the simulator's rate limit per key and second; the 429 step
// spends it with a key of its own.
const burst = 10

// demo walks through a session against the embedded simulator. Client and
// server log to the same writer, so each failure shows both sides.
type demo struct {
	ctx    context.Context
	out    io.Writer
	srv    *idctest.Server
	client *http.Client
	quiet  zap.AtomicLevel // the server's level, raised while the burst runs
}

func runDemo(ctx context.Context, out io.Writer, cfg config) error {
	quiet := zap.NewAtomicLevelAt(zapcore.InfoLevel)
	srv := idctest.NewServer(
		idctest.WithRateLimit(burst, time.Second),
		idctest.WithLogger(newLogger(out, cfg.json, quiet).Named("server")),
	)
	defer srv.Close()
	recorder := idctrace.NewRecorder(0)
	client := idctrace.WrapClient(srv.Client(), newLogger(out, cfg.json, zapcore.InfoLevel).Named("client"),
		idctrace.WithRetry(idctrace.RetryPolicy{MaxRetries: 3, BaseDelay: 100 * time.Millisecond, MaxDelay: 5 * time.Second}),
		idctrace.WithRecorder(recorder),
	)
	d := &demo{ctx: ctx, out: out, srv: srv, client: client, quiet: quiet}
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

	var first string
	for _, name := range []string{"renewal-call.mp3", "onboarding.mp3"} {
		rec, err := d.upload("201  upload "+name, ops, name, "language", "en")
		if err != nil {
			return err
		}
		if first == "" {
			first = rec
		}
	}
	steps := []struct {
		title, key, method, path string
	}{
		{"200  list recordings", ops, "GET", "/recordings?page=1&per_page=10"},
		{"401  no API key", "", "GET", "/recordings"},
		{"401  a revoked API key", revoked, "GET", "/recordings"},
		{"403  a read-only key deletes a recording", viewer, "DELETE", "/recordings/" + first},
		{"404  a recording that does not exist", ops, "GET", "/recordings/rec_0000deadbeef"},
	}
	var ticketErr *idctrace.APIError
	for _, s := range steps {
		apiErr, _, err := d.call(s.title, s.key, s.method, s.path, nil, "")
		if err != nil {
			return err
		}
		if apiErr != nil && apiErr.StatusCode == http.StatusNotFound {
			ticketErr = apiErr
		}
	}
	if _, err := d.upload("422  an upload without a file", ops, ""); err != nil {
		return err
	}
	if _, err := d.upload("422  invalid fields", ops, "call.mp3", "language", "klingon", "project_id", "abc"); err != nil {
		return err
	}
	if _, _, err := d.call("422  a transcription that is not ready", ops, "GET", "/recordings/"+first+"/transcription", nil, ""); err != nil {
		return err
	}
	if err := d.rateLimit(); err != nil {
		return err
	}
	srv.FailNext(1)
	if _, _, err := d.call("500  a server error, retried with backoff", ops, "GET", "/recordings", nil, ""); err != nil {
		return err
	}

	fmt.Fprintf(d.out, "\n-- support ticket for the 404 (APIError.SupportTicket)\n\n")
	if ticketErr != nil {
		fmt.Fprint(d.out, ticketErr.SupportTicket(email))
	}
	var bundle bytes.Buffer
	if err := recorder.WriteBundle(&bundle, email); err != nil {
		return err
	}
	header, _, _ := strings.Cut(bundle.String(), "\n")
	fmt.Fprintf(d.out, "\n-- failure bundle (Recorder.WriteBundle): %d failed attempts as JSON lines, starting\n%s\n", recorder.Len(), header)
	return nil
}

// call makes one request, prints how it ended and returns the body, with
// the APIError when it failed.
func (d *demo) call(title, key, method, path string, body []byte, contentType string) (*idctrace.APIError, []byte, error) {
	fmt.Fprintf(d.out, "\n-- %s\n", title)
	resp, err := d.do(d.client, key, method, path, body, contentType)
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
func (d *demo) do(client *http.Client, key, method, path string, body []byte, contentType string) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(d.ctx, method, d.srv.URL+path, r)
	if err != nil {
		return nil, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
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
		fw.Write([]byte("RIFF....WAVEfmt ")) // a few bytes of audio
	}
	for i := 0; i+1 < len(fields); i += 2 {
		mw.WriteField(fields[i], fields[i+1])
	}
	mw.Close()
	apiErr, body, err := d.call(title, key, "POST", "/recordings", buf.Bytes(), mw.FormDataContentType())
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

// rateLimit spends a fresh key's budget quietly, then makes the call that
// gets 429 and is retried after retry_after.
func (d *demo) rateLimit() error {
	key := d.srv.NewKey(idctest.Read)
	if err := d.spend(key); err != nil {
		return err
	}
	_, _, err := d.call(fmt.Sprintf("429  past %d requests a second: waits retry_after, then succeeds", burst), key, "GET", "/recordings", nil, "")
	return err
}

// spend sends requests with key, through a client without idctrace and
// with the server's log quiet, until the server answers 429: the window
// is then used up however long the requests took.
func (d *demo) spend(key string) error {
	d.quiet.SetLevel(zapcore.WarnLevel)
	defer d.quiet.SetLevel(zapcore.InfoLevel)
	for range 100 * burst {
		resp, err := d.do(d.srv.Client(), key, "GET", "/recordings", nil, "")
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			return nil
		}
	}
	return fmt.Errorf("no 429 after %d requests", 100*burst)
}

// summary shortens a response body for one line.
func summary(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 96 {
		s = s[:93] + "..."
	}
	return s
}
