package idctrace

import (
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
	limitN     int           // WithLogLimit's n; <= 0: every failure is logged
	limitPer   time.Duration // and its window
	storm      *logLimit     // built from limitN and limitPer; nil when off
	warnedAt   atomic.Int64  // when the limiter last failed open with a warning, in Unix nanoseconds
	pending    sync.Map      // failure bodies whose records wait to be reported, for Flush

	// Seams for tests inside the package; New sets the real ones.
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
	jitter func(time.Duration) time.Duration
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport that sends requests through base and logs failures
// to logger, without caller annotations or stack traces. A nil base means
// [http.DefaultTransport]; a nil logger means no logging, while IDs, body
// inspection and [CheckResponse] still work.
//
// A Transport that logs may hold storm summaries back for up to a second
// (see [WithLogLimit]), and the entry of a failure until its body is read
// or closed: call [Transport.Flush] before the program exits, or before a
// test's logger goes away.
func New(base http.RoundTripper, logger *zap.Logger, opts ...Option) *Transport {
	if base == nil {
		base = http.DefaultTransport
	}
	if logger != nil {
		// The caller of every entry would be the same line of logging.go,
		// reached from inside net/http: it tells a reader nothing. A stack
		// trace (zap.NewProduction adds one at Error) would open with the
		// same frames on every 5xx and every retried attempt; the request
		// ID identifies the call instead. FatalLevel+1 is zap's own "never".
		logger = logger.WithOptions(zap.WithCaller(false), zap.AddStacktrace(zapcore.FatalLevel+1))
	}
	t := &Transport{
		base:     base,
		logger:   logger,
		header:   textproto.CanonicalMIMEHeaderKey(DefaultRequestIDHeader), // "X-Request-Id"
		maxBody:  defaultMaxBody,
		bodyWait: defaultBodyWait,
		level:    defaultLevel,
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
	var wrapped http.Client
	if c != nil {
		wrapped = *c
	}
	wrapped.Transport = New(wrapped.Transport, logger, opts...)
	return &wrapped
}

// RoundTrip sends req with a request ID and returns the base transport's
// response, or an error that reaches a [*TransportError] with [errors.As].
// It never modifies req: the request sent is a copy carrying the ID in its
// header and context.
//
// A response with a status of 400 or more gets a log entry, and its body is
// replaced by one that yields the same bytes; any other response is returned
// as the base transport gave it. With [WithRetry], one RoundTrip may make
// several attempts, all with the same request ID; without it, one. Every way
// a call ends with a failure is logged and recorded.
//
// A failure's entry holds the decoded prefix of its body (see
// [WithMaxBodyBytes]). When RoundTrip needs the body, it reads the prefix
// before it returns, waiting at most the body-read bound
// ([WithBodyReadTimeout]): for a 429, and for a status the retry policy
// retries. Any other failure
// is returned at once, and the caller's reads fill the prefix in: its entry
// is written when they complete it (or reach the end of the body), when the
// body is closed (Close first reads what the prefix lacks, within the
// bound), when [CheckResponse] asks, by [Transport.Flush], or at the bound
// after RoundTrip returned. Each of the last three reads the prefix itself,
// for at most one more bound, when nobody is reading the body and it is
// not closed (the caller's reads then get those bytes first); a body being
// read ends with what has been read.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	c := t.newCall(req)
	for {
		resp, r := c.attempt()
		if r == nil {
			return resp, nil
		}
		wait, again := t.retryWait(&c, r)
		t.report(r)
		if !again {
			return c.end(resp, r)
		}
		c.keep(resp, r)
		if r := c.wait(wait); r != nil {
			t.report(r)
			return c.end(nil, r)
		}
	}
}

// report hands the record of a failed attempt, or of a call's end, to the
// Recorder and the log. Whether its entry is written is decided now, in the
// caller's RoundTrip; a record whose body the caller reads is reported when
// the body ends it.
func (t *Transport) report(r *record) {
	lvl := t.levelOf(r)
	entry := t.admit(r, lvl)
	if !entry && t.recorder == nil {
		return // nothing waits for it: decoded only if CheckResponse asks
	}
	publish := func() { t.publish(r, lvl, entry) }
	if r.respBody == nil || !r.respBody.watch(publish, &t.pending) {
		publish()
	}
}

// publish hands the ended record r to the Recorder and, when its entry was
// admitted, to the log, and drops what only they needed.
func (t *Transport) publish(r *record, lvl zapcore.Level, entry bool) {
	if t.recorder != nil {
		t.recorder.add(r, lvl)
	}
	if entry {
		t.write(r, lvl)
	}
	r.sent, r.secrets = nil, nil
}

// Flush writes the entries of failures whose bodies have not given their
// prefix yet (see [Transport.RoundTrip]), within one body-read bound: it
// reads the bodies nobody is reading, all at once. Then it writes the storm
// summaries that are waiting for the end of their window (see
// [WithLogLimit]). Call it with logger.Sync at shutdown.
func (t *Transport) Flush() {
	flushBodies(&t.pending, t.bodyWait)
	t.storm.flush()
}

// CloseIdleConnections flushes the storm summaries, as [Transport.Flush],
// and closes the idle connections of the base transport when it has a
// CloseIdleConnections method. [http.Client.CloseIdleConnections] calls it,
// so a client from [WrapClient] flushes through it.
func (t *Transport) CloseIdleConnections() {
	t.Flush()
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
