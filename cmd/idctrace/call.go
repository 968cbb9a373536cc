package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/internal/redact"
)

// apiCall is one request to the real API.
type apiCall struct {
	cfg    config
	method string
	url    string
	body   *body // nil: no body
}

func parseCall(args []string, cfg config, stdin io.Reader) (*apiCall, error) {
	if len(args) < 2 || len(args) > 3 {
		return nil, errors.New("want METHOD PATH [BODY]")
	}
	method := strings.ToUpper(args[0])
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return nil, fmt.Errorf("unsupported method %q: want GET, POST, PUT, PATCH or DELETE", args[0])
	}
	path := args[1]
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("PATH %q must start with /, relative to the base URL", path)
	}
	base, err := url.Parse(cfg.baseURL)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("invalid base URL %q (from -base-url or IDENTITYCALL_BASE_URL)", cfg.baseURL)
	}
	switch {
	case cfg.apiKey == "":
		return nil, errors.New("IDENTITYCALL_API_KEY is not set")
	case !redact.IsKey(cfg.apiKey):
		// The value is not printed: it may be a real key, mistyped.
		return nil, errors.New("IDENTITYCALL_API_KEY is not an IdentityCall API key: want idc_ followed by 32 letters and digits")
	}
	if cfg.retries < 0 {
		return nil, errors.New("-retries must not be negative")
	}
	c := &apiCall{cfg: cfg, method: method, url: strings.TrimSuffix(cfg.baseURL, "/") + path}
	if len(args) == 3 {
		if len(cfg.form) > 0 {
			return nil, errors.New("BODY and -F don't mix: send one or the other")
		}
		if c.body, err = readBody(args[2], stdin); err != nil {
			return nil, err
		}
	}
	if len(cfg.form) > 0 {
		if method != http.MethodPost && method != http.MethodPut && method != http.MethodPatch {
			return nil, fmt.Errorf("-F needs POST, PUT or PATCH, not %s", method)
		}
		c.body = newForm(cfg.form).body()
	}
	return c, nil
}

// do sends the call and returns the exit code.
func (c *apiCall) do(ctx context.Context, sys *system) int {
	if c.cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.timeout)
		defer cancel()
	}
	// The log and the progress line share stderr: a log line written
	// while the progress line shows goes below it.
	stderr := &statusWriter{w: sys.stderr}
	logger := newLogger(stderr, c.cfg.json, zapcore.InfoLevel)
	defer logger.Sync()
	var opts []idctrace.Option
	if c.cfg.retries > 0 {
		policy := idctrace.DefaultRetryPolicy()
		policy.MaxRetries = c.cfg.retries
		opts = append(opts, idctrace.WithRetry(policy))
	}
	client := idctrace.WrapClient(&http.Client{Transport: sys.base, CheckRedirect: refuseDowngrade}, logger, opts...)

	req, err := http.NewRequestWithContext(ctx, c.method, c.url, nil)
	if err != nil {
		fmt.Fprintln(stderr, "idctrace:", c.cfg.redact(err.Error()))
		return 2
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.apiKey)
	req.Header.Set("Accept", "application/json")
	if c.body != nil {
		var meter *progress
		if c.cfg.progress {
			meter = newProgress(stderr, sys.clock(), c.body.length)
		}
		if err := c.body.attach(req, meter); err != nil {
			fmt.Fprintln(stderr, "idctrace:", c.cfg.redact(err.Error()))
			return 1
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return c.failed(stderr, err)
	}
	defer resp.Body.Close()
	apiErr := idctrace.CheckResponse(resp)
	if _, err := io.Copy(sys.stdout, resp.Body); err != nil {
		fmt.Fprintln(stderr, "idctrace: reading the response:", c.cfg.redact(err.Error()))
		return 1
	}
	var e *idctrace.APIError
	switch {
	case errors.Is(apiErr, idctrace.ErrNotReady):
		// Polling meets this until the transcription is done: no ticket.
		fmt.Fprintln(stderr, "idctrace: not ready yet: the transcription is still being processed; ask again in a few seconds")
		return 1
	case errors.As(apiErr, &e):
		c.ticket(stderr, e)
		return 1
	}
	return 0
}

// failed prints why the call got no response and returns the exit code.
func (c *apiCall) failed(stderr io.Writer, err error) int {
	var (
		down    *downgradeError
		changed *changedError
		te      *idctrace.TransportError
	)
	switch {
	case errors.As(err, &down):
		fmt.Fprintln(stderr, "idctrace:", c.cfg.redact(down.Error()))
	case errors.As(err, &changed):
		// A local problem: a ticket would send support after it.
		fmt.Fprintln(stderr, "idctrace:", c.cfg.redact(changed.Error()))
	case errors.As(err, &te):
		// The log line above holds the details, redacted; *url.Error's text
		// would repeat the URL as typed, so the ticket stands for it.
		fmt.Fprintln(stderr, "idctrace: request failed, with no response")
		c.ticket(stderr, te)
	default:
		fmt.Fprintln(stderr, "idctrace: request failed:", c.cfg.redact(err.Error()))
	}
	return 1
}

// attach makes b the body of req, counted by meter (nil: not shown). A
// replayable body gets a GetBody, through which idctrace's retries send it
// again; a stream is sent once.
func (b *body) attach(req *http.Request, meter *progress) error {
	req.Header.Set("Content-Type", b.contentType)
	if b.length == 0 {
		return nil // http.NoBody
	}
	open := func() (io.ReadCloser, error) {
		rc, err := b.open()
		if err != nil {
			return nil, err
		}
		return meter.count(rc), nil
	}
	rc, err := open()
	if err != nil {
		return err
	}
	req.Body, req.ContentLength = rc, b.length
	if b.replayable {
		req.GetBody = open
	}
	return nil
}

// maxRedirects is net/http's default limit, which a CheckRedirect of its
// own replaces.
const maxRedirects = 10

// refuseDowngrade is the client's CheckRedirect. net/http follows a
// redirect to another scheme and, on the same host, keeps the
// Authorization header: from https to http it would send the key in
// clear. Such a redirect is refused before the request is made.
func refuseDowngrade(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	if prev := via[len(via)-1].URL; prev.Scheme == "https" && req.URL.Scheme != "https" {
		return &downgradeError{from: prev, to: req.URL}
	}
	return nil
}

// shown tells redact.URL which query parameters keep their values.
func shown(name string) bool { return !redact.IsSecretName(name) }

// downgradeError is a redirect that would have left TLS.
type downgradeError struct{ from, to *url.URL }

func (e *downgradeError) Error() string {
	return fmt.Sprintf("refused the redirect from %s to %s: it leaves TLS and would send the API key in clear; check the base URL",
		redact.URL(e.from, shown, nil), redact.URL(e.to, shown, nil))
}

// ticket prints the support ticket of a failed call, and how to add the
// account email when there is none.
func (c *apiCall) ticket(w io.Writer, err interface{ SupportTicket(string) string }) {
	fmt.Fprintln(w)
	fmt.Fprint(w, err.SupportTicket(c.cfg.email))
	if c.cfg.email == "" {
		fmt.Fprintln(w, emailNote)
	}
}

// newLogger logs to w at the levels lvl enables: the console format by
// default, JSON lines with asJSON; either way with readable times and
// durations, as the README's quick start logs.
func newLogger(w io.Writer, asJSON bool, lvl zapcore.LevelEnabler) *zap.Logger {
	cfg := zap.NewProductionEncoderConfig()
	cfg.EncodeTime = zapcore.ISO8601TimeEncoder
	cfg.EncodeDuration = zapcore.StringDurationEncoder
	enc := zapcore.NewJSONEncoder(cfg)
	if !asJSON {
		cfg.EncodeTime = zapcore.TimeEncoderOfLayout(time.TimeOnly + ".000")
		cfg.EncodeLevel = zapcore.CapitalLevelEncoder
		cfg.ConsoleSeparator = "  "
		enc = zapcore.NewConsoleEncoder(cfg)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), lvl))
}
