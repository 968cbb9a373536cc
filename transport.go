package idctrace

import (
	"context"
	"net/http"
	"net/textproto"
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
	retry      *RetryPolicy // nil: no retries
	recorder   *Recorder

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
func New(base http.RoundTripper, logger *zap.Logger, opts ...Option) *Transport {
	if base == nil {
		base = http.DefaultTransport
	}
	if logger != nil {
		// The caller of every entry would be the same line of logging.go,
		// reached from inside net/http: it tells a reader nothing. A stack
		// trace (zap.NewProduction adds one at Error) would open with the
		// same frames on every 5xx and every retried attempt, and cost
		// microseconds each; the request ID already identifies the call.
		// FatalLevel+1, above every level, is zap's own default.
		logger = logger.WithOptions(zap.WithCaller(false), zap.AddStacktrace(zapcore.FatalLevel+1))
	}
	t := &Transport{
		base:     base,
		logger:   logger,
		header:   textproto.CanonicalMIMEHeaderKey(DefaultRequestIDHeader), // "X-Request-Id"
		maxBody:  DefaultMaxBodyBytes,
		bodyWait: DefaultBodyReadTimeout,
		now:      time.Now,
		sleep:    sleepContext,
		jitter:   randomJitter,
	}
	for _, opt := range opts {
		opt.apply(t)
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
// response, or its error unchanged. It never modifies req: the request sent
// is a copy carrying the ID in its header and context.
//
// A response with a status of 400 or more gets one log entry, and its body is
// replaced by one that yields the same bytes; any other response is returned
// as the base transport gave it. With [WithRetry], one RoundTrip may make
// several attempts, all with the same request ID.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	id, inHeader := t.requestID(req)
	if t.retry != nil {
		return t.roundTripRetry(req, id, inHeader)
	}
	resp, f, err := t.send(req, id, inHeader, 1)
	if f != nil {
		t.report(f)
	}
	return resp, err
}

// send makes one attempt. The failure record is nil when the attempt
// succeeded.
func (t *Transport) send(req *http.Request, id string, inHeader bool, attempt int) (*http.Response, *failure, error) {
	started := t.now()
	ctx := &idContext{Context: req.Context(), id: id}
	out := req.WithContext(ctx)
	if !inHeader {
		out.Header = cloneHeaderWith(req.Header, t.header, id)
	}
	resp, err := t.base.RoundTrip(out)
	if err == nil && (resp == nil || resp.StatusCode < 400) {
		return resp, nil, nil
	}
	f := newFailure(out, id, started, attempt)
	var end time.Time
	if err != nil {
		f.inspectError(err)
		end = t.now()
	} else {
		end = f.inspectResponse(resp, t.maxBody, t.bodyWait, t.now) // the duration includes the prefix read
		ctx.rec = f
	}
	f.duration = end.Sub(started)
	return resp, f, err
}

// report hands the finished record of a failed attempt to its outputs.
func (t *Transport) report(f *failure) {
	if t.recorder != nil {
		t.recorder.add(f)
	}
	t.logFailure(f)
}

// CloseIdleConnections closes the idle connections of the base transport,
// when it has a CloseIdleConnections method. [http.Client] calls it.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
