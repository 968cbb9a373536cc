package idctrace

import (
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"go.uber.org/zap"
)

// DefaultRequestIDHeader is the header that carries the request ID unless
// [WithRequestIDHeader] names another.
const DefaultRequestIDHeader = "X-Request-ID"

// DefaultMaxBodyBytes is the number of error-body bytes read for decoding and
// logging unless [WithMaxBodyBytes] sets another cap.
const DefaultMaxBodyBytes = 16 << 10

// DefaultBodyReadTimeout is how long the Transport waits for the error-body
// prefix of a failed response unless [WithBodyReadTimeout] sets another
// bound.
const DefaultBodyReadTimeout = time.Second

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
// An ID the generator returns that is empty, longer than 128 bytes or holds
// control characters is replaced by a UUID.
func WithIDGenerator(gen func() string) Option {
	return optionFunc(func(t *Transport) {
		if gen != nil {
			t.gen = gen
		}
	})
}

// WithMaxBodyBytes caps the number of error-body bytes read for decoding and
// logging. The default is [DefaultMaxBodyBytes]; zero or less keeps it. The
// cap never shortens what the caller reads: the rest of the body follows the
// inspected prefix.
func WithMaxBodyBytes(n int64) Option {
	return optionFunc(func(t *Transport) {
		if n > 0 {
			t.maxBody = n
		}
	})
}

// WithBodyReadTimeout bounds how long RoundTrip waits for the prefix of a
// failed response's body (see [WithMaxBodyBytes]) before it returns the
// response with what arrived decoded and logged. The default is
// [DefaultBodyReadTimeout]; zero or less keeps it. The bound never shortens
// what the caller reads: late bytes follow in order.
func WithBodyReadTimeout(d time.Duration) Option {
	return optionFunc(func(t *Transport) {
		if d > 0 {
			t.bodyWait = d
		}
	})
}

// WithLogFields adds the fields fn computes from a request to every failure
// entry. fn runs only when an entry is about to be written, with the request
// as it was sent (its context carries the request ID and whatever the caller
// put there, such as a trace span). Its fields are logged as returned, so
// they must hold no secret. A nil fn adds nothing; several WithLogFields
// options add up, in order.
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
