package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
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
	body   []byte // nil: no body
	form   *form  // nil: no form
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
		if c.form, err = newForm(cfg.form); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// readBody reads BODY: a literal, @FILE or - for stdin.
func readBody(arg string, stdin io.Reader) ([]byte, error) {
	switch {
	case arg == "-":
		return io.ReadAll(stdin)
	case strings.HasPrefix(arg, "@"):
		b, err := os.ReadFile(arg[1:])
		if err != nil {
			return nil, fmt.Errorf("reading BODY: %w", err)
		}
		return b, nil
	}
	return []byte(arg), nil
}

// do sends the call and returns the exit code.
func (c *apiCall) do(ctx context.Context, stdout, stderr io.Writer) int {
	if c.cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.timeout)
		defer cancel()
	}
	logger := newLogger(stderr, c.cfg.json, zapcore.InfoLevel)
	defer logger.Sync()
	var opts []idctrace.Option
	if c.cfg.retries > 0 {
		policy := idctrace.DefaultRetryPolicy()
		policy.MaxRetries = c.cfg.retries
		opts = append(opts, idctrace.WithRetry(policy))
	}
	client := idctrace.WrapClient(&http.Client{}, logger, opts...)

	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body) // replayable: http.NewRequest sets GetBody
	}
	req, err := http.NewRequestWithContext(ctx, c.method, c.url, body)
	if err != nil {
		fmt.Fprintln(stderr, "idctrace:", c.cfg.redact(err.Error()))
		return 2
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.apiKey)
	req.Header.Set("Accept", "application/json")
	switch {
	case c.body != nil:
		req.Header.Set("Content-Type", "application/json")
	case c.form != nil:
		// Streamed; GetBody writes it again for a retry.
		req.Body, _ = c.form.open()
		req.GetBody = c.form.open
		req.ContentLength = c.form.length
		req.Header.Set("Content-Type", c.form.contentType())
	}
	resp, err := client.Do(req)
	if err != nil {
		// The log line above holds the details, redacted; *url.Error's text
		// would repeat the URL as typed, so the ticket stands for it.
		var te *idctrace.TransportError
		if !errors.As(err, &te) {
			fmt.Fprintln(stderr, "idctrace: request failed:", c.cfg.redact(err.Error()))
			return 1
		}
		fmt.Fprintln(stderr, "idctrace: request failed, with no response")
		c.ticket(stderr, te)
		return 1
	}
	defer resp.Body.Close()
	apiErr := idctrace.CheckResponse(resp)
	if _, err := io.Copy(stdout, resp.Body); err != nil {
		fmt.Fprintln(stderr, "idctrace: reading the response:", c.cfg.redact(err.Error()))
		return 1
	}
	var e *idctrace.APIError
	if errors.As(apiErr, &e) {
		c.ticket(stderr, e)
		return 1
	}
	return 0
}

// ticket prints the support ticket of a failed call, and how to add the
// account email when there is none.
func (c *apiCall) ticket(w io.Writer, err interface{ SupportTicket(string) string }) {
	fmt.Fprintln(w)
	fmt.Fprint(w, err.SupportTicket(c.cfg.email))
	if c.cfg.email == "" {
		fmt.Fprintln(w, "(Support needs your account's email: run again with -email you@example.com, or set IDENTITYCALL_EMAIL.)")
	}
}

// newLogger logs to w at the levels lvl enables: the console format by
// default, JSON lines with asJSON.
func newLogger(w io.Writer, asJSON bool, lvl zapcore.LevelEnabler) *zap.Logger {
	cfg := zap.NewProductionEncoderConfig()
	cfg.EncodeTime = zapcore.ISO8601TimeEncoder
	enc := zapcore.NewJSONEncoder(cfg)
	if !asJSON {
		cfg.EncodeTime = zapcore.TimeEncoderOfLayout(time.TimeOnly + ".000")
		cfg.EncodeLevel = zapcore.CapitalLevelEncoder
		cfg.EncodeDuration = zapcore.StringDurationEncoder
		cfg.ConsoleSeparator = "  "
		enc = zapcore.NewConsoleEncoder(cfg)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), lvl))
}
