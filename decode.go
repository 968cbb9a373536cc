package idctrace

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/identitycall/idctrace/internal/redact"
)

// inspectHeader keeps what r needs of resp's status line and header, as of
// now, so that the body can be decoded later without touching resp.
func (r *record) inspectHeader(resp *http.Response, now time.Time) {
	r.status = resp.StatusCode
	r.gzipped = !resp.Uncompressed && strings.EqualFold(strings.TrimSpace(resp.Header.Get("Content-Encoding")), "gzip")
	if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
		r.retryAfter, r.waitHint, r.hasRetry = d, d, true
	}
}

// decodeBody fills r from the prefix of its body, at most limit bytes; cut
// reports that the body may go on.
func (r *record) decodeBody(prefix []byte, cut bool, limit int64) {
	if r.gzipped && bytes.HasPrefix(prefix, []byte{0x1f, 0x8b}) {
		// The caller asked for gzip itself, and the transport did not decode it.
		prefix, cut = gunzipPrefix(prefix, limit)
	}
	r.decode(prefix, cut)
	if r.status == http.StatusForbidden {
		r.hint = r.findHint() // it reads the decoded message
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

// decode fills r from an error body, which is cut when it may be the start
// of a longer one. Text that is not the documented JSON is kept, redacted,
// in r.body. Fields of the wrong type are skipped. A retry_after in the
// body is reported, and a retry waits for the larger of it and the header's.
func (r *record) decode(body []byte, cut bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return
	}
	var w errorBody
	err := json.Unmarshal(body, &w)
	if _, wrongType := err.(*json.UnmarshalTypeError); err != nil && !wrongType {
		w = errorBody{} // not JSON, cut short or too deep
	}
	if w.Error != "" {
		r.message = redact.Text(w.Error, r.secrets, false)
	}
	for _, e := range w.Errors {
		r.errs = append(r.errs, redact.Text(e, r.secrets, false))
	}
	if d, ok := parseSeconds(string(bytes.Trim(w.RetryAfter, `"`))); ok {
		r.retryAfter, r.waitHint, r.hasRetry = d, max(r.waitHint, d), true
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
	if err != nil && !errors.Is(err, strconv.ErrRange) || math.IsNaN(secs) {
		return 0, false
	}
	if secs >= maxWait.Seconds() {
		return maxWait, true
	}
	return time.Duration(max(secs, 0) * float64(time.Second)), true
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
