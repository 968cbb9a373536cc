package idctrace

import (
	"cmp"
	"context"
	"net/http"
	"net/textproto"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Transport is an [http.RoundTripper] that tags every request with a request
// ID and logs each failed call once, with its decoded IdentityCall error. It
// is safe for concurrent use; its settings are fixed by [New].
type Transport struct {
	base       http.RoundTripper
	logger     *zap.Logger
	header     string // the ID header's canonical map key
	gen        func() string
	maxBody    int64
	bodyWait   time.Duration
	fieldFuncs []func(*http.Request) []zap.Field
	level      func(status int, route string) zapcore.Level
	logged     []string    // query parameters whose values are logged, beyond the documented ones
	retry      RetryPolicy // the zero policy never retries
	limiter    Limiter     // nil: every attempt is sent at once
	recorder   *Recorder
	observers  []func(Attempt)
	limitN     int                       // WithLogLimit's n; < 0: every failure is logged
	limitPer   time.Duration             // and its window
	storm      *logLimit                 // nil when off
	warnedAt   atomic.Pointer[time.Time] // when the limiter last failed open with a warning
	pending    sync.Map                  // failure bodies whose records wait to be reported, for Flush

	// Seams for tests inside the package; New sets the real ones.
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
	jitter func(time.Duration) time.Duration
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport that sends requests through base and logs
// failures to logger. A nil base means [http.DefaultTransport]; a nil
// logger logs nothing, while IDs, errors and [CheckResponse] still work.
// Call [Transport.Flush] before the program exits: entries of bodies not yet
// read and storm summaries may be pending. The functions given to options,
// a [Limiter] and a request's GetBody run in the caller's RoundTrip; a
// panic in one reaches the caller, after the Transport has closed the
// responses the call held and a request body it did not send.
func New(base http.RoundTripper, logger *zap.Logger, opts ...Option) *Transport {
	if logger != nil {
		// Every entry would have the same caller and stack, inside
		// net/http: the request ID identifies the call instead.
		// FatalLevel+1 is zap's own "never".
		logger = logger.WithOptions(zap.WithCaller(false), zap.AddStacktrace(zapcore.FatalLevel+1))
	}
	t := &Transport{
		base:     cmp.Or(base, http.DefaultTransport),
		logger:   logger,
		header:   textproto.CanonicalMIMEHeaderKey(DefaultRequestIDHeader), // "X-Request-Id"
		maxBody:  defaultMaxBody,
		bodyWait: defaultBodyWait,
		limitN:   defaultLogLimit,
		limitPer: time.Second,
		now:      time.Now,
		sleep:    sleepContext,
		jitter:   randomJitter,
	}
	for _, opt := range opts {
		opt.apply(t)
	}
	if t.limiter == nil && t.retry.MaxRetries > 0 {
		t.limiter = newLimiter() // no quota: it only pauses after a 429
	}
	if logger != nil && t.limitN > 0 {
		t.storm = newLogLimit(t.limitN, t.limitPer, t.writeSummary)
	}
	return t
}

// WrapClient returns a copy of c whose Transport is wrapped by [New] with
// logger and opts. c itself is never modified; a nil c means a new
// [http.Client] over [http.DefaultTransport].
func WrapClient(c *http.Client, logger *zap.Logger, opts ...Option) *http.Client {
	wrapped := *cmp.Or(c, &http.Client{}) // a copy
	wrapped.Transport = New(wrapped.Transport, logger, opts...)
	return &wrapped
}

// RoundTrip sends req with a request ID and returns the base transport's
// response, or an error that reaches a [*TransportError] with [errors.As].
// It never modifies req. A failed response is logged, and its body replaced
// by one that yields the same bytes; the package doc says when its entry is
// written.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	c := call{t: t, req: req}
	defer c.release()
	c.start()
	for {
		resp, r := c.attempt()
		if r == nil {
			c.held = nil // the caller's
			return resp, nil
		}
		wait, again := t.retryWait(&c, r)
		if r.status == http.StatusTooManyRequests {
			t.pause(r, wait)
		}
		t.report(r)
		if !again {
			return c.end(r)
		}
		c.keep(resp, r)
	}
}

// Flush writes the entries that wait for a body, reading within a second
// the bodies nobody reads, then the storm summaries that wait for their
// window's end. Call it with logger.Sync at shutdown.
func (t *Transport) Flush() {
	flushBodies(&t.pending, t.bodyWait)
	t.storm.flush()
}

// CloseIdleConnections flushes, as [Transport.Flush], and closes the idle
// connections of the base transport. [http.Client.CloseIdleConnections]
// calls it: it is how the user of a [WrapClient] client flushes.
func (t *Transport) CloseIdleConnections() {
	t.Flush()
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
