package idctrace

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/identitycall/idctrace/internal/redact"
)

// inspectResponse reads at most limit bytes of resp's body, waiting at most
// wait for them, puts back a body that yields all of it, and fills r from
// the status, the prefix and the Retry-After header. It reads the clock
// once, after the prefix, and returns that time: the end of the attempt.
func (r *record) inspectResponse(resp *http.Response, limit int64, wait time.Duration, clock func() time.Time) time.Time {
	r.inspectHeader(resp)
	var prefix []byte
	var cut bool
	if resp.Body != nil && resp.Body != http.NoBody {
		var b *failureBody
		b, prefix, cut = readFailureBody(r.sent.Context(), resp.Body, limit, wait)
		b.record = r
		resp.Body = b.asBody()
	}
	now := clock()
	r.decodeBody(prefix, cut, limit, now)
	return now
}

// inspectHeader keeps what r needs of resp's status line and header, so
// that the body can be decoded later without touching resp.
func (r *record) inspectHeader(resp *http.Response) {
	r.status = resp.StatusCode
	r.gzipped = !resp.Uncompressed && strings.EqualFold(strings.TrimSpace(resp.Header.Get("Content-Encoding")), "gzip")
	r.retryHeader = resp.Header.Get("Retry-After")
}

// decodeBody fills r from the prefix of the body, at most limit bytes, and
// the Retry-After header, as of now.
func (r *record) decodeBody(prefix []byte, cut bool, limit int64, now time.Time) {
	if r.gzipped && bytes.HasPrefix(prefix, []byte{0x1f, 0x8b}) {
		// The caller asked for gzip itself, and the transport did not decode it.
		prefix, cut = gunzipPrefix(prefix, limit)
	}
	r.decode(prefix, cut)

	// The error reports the body's retry_after first; a retry waits for the
	// larger of it and the header.
	header, hasHeader := parseRetryAfter(r.retryHeader, now)
	switch {
	case r.hasRetry:
		r.waitHint = max(r.retryAfter, header)
	case hasHeader:
		r.retryAfter, r.waitHint, r.hasRetry = header, header, true
	}
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
// in r.body. Fields of the wrong type are skipped.
func (r *record) decode(body []byte, cut bool) {
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
		r.message = redact.Text(w.Error, r.secrets, false)
	}
	for _, e := range w.Errors {
		r.errs = append(r.errs, redact.Text(e, r.secrets, false))
	}
	if d, ok := parseSeconds(string(bytes.Trim(w.RetryAfter, `"`))); ok {
		r.retryAfter, r.hasRetry = d, true
	}
	if r.message == "" && len(r.errs) == 0 {
		r.body = redact.Text(string(body), r.secrets, cut)
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
