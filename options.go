package idctrace

import (
	"cmp"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// DefaultBaseURL is the base URL of the IdentityCall API: every documented
// endpoint is below it.
const DefaultBaseURL = "https://api.identitycall.ai/api/v1/public"

// DefaultRequestIDHeader is the header that carries the request ID unless
// [WithRequestIDHeader] names another.
const DefaultRequestIDHeader = "X-Request-ID"

const (
	defaultMaxBody  = 16 << 10    // bytes of a failed body decoded: the prefix
	defaultBodyWait = time.Second // the longest wait for a prefix
)

// An Option configures a [Transport].
type Option interface {
	apply(*Transport)
}

type optionFunc func(*Transport)

func (f optionFunc) apply(t *Transport) { f(t) }

// WithRequestIDHeader sets the header that carries the request ID; "" keeps
// [DefaultRequestIDHeader]. [New] panics on a name that is not a valid
// header field name.
func WithRequestIDHeader(name string) Option {
	return optionFunc(func(t *Transport) {
		if name == "" {
			return
		}
		if !validHeaderName(name) {
			panic(fmt.Sprintf("idctrace: WithRequestIDHeader: invalid header name %q", name))
		}
		t.header = textproto.CanonicalMIMEHeaderKey(name)
	})
}

// WithIDGenerator sets the function that makes the ID of a request that
// carries none; nil keeps the default, a random UUID. An ID that
// [ContextWithRequestID] would ignore is replaced by a UUID.
func WithIDGenerator(gen func() string) Option {
	return optionFunc(func(t *Transport) {
		if gen != nil {
			t.gen = gen
		}
	})
}

// WithMaxBodyBytes sets how many bytes of a failed response's body are
// decoded and logged; zero or less keeps 16 KiB. The caller still reads the
// whole body.
func WithMaxBodyBytes(n int64) Option {
	return optionFunc(func(t *Transport) { t.maxBody = cmp.Or(max(n, 0), t.maxBody) })
}

// WithBodyReadTimeout sets the longest wait for those bytes (see the
// package doc, A failed call); zero or less keeps a second. It never
// shortens what the caller reads.
func WithBodyReadTimeout(d time.Duration) Option {
	return optionFunc(func(t *Transport) { t.bodyWait = cmp.Or(max(d, 0), t.bodyWait) })
}

// WithLogFields adds the fields fn returns to every failure entry that is
// written. fn gets the request as sent, whose context is the caller's with
// the request ID: a trace span, say. Its fields are logged as returned, so
// they must hold no secret. nil adds nothing; several add up, in order.
// Storm summaries get none of them.
func WithLogFields(fn func(*http.Request) []zap.Field) Option {
	return optionFunc(func(t *Transport) {
		if fn != nil {
			t.fieldFuncs = append(t.fieldFuncs, fn)
		}
	})
}

// WithLoggedQueryParams logs the values of the named query parameters too.
// By default only page, per_page and the filters of the documented endpoint
// keep their values; search text, phone numbers and emails are personal
// data. A name that looks secret (token, api_key, password...) stays
// redacted anyway. Several add up.
func WithLoggedQueryParams(names ...string) Option {
	return optionFunc(func(t *Transport) {
		t.logged = append(t.logged, names...)
	})
}

// WithLevel sets the level of each failure entry from its status (0 for a
// transport error) and route ([Route]); nil keeps the default (see the
// package doc, Log entries). Levels above Error count as Error: a failed
// call never panics or exits the program.
func WithLevel(fn func(status int, route string) zapcore.Level) Option {
	return optionFunc(func(t *Transport) {
		if fn != nil {
			t.level = fn
		}
	})
}

// WithRetry makes the Transport retry, as the IdentityCall docs ask (see
// the package doc, Retries and quotas). Every attempt carries the same
// request ID and gets its own entry. A MaxRetries of 0 or less keeps
// retries off, the default; a zero BaseDelay or MaxDelay takes the value
// of [DefaultRetryPolicy].
func WithRetry(p RetryPolicy) Option {
	return optionFunc(func(t *Transport) {
		if p.MaxRetries <= 0 {
			t.retry = RetryPolicy{}
			return
		}
		def := DefaultRetryPolicy()
		p.BaseDelay = cmp.Or(max(p.BaseDelay, 0), def.BaseDelay)
		p.MaxDelay = cmp.Or(max(p.MaxDelay, 0), def.MaxDelay)
		t.retry = p
	})
}

// WithRecorder hands every failed attempt, and every call's end that sent
// nothing more, to r, whether or not its entry is written; nil records
// nothing.
func WithRecorder(r *Recorder) Option {
	return optionFunc(func(t *Transport) { t.recorder = r })
}

// WithObserver calls fn once per attempt that was sent, success or failure,
// on the caller's goroutine, when its fate is known: when the call returns,
// or when the next attempt is about to be sent. fn sees what the entry
// sees, redacted, and must not block. nil adds nothing; several add up, in
// order.
func WithObserver(fn func(Attempt)) Option {
	return optionFunc(func(t *Transport) {
		if fn != nil {
			t.observers = append(t.observers, fn)
		}
	})
}

// WithLimiter makes every attempt, retries included, wait for a slot of l,
// and a 429 pause l until its retry_after ends (see the package doc,
// Retries and quotas). nil keeps the default: none, or with [WithRetry] one
// that only pauses.
func WithLimiter(l Limiter) Option {
	return optionFunc(func(t *Transport) {
		if l != nil {
			t.limiter = l
		}
	})
}

// WithLogLimit writes, per kind of failure, the first n entries of each
// window of length per, and counts the others into one summary entry per
// window (see the package doc, Log entries). Zero keeps the default: 10 a
// second. A negative n turns the limit off.
func WithLogLimit(n int, per time.Duration) Option {
	return optionFunc(func(t *Transport) {
		t.limitN = cmp.Or(n, t.limitN)
		t.limitPer = cmp.Or(max(per, 0), t.limitPer)
	})
}

// validHeaderName reports whether name is an RFC 9110 token, the grammar of a
// header field name. (x/net's httpguts has this; the root package keeps to
// zap and uuid.)
func validHeaderName(name string) bool {
	const tchar = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	return name != "" && strings.Trim(name, tchar) == "" // nothing but tchar
}
