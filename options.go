package idctrace

import (
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/identitycall/idctrace/internal/api"
)

// DefaultBaseURL is the base URL of the IdentityCall API: every documented
// endpoint is below it.
const DefaultBaseURL = "https://api.identitycall.ai" + api.BasePath

// DefaultRequestIDHeader is the header that carries the request ID unless
// [WithRequestIDHeader] names another.
const DefaultRequestIDHeader = "X-Request-ID"

// defaultMaxBody is the number of error-body bytes read for decoding and
// logging unless [WithMaxBodyBytes] sets another cap.
const defaultMaxBody = 16 << 10

// defaultBodyWait is how long the Transport waits for the error-body
// prefix of a failed response unless [WithBodyReadTimeout] sets another
// bound.
const defaultBodyWait = time.Second

// An Option configures a [Transport].
type Option interface {
	apply(*Transport)
}

type optionFunc func(*Transport)

func (f optionFunc) apply(t *Transport) { f(t) }

// WithRequestIDHeader sets the header that carries the request ID. The
// default is [DefaultRequestIDHeader]; an empty name keeps it. Like
// [http.Header.Get], the Transport looks the header up under its canonical
// key. [New] panics on a name that is not a valid HTTP header field name.
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

// WithIDGenerator sets the function that makes a request ID when the request
// carries none. The default makes a random (version 4) UUID; nil keeps it.
// An ID the generator returns that [ContextWithRequestID] would ignore is
// replaced by a UUID.
func WithIDGenerator(gen func() string) Option {
	return optionFunc(func(t *Transport) {
		if gen != nil {
			t.gen = gen
		}
	})
}

// WithMaxBodyBytes caps the number of error-body bytes decoded and logged:
// the prefix. The default is [defaultMaxBody]; zero or less keeps it.
// The cap never shortens what the caller reads: the rest of the body follows
// the prefix. The body-read bound ([WithBodyReadTimeout]) is on the wait for
// those bytes; decoding and redacting a large cap's worth takes its own time.
func WithMaxBodyBytes(n int64) Option {
	return optionFunc(func(t *Transport) {
		if n > 0 {
			t.maxBody = n
		}
	})
}

// WithBodyReadTimeout bounds the wait for the prefix of a failed response's
// body (see [WithMaxBodyBytes]). When RoundTrip needs the body (see
// [Transport.RoundTrip]), it returns by then with what arrived decoded and
// logged. Otherwise the entry is written by then, counted from RoundTrip's
// return, with what the caller has read (or, when the caller is not
// reading, what the Transport reads in one more bound), and a Close waits
// for the prefix no longer. The default is [defaultBodyWait]; zero
// or less keeps it.
// The bound never shortens what the caller reads: late bytes follow in order.
func WithBodyReadTimeout(d time.Duration) Option {
	return optionFunc(func(t *Transport) {
		if d > 0 {
			t.bodyWait = d
		}
	})
}

// WithLogFields adds the fields fn computes from a request to every failure
// entry. fn runs only for an entry that will be written, in RoundTrip, with the request
// as it was sent (for the end of a call that sent nothing more, the
// caller's request), whose context is the caller's own with the request ID
// added ([RequestIDFromContext]): a trace span, or whatever else the caller
// put there. Its fields are logged as returned, so they must hold no
// secret. A nil fn adds nothing; several WithLogFields options add up, in
// order. Storm summaries (see [WithLogLimit]) speak for many requests and
// get none of these fields.
func WithLogFields(fn func(*http.Request) []zap.Field) Option {
	return optionFunc(func(t *Transport) {
		if fn != nil {
			t.fieldFuncs = append(t.fieldFuncs, fn)
		}
	})
}

// WithLoggedQueryParams logs the values of the named query parameters too.
// By default a URL in any output keeps the values of page and per_page, and
// of the filters its documented endpoint takes (status on the recordings
// list, say); every other value becomes REDACTED, since search text, phone
// numbers and emails are personal data. A name that looks secret (token,
// api_key, password...) stays redacted even when named here. Several
// options add up.
func WithLoggedQueryParams(names ...string) Option {
	return optionFunc(func(t *Transport) {
		t.logged = append(t.logged, names...)
	})
}

// WithLevel sets the level of each failure entry; status is 0 for a
// transport error and route is as [Route]. The default: Debug for the
// documented not-ready answers (422 from a recording's transcription,
// results or summary, which polling meets until the transcription is done),
// Warn for other 4xx, Error for 5xx and transport errors. Levels above
// Error count as Error, so that a failed call never panics or exits the
// program; nil keeps the default.
func WithLevel(fn func(status int, route string) zapcore.Level) Option {
	return optionFunc(func(t *Transport) {
		if fn != nil {
			t.level = fn
		}
	})
}

// WithRetry makes the Transport retry, as the IdentityCall docs advise:
//
//   - 429: after the larger of the body's retry_after and the Retry-After
//     header, or a minute when neither says, and never sooner than the
//     backoff below; a 429
//     asking for more than MaxDelay is returned at once.
//   - 500, 502, 503, 504 and transport errors a retry can cure (connection
//     refused or reset, EOF before the response): after BaseDelay·2^(n-1),
//     capped at MaxDelay, with jitter, and at least a Retry-After under
//     MaxDelay. Never TLS or certificate errors, a malformed request, or a
//     done context.
//   - 400, 401, 403, 404, 422, 501 and every other status: never.
//
// A 429 means the request was not processed: every request is retried
// after one. After a 5xx or a transport error, only a request that cannot
// do its work twice is: a documented endpoint the route table marks
// idempotent (reads, updates, deletes), any other GET, HEAD, OPTIONS, PUT
// or DELETE, and a request with an Idempotency-Key header, or any request
// with RetryNonIdempotent set. A request whose context has [AllowRetry]
// is retried whatever its method, and a purchase (a route that spends
// money) only then. A request body is replayed through req.GetBody only,
// never buffered: a request with a body and no GetBody is sent once.
//
// Retries after 5xx and transport errors are bounded by the policy's
// Budget, when it has one (see [RetryBudget]), and so are retries after a
// 429 that asks for less than the backoff. A 429 pauses the Transport's
// [Limiter] until its retry_after ends (a Transport with WithRetry and no
// [WithLimiter] has one of its own that knows no quota), so that no
// request of any caller goes into a window the server said is closed.
//
// Every attempt carries the same request ID and gets its own log entry with
// its attempt number; an entry followed by a retry adds retry_in, and a
// failure the policy retries but not this time says why in retry_skipped
// (budget, deadline, max_delay, max_retries, not_idempotent, no_get_body).
// The response of a retried attempt is closed just before the retry is
// sent; the last response is returned intact. A deadline that would expire
// during a wait returns the last response without waiting. A wait ends as
// soon as the request's context is done, with a [*TransportError] holding
// the context's error and an entry of its own.
//
// Retries are off by default. A MaxRetries of 0 or less keeps them off; a
// zero BaseDelay or MaxDelay takes the value of [DefaultRetryPolicy].
func WithRetry(p RetryPolicy) Option {
	return optionFunc(func(t *Transport) {
		if p.MaxRetries <= 0 {
			t.retry = RetryPolicy{}
			return
		}
		def := DefaultRetryPolicy()
		if p.BaseDelay <= 0 {
			p.BaseDelay = def.BaseDelay
		}
		if p.MaxDelay <= 0 {
			p.MaxDelay = def.MaxDelay
		}
		t.retry = p
	})
}

// WithRecorder makes the Transport hand every failed attempt, and every
// call's end that sent nothing more, to r, whether or not the logger
// writes its entry. nil records nothing.
func WithRecorder(r *Recorder) Option {
	return optionFunc(func(t *Transport) { t.recorder = r })
}

// WithObserver makes the Transport call fn once per attempt that was sent,
// success or failure, as soon as the attempt's fate is known: when the call
// returns, or when the next attempt is about to be sent (so a failed attempt
// that is retried is observed after the wait, with RetryIn set). The
// call's last attempt has Last set and, when the call returned an error,
// Err; a call that sent nothing (no rate-limit slot before its deadline)
// has no Attempt, only its entry. fn runs on the goroutine of the call and
// must not block; it sees what the log entry sees, redacted the same way. A
// panic in fn reaches the caller, as with any code of the caller's, after
// the Transport has closed the response the call would have returned.
// Successes cost a few allocations more with an observer (the redacted URL)
// and nothing without. A nil fn adds nothing; several WithObserver options
// add up, in order.
func WithObserver(fn func(Attempt)) Option {
	return optionFunc(func(t *Transport) {
		if fn != nil {
			t.observers = append(t.observers, fn)
		}
	})
}

// WithLimiter makes every attempt, retries included, wait for a slot of l
// before it is sent, and a 429 pause l until its retry_after ends (capped
// at the retry policy's MaxDelay, or a minute). An attempt whose slot would
// come after its context's deadline is not sent: a first attempt returns a
// [*TransportError] for which errors.Is(err, [ErrLocalRateLimit]) holds, a
// retry returns the last response, with retry_skipped: deadline in its
// entry. A limiter that cannot decide (its store is unreachable) lets
// requests go, with a warning entry at most once a minute. The time waited
// is in each failure's entry as queued, and in [Attempt.Queued]. A nil l
// keeps the default: no limiter, or with [WithRetry] one that only pauses.
func WithLimiter(l Limiter) Option {
	return optionFunc(func(t *Transport) {
		if l != nil {
			t.limiter = l
		}
	})
}

// WithLogLimit bounds the entries written during a storm of failures: per
// kind of failure (its method, route, and status or transport error class),
// the first n entries of each window of length per are written in full, and
// the others are counted, then written as one summary entry
// ([schema.Summarized]) when the window ends: with the kind's fields,
// suppressed (the count), the first and last request IDs and the first and
// last start times. Nothing is dropped: entries plus the summaries'
// suppressed counts equal the failures. The Recorder, the observers and the
// metrics see every failure. The default is [defaultLogLimit] a second; n
// of 0 or less turns the limit off (an entry per failure: the one option
// where zero does not keep the default), per of 0 or less keeps the
// second. [Transport.Flush] writes pending summaries at once.
func WithLogLimit(n int, per time.Duration) Option {
	return optionFunc(func(t *Transport) {
		if n != 0 {
			t.limitN = n
		}
		if per > 0 {
			t.limitPer = per
		}
	})
}

// validHeaderName reports whether name is an RFC 9110 token, the grammar of a
// header field name. (x/net's httpguts has this; the root package keeps to
// zap and uuid.)
func validHeaderName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return name != ""
}
