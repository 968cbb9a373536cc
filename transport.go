package idctrace

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
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
	level      func(status int, route string) zapcore.Level
	logged     []string    // query parameters whose values are logged, beyond the documented ones
	retry      RetryPolicy // the zero policy never retries
	recorder   *Recorder
	observers  []func(Attempt)

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
		// same frames on every 5xx and every retried attempt; the request
		// ID identifies the call instead. FatalLevel+1 is zap's own "never".
		logger = logger.WithOptions(zap.WithCaller(false), zap.AddStacktrace(zapcore.FatalLevel+1))
	}
	t := &Transport{
		base:     base,
		logger:   logger,
		header:   textproto.CanonicalMIMEHeaderKey(DefaultRequestIDHeader), // "X-Request-Id"
		maxBody:  DefaultMaxBodyBytes,
		bodyWait: DefaultBodyReadTimeout,
		level:    defaultLevel,
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
// response, or a [*TransportError] wrapping the base transport's error. It
// never modifies req: the request sent is a copy carrying the ID in its
// header and context.
//
// A response with a status of 400 or more gets one log entry, and its body is
// replaced by one that yields the same bytes; any other response is returned
// as the base transport gave it. With [WithRetry], one RoundTrip may make
// several attempts, all with the same request ID; without it, one.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	id, header := t.requestHeader(req)
	for attempt := 1; ; attempt++ {
		out := req
		if attempt > 1 && req.Body != nil && req.Body != http.NoBody {
			body, err := req.GetBody()
			if err != nil {
				f := t.failure(req, id, attempt, t.now())
				f.inspectError(fmt.Errorf("idctrace: GetBody for a retry: %w", err))
				f.finish()
				t.report(f)
				return nil, f.transportError()
			}
			out = new(http.Request)
			*out = *req
			out.Body = body
		}
		resp, f := t.send(out, id, header, attempt)
		if f == nil {
			return resp, nil
		}
		wait, again := t.retryWait(req, f)
		f.retrying, f.retryIn = again, wait
		t.report(f)
		switch {
		case !again && f.status == 0:
			return nil, f.transportError()
		case !again:
			return resp, nil
		}
		if resp != nil && resp.Body != nil {
			// The prefix read has reached the end of a small body, which
			// frees the connection; a larger one is not read any further.
			resp.Body.Close()
		}
		if err := t.sleep(req.Context(), wait); err != nil {
			// The wait was cut short: the error is the last attempt's,
			// with the context's error as its cause.
			te := f.transportError()
			te.Err, te.cause, te.Hint = err, err.Error(), ""
			return nil, te
		}
	}
}

// send makes one attempt, with header instead of req's when it is not nil.
// The failure record is nil when the attempt
// succeeded; for a transport error, the response is nil. A base transport
// that breaks the RoundTripper contract gets net/http's answer: a response
// with an error counts as the error, and no response without an error is
// an error.
func (t *Transport) send(req *http.Request, id string, header http.Header, attempt int) (*http.Response, *failure) {
	started := t.now()
	ctx := &idContext{Context: req.Context(), id: id}
	out := req.WithContext(ctx)
	if header != nil {
		out.Header = header
	}
	resp, err := t.base.RoundTrip(out)
	switch {
	case err != nil:
		resp, err = nil, explain(req.Context(), err, t.now())
	case resp == nil:
		err = fmt.Errorf("idctrace: %T returned a nil *http.Response with a nil error", t.base)
	case resp.StatusCode < 400:
		if len(t.observers) > 0 {
			t.observeSuccess(out, id, attempt, started, resp.StatusCode)
		}
		return resp, nil
	}
	f := t.failure(out, id, attempt, started)
	var end time.Time
	if err != nil {
		f.inspectError(err)
		end = t.now()
	} else {
		end = f.inspectResponse(resp, t.maxBody, t.bodyWait, t.now) // the duration includes the prefix read
		ctx.failure = f
	}
	f.duration = end.Sub(started)
	f.finish()
	return resp, f
}

// explain adds to a base transport's error what the Transport knows of its
// cause. An HTTPS request answered in plain HTTP gets the error http.Client
// would give it: the client finds that case by a type assertion, which a
// TransportError defeats. An error that came when the request's context was
// done, or past its deadline, also wraps the context's error:
// http.Client's timer cancels a request as "request canceled", a moment
// before the deadline it enforces ends the context.
func explain(ctx context.Context, err error, now time.Time) error {
	if tlsErr, ok := err.(tls.RecordHeaderError); ok && string(tlsErr.RecordHeader[:]) == "HTTP/" {
		return fmt.Errorf("%w: %w", http.ErrSchemeMismatch, tlsErr)
	}
	ctxErr := ctx.Err()
	if deadline, ok := ctx.Deadline(); ok && !now.Before(deadline) {
		ctxErr = context.DeadlineExceeded
	}
	if ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("%w: %w", err, ctxErr)
	}
	return err
}

// failure starts the record of a failed attempt of req.
func (t *Transport) failure(req *http.Request, id string, attempt int, started time.Time) *failure {
	return newFailure(req, id, started, attempt, t.logged)
}

// report hands the finished record of a failed attempt to its outputs.
func (t *Transport) report(f *failure) {
	if t.recorder != nil {
		t.recorder.add(f)
	}
	t.logFailure(f)
	if len(t.observers) > 0 {
		t.observeFailure(f)
	}
}

// CloseIdleConnections closes the idle connections of the base transport,
// when it has a CloseIdleConnections method. [http.Client] calls it.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
