package idctrace

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/identitycall/idctrace/internal/api"
	"github.com/identitycall/idctrace/internal/redact"
)

// failure is what the Transport learns from one failed attempt. It is built
// once, already redacted, and feeds every output: the log entry, the
// APIError or TransportError, the support ticket and the Recorder's bundle.
type failure struct {
	requestID string
	method    string
	url       string // redacted
	route     string // as Route; "" for an undocumented path
	status    int    // 0 for a transport error
	started   time.Time
	duration  time.Duration
	attempt   int

	message    string   // the body's "error", or the transport error's text
	errs       []string // the body's "errors"
	retryAfter time.Duration
	hasRetry   bool          // retryAfter came from the body or the header
	waitHint   time.Duration // the larger of the body's and the header's value
	body       string        // set when the body is not the documented JSON
	hint       string

	endpoint   api.Endpoint // the documented endpoint, when documented
	documented bool
	err        error // the transport error, unredacted, never logged as is
	retrying   bool  // another attempt follows, after retryIn
	retryIn    time.Duration
	sent       *http.Request // the request as sent, for field hooks; never logged
	secrets    []string      // the request's own secrets, never logged
}

// newFailure starts the record of a failed attempt of req. The values of
// its endpoint's documented query parameters and of those named in logged
// are logged; others are not.
func newFailure(req *http.Request, id string, started time.Time, attempt int, logged []string) *failure {
	e, documented := endpointOf(req)
	secrets := redact.AppendSecrets(nil, req)
	loggedParam := func(name string) bool { return e.LoggedParam(name) || slices.Contains(logged, name) }
	return &failure{
		requestID:  id,
		method:     req.Method,
		url:        redact.URL(req.URL, loggedParam, secrets),
		route:      e.Path,
		started:    started,
		attempt:    attempt,
		endpoint:   e,
		documented: documented,
		sent:       req,
		secrets:    secrets,
	}
}

// finish completes f once its duration is known.
func (f *failure) finish() {
	f.hint = f.findHint(f.endpoint, f.documented)
}

// apiError returns a new APIError from the record of an HTTP failure.
func (f *failure) apiError() *APIError {
	return &APIError{
		StatusCode: f.status,
		Message:    f.message,
		Errors:     slices.Clone(f.errs),
		RetryAfter: f.retryAfter,
		RequestID:  f.requestID,
		Method:     f.method,
		URL:        f.url,
		Route:      f.route,
		Time:       f.started.UTC(),
		Body:       f.body,
		Hint:       f.hint,
		Attempt:    f.attempt,
	}
}

// transportError returns a new TransportError from the record of a
// transport failure.
func (f *failure) transportError() *TransportError {
	return &TransportError{
		RequestID: f.requestID,
		Method:    f.method,
		URL:       f.url,
		Route:     f.route,
		Time:      f.started.UTC(),
		Duration:  f.duration,
		Attempt:   f.attempt,
		Hint:      f.hint,
		Err:       f.err,
		cause:     f.message,
	}
}

// inspectResponse reads at most limit bytes of resp's body, waiting at most
// wait for them, puts back a body that yields all of it, and fills f from
// the status, the prefix and the Retry-After header. It reads the clock
// once, after the prefix, and returns that time: the end of the attempt.
func (f *failure) inspectResponse(resp *http.Response, limit int64, wait time.Duration, clock func() time.Time) time.Time {
	f.status = resp.StatusCode
	var prefix []byte
	var cut bool
	if resp.Body != nil && resp.Body != http.NoBody {
		var b *failureBody
		b, prefix, cut = readFailureBody(f.sent.Context(), resp.Body, limit, wait)
		b.failure = f
		resp.Body = b.asBody()
	}
	if isGzip(resp, prefix) {
		prefix, cut = gunzipPrefix(prefix, limit)
	}
	f.decode(prefix, cut)

	now := clock()
	// The error reports the body's retry_after first; a retry waits for the
	// larger of it and the header.
	header, hasHeader := parseRetryAfter(resp.Header.Get("Retry-After"), now)
	switch {
	case f.hasRetry:
		f.waitHint = max(f.retryAfter, header)
	case hasHeader:
		f.retryAfter, f.waitHint, f.hasRetry = header, header, true
	}
	return now
}

// inspectError fills f from a transport error.
func (f *failure) inspectError(err error) {
	f.err = err
	f.message = redact.Text(err.Error(), f.secrets, false)
}

// showsRetryAfter reports whether the outputs carry retry_after: always for
// a 429, and whenever the server gave a value.
func (f *failure) showsRetryAfter() bool {
	return f.hasRetry || f.status == http.StatusTooManyRequests
}

// errorBody is the IdentityCall error body: {"error": "..."} or, for
// validation errors, {"errors": ["...", "..."]}; a 429 adds "retry_after",
// in seconds.
type errorBody struct {
	Error      string          `json:"error"`
	Errors     []string        `json:"errors"`
	RetryAfter json.RawMessage `json:"retry_after"`
}

// decode fills f from an error body, which is cut when it may be the start
// of a longer one. Text that is not the documented JSON is kept, redacted,
// in f.body. Fields of the wrong type are skipped.
func (f *failure) decode(body []byte, cut bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return
	}
	var w errorBody
	if err := json.Unmarshal(body, &w); err != nil {
		if _, wrongType := err.(*json.UnmarshalTypeError); !wrongType {
			w = errorBody{} // not JSON, cut short or too deep
		}
	}
	if w.Error != "" {
		f.message = redact.Text(w.Error, f.secrets, false)
	}
	for _, e := range w.Errors {
		f.errs = append(f.errs, redact.Text(e, f.secrets, false))
	}
	if d, ok := parseSeconds(string(bytes.Trim(w.RetryAfter, `"`))); ok {
		f.retryAfter, f.hasRetry = d, true
	}
	if f.message == "" && len(f.errs) == 0 {
		f.body = redact.Text(string(body), f.secrets, cut)
	}
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if d, ok := parseSeconds(v); ok {
		return d, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxWait), true
	}
	return 0, false
}

// maxWait bounds parsed waits so that no arithmetic on them overflows.
const maxWait = time.Duration(math.MaxInt64 / 4)

// parseSeconds reads a number of seconds, fractions allowed. Negative values
// give 0 and huge ones maxWait, so the result is always a usable wait.
func parseSeconds(s string) (time.Duration, bool) {
	if s == "" || s == "null" {
		return 0, false
	}
	secs, err := strconv.ParseFloat(s, 64)
	if err != nil && !isRangeErr(err) || math.IsNaN(secs) {
		return 0, false
	}
	switch {
	case secs <= 0:
		return 0, true
	case secs >= maxWait.Seconds():
		return maxWait, true
	}
	return time.Duration(secs * float64(time.Second)), true
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// isGzip reports whether resp's body, which starts with prefix, is still
// gzip-encoded, as it is when the caller asked for gzip itself and the
// transport did not decode it.
func isGzip(resp *http.Response, prefix []byte) bool {
	return !resp.Uncompressed && bytes.HasPrefix(prefix, []byte{0x1f, 0x8b}) &&
		strings.EqualFold(strings.TrimSpace(resp.Header.Get("Content-Encoding")), "gzip")
}

// gunzipPrefix decodes as much of a gzip prefix as it holds, up to limit
// decoded bytes, so that a small bomb cannot grow past the cap. cut reports
// that the text may go on.
func gunzipPrefix(p []byte, limit int64) (text []byte, cut bool) {
	zr, err := gzip.NewReader(bytes.NewReader(p))
	if err != nil {
		return p, true
	}
	text, err = io.ReadAll(io.LimitReader(zr, limit)) // a truncated stream still yields its start
	return text, err != nil || int64(len(text)) == limit
}
