package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/identitycall/idctrace/internal/redact"
	"github.com/identitycall/idctrace/internal/schema"
)

// logEntry is one idctrace entry of a log: a failed attempt, or a summary
// of failures of one kind that were counted, not written. Fields absent
// from the line keep their zero value.
type logEntry struct {
	summary bool
	time    time.Time // when it was written
	level   string    // lower case: debug, info, warn, error

	requestID, method, url, route string
	status                        int // 0: a transport error
	duration                      time.Duration
	startedAt                     time.Time
	attempt                       int
	err                           string // for a summary without a status, the cause
	errorType                     string // a transport error's class, as TransportError.ErrorType
	errs                          []string
	retryAfter, retryIn, queued   time.Duration
	body, hint, retrySkipped      string

	suppressed                    int
	firstRequestID, lastRequestID string
	firstAt, lastAt               time.Time
}

type lineKind int

const (
	lineOther lineKind = iota
	lineEntry
	lineUnreadable
	lineTooLong
)

// marker is in every line that holds one of idctrace's messages: lines
// without it are not decoded.
var marker = []byte(`"identitycall request fail`)

// rawEntry is a log line as JSON gives it: fields whose encoding differs
// from one encoder to another stay raw.
type rawEntry struct {
	Msg     *string         `json:"msg"`
	Message *string         `json:"message"`
	Level   string          `json:"level"`
	TS      json.RawMessage `json:"ts"`   // zap
	Time    json.RawMessage `json:"time"` // log/slog

	RequestID  string          `json:"request_id"`
	Method     string          `json:"method"`
	URL        string          `json:"url"`
	Route      string          `json:"route"`
	Status     int             `json:"status"`
	Duration   json.RawMessage `json:"duration"`
	StartedAt  json.RawMessage `json:"started_at"`
	Attempt    int             `json:"attempt"`
	Error      string          `json:"error"`
	ErrorType  string          `json:"error_type"`
	Errors     []string        `json:"errors"`
	RetryAfter json.RawMessage `json:"retry_after"`
	Body       string          `json:"body"`
	RetryIn    json.RawMessage `json:"retry_in"`
	Hint       string          `json:"hint"`
	Skipped    string          `json:"retry_skipped"`
	Queued     json.RawMessage `json:"queued"`

	Suppressed     int             `json:"suppressed"`
	FirstRequestID string          `json:"first_request_id"`
	LastRequestID  string          `json:"last_request_id"`
	FirstAt        json.RawMessage `json:"first_at"`
	LastAt         json.RawMessage `json:"last_at"`
}

// parseLine decodes one line.
func parseLine(line []byte, tooLong bool) (*logEntry, lineKind) {
	switch {
	case tooLong:
		return nil, lineTooLong
	case !bytes.Contains(line, marker):
		return nil, lineOther
	}
	var raw rawEntry
	if err := json.Unmarshal(line, &raw); err != nil {
		return nil, lineUnreadable
	}
	msg := raw.Msg
	if msg == nil {
		msg = raw.Message
	}
	if msg == nil || *msg != schema.Failed && *msg != schema.Summarized {
		return nil, lineOther
	}
	e, err := raw.entry(*msg == schema.Summarized)
	if err != nil {
		return nil, lineUnreadable
	}
	return e, lineEntry
}

// entry converts raw, and checks that it is plausible: a line that is
// not is damage, not a failure (see plausible).
func (raw *rawEntry) entry(summary bool) (*logEntry, error) {
	e := &logEntry{
		summary: summary, level: cutField(strings.ToLower(raw.Level)),
		requestID: cutField(raw.RequestID), method: cutField(raw.Method), url: cutField(raw.URL), route: cutField(raw.Route),
		status: raw.Status, attempt: raw.Attempt, err: cutField(raw.Error), errorType: cutField(raw.ErrorType),
		body: cutField(raw.Body), hint: cutField(raw.Hint), retrySkipped: cutField(raw.Skipped),
		suppressed: raw.Suppressed, firstRequestID: cutField(raw.FirstRequestID), lastRequestID: cutField(raw.LastRequestID),
	}
	for _, msg := range raw.Errors[:min(len(raw.Errors), maxErrors)] {
		e.errs = append(e.errs, cutField(msg))
	}
	at := raw.TS
	nanos := len(raw.TS) == 0 && len(raw.Time) > 0
	if nanos {
		at = raw.Time
	}
	var err error
	for _, t := range []struct {
		dst *time.Time
		raw json.RawMessage
	}{{&e.time, at}, {&e.startedAt, raw.StartedAt}, {&e.firstAt, raw.FirstAt}, {&e.lastAt, raw.LastAt}} {
		var terr error
		*t.dst, terr = parseTime(t.raw)
		err = cmp.Or(err, terr)
	}
	for _, d := range []struct {
		dst *time.Duration
		raw json.RawMessage
	}{{&e.duration, raw.Duration}, {&e.retryAfter, raw.RetryAfter}, {&e.retryIn, raw.RetryIn}, {&e.queued, raw.Queued}} {
		var derr error
		*d.dst, derr = parseDuration(d.raw, nanos)
		err = cmp.Or(err, derr)
	}
	return e, cmp.Or(err, e.plausible())
}

// Bounds of what an entry keeps of its line, so that what a reader keeps
// of many entries is bounded however long their lines are.
const (
	maxField  = 4 << 10 // bytes of a text field; a longer one is cut
	maxErrors = 16      // messages of a 422's errors
)

// cutField returns s, or when it is longer than maxField, its redacted
// start and "…". It is redacted as cut text (see [redact.Text]), so that
// the cut cannot leave a key's start unmasked; redacting it again when
// it is printed changes nothing.
func cutField(s string) string {
	if len(s) <= maxField {
		return s
	}
	end := maxField
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return redact.Text(s[:end], nil, true) + "…"
}

// The window of plausible times, in seconds since 1970: from 2000 to
// 2200. A duration longer than the window cannot be one of its own.
const (
	earliestUnix = 946684800  // 2000-01-01T00:00:00Z
	latestUnix   = 7258118400 // 2200-01-01T00:00:00Z
	maxDuration  = (latestUnix - earliestUnix) * time.Second
)

// errImplausible is a value that decodes but cannot be a failure's.
var errImplausible = errors.New("not a plausible value")

// plausible checks what decoding alone does not: counts are not negative,
// a status is an HTTP status. (Times and durations are checked as they
// are parsed.)
func (e *logEntry) plausible() error {
	if e.suppressed < 0 || e.attempt < 0 || e.status != 0 && (e.status < 100 || e.status > 999) {
		return errImplausible
	}
	return nil
}

// timeLayouts are the time formats of strings: RFC 3339 (log/slog, zap's
// RFC3339 encoders) and ISO 8601 without a colon in the offset (zap's
// ISO8601TimeEncoder).
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700"}

// parseTime reads a time: a string in one of timeLayouts, or a number of
// seconds since 1970 (zap's default), or of milli-, micro- or nanoseconds
// (zap's other epoch encoders), told apart by their size. Absent is zero;
// a time outside the plausible window (2000 to 2200) is an error.
func parseTime(raw json.RawMessage) (time.Time, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, nil
	}
	t, err := parseTimeValue(raw)
	if err != nil {
		return time.Time{}, err
	}
	if s := t.Unix(); s < earliestUnix || s >= latestUnix {
		return time.Time{}, errImplausible
	}
	return t, nil
}

func parseTimeValue(raw json.RawMessage) (time.Time, error) {
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, err
		}
		var err error
		for _, layout := range timeLayouts {
			var t time.Time
			if t, err = time.Parse(layout, s); err == nil {
				return t, nil
			}
		}
		return time.Time{}, err
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return time.Time{}, err
	}
	// Seconds until the year 5138, then milliseconds, microseconds and
	// nanoseconds, which all begin well above it for times after 1973.
	// Beyond what an int64 of nanoseconds holds, no unit converts.
	switch {
	case f < earliestUnix || f >= math.MaxInt64:
		return time.Time{}, errImplausible
	case f < 1e11:
		// A float64 of today's seconds holds microseconds, not nanoseconds.
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).Round(time.Microsecond).UTC(), nil
	case f < 1e14:
		return time.UnixMicro(int64(f * 1e3)).UTC(), nil
	case f < 1e17:
		return time.UnixMicro(int64(f)).UTC(), nil
	}
	return time.Unix(0, int64(f)).UTC(), nil
}

// parseDuration reads a duration: a string such as "1.5s", or a number of
// seconds, or of nanoseconds when nanos. Absent is zero; a negative one,
// or one longer than maxDuration, is an error.
func parseDuration(raw json.RawMessage, nanos bool) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var d time.Duration
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, err
		}
	} else {
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			return 0, err
		}
		if !nanos {
			f = math.Round(f * float64(time.Second)) // 0.0123 s is 12300000 ns, not 12299999
		}
		if !(f >= 0 && f <= float64(maxDuration)) {
			return 0, errImplausible // before converting: beyond an int64, conversion gives any number
		}
		d = time.Duration(f)
	}
	if d < 0 || d > maxDuration {
		return 0, errImplausible
	}
	return d, nil
}
