package main

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/identitycall/idctrace/internal/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// summaryLine writes a storm summary as issue 19 has the Transport write
// it: zap fields on the summary message.
func summaryLine(logger *zap.Logger, route string, status int, cause string, n int, first, last time.Time) {
	fields := []zap.Field{zap.String("method", "GET"), zap.String("route", route)}
	if status != 0 {
		fields = append(fields, zap.Int("status", status))
	} else {
		fields = append(fields, zap.String(schema.ErrorType, cause))
	}
	fields = append(fields, zap.Int("suppressed", n),
		zap.String("first_request_id", "first-"+route), zap.String("last_request_id", "last-"+route),
		zap.Time("first_at", first), zap.Time("last_at", last))
	logger.Error(schema.Summarized, fields...)
}

func TestReadSummaries(t *testing.T) {
	t.Parallel()
	first := time.Date(2026, 3, 1, 14, 0, 0, 250e6, time.UTC)
	last := first.Add(700 * time.Millisecond)
	for _, newLog := range []func(io.Writer) *zap.Logger{zapProduction, zapStrings, slogJSON} {
		var buf bytes.Buffer
		logger := newLog(&buf)
		summaryLine(logger, "/recordings", 0, "connection_refused", 1234, first, last)
		summaryLine(logger, "/projects", 503, "", 7, first, last)
		entries, stats := readAllEntries(t, nil, &buf)
		require.Len(t, entries, 2, buf.String())
		assert.Equal(t, logStats{logs: 1, lines: 2, summaries: 2}, stats)
		e := entries[0]
		assert.True(t, e.summary)
		assert.Equal(t, "connection_refused", e.errorType)
		assert.Equal(t, 1234, e.suppressed)
		assert.Equal(t, "first-/recordings", e.firstRequestID)
		assert.Equal(t, "last-/recordings", e.lastRequestID)
		assert.WithinDuration(t, first, e.firstAt, time.Microsecond)
		assert.WithinDuration(t, last, e.lastAt, time.Microsecond)
		assert.Equal(t, 503, entries[1].status)
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	want := time.Date(2026, 3, 1, 14, 0, 5, 123456000, time.UTC)
	for _, raw := range []string{
		`1772373605.123456`, `1772373605123.456`, `1772373605123456`, `1772373605123456000`,
		`"2026-03-01T14:00:05.123456Z"`, `"2026-03-01T15:00:05.123456+01:00"`, `"2026-03-01T15:00:05.123456+0100"`,
	} {
		got, err := parseTime(json.RawMessage(raw))
		require.NoError(t, err, raw)
		assert.WithinDuration(t, want, got, time.Microsecond, raw)
	}
	for _, raw := range []string{``, `null`} {
		got, err := parseTime(json.RawMessage(raw))
		assert.NoError(t, err)
		assert.True(t, got.IsZero())
	}
	for _, raw := range []string{`"yesterday"`, `true`, `"2026-03-01"`} {
		_, err := parseTime(json.RawMessage(raw))
		assert.Error(t, err, raw)
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw   string
		nanos bool
		want  time.Duration
	}{
		{`1.5`, false, 1500 * time.Millisecond},
		{`0.000042`, false, 42 * time.Microsecond},
		{`1`, false, time.Second},
		{`"1.5s"`, false, 1500 * time.Millisecond},
		{`"250ms"`, true, 250 * time.Millisecond},
		{`1500000000`, true, 1500 * time.Millisecond},
		{``, false, 0},
	}
	for _, tt := range tests {
		got, err := parseDuration(json.RawMessage(tt.raw), tt.nanos)
		require.NoError(t, err, tt.raw)
		assert.Equal(t, tt.want, got, tt.raw)
	}
	_, err := parseDuration(json.RawMessage(`"soon"`), false)
	assert.Error(t, err)
}

// TestImplausibleEntriesAreUnreadable: a line that decodes to an entry
// that cannot be right is counted as unreadable and skipped, whatever
// field is wrong. Before, a time of -1e300 was read as a time before the
// year 1, which report -json could not print, and a negative count was
// summed.
func TestImplausibleEntriesAreUnreadable(t *testing.T) {
	t.Parallel()
	const head = `{"level":"warn","msg":"identitycall request failed","request_id":"r-1",`
	const summary = `{"level":"error","msg":"identitycall request failures summarized",`
	tests := []struct {
		name, line string
		readable   bool
	}{
		{"a good entry", head + `"ts":1772373605.5,"status":404}`, true},
		{"the first plausible second", head + `"ts":946684800,"status":404}`, true},
		{"a time late in 2199", head + `"ts":"2199-12-31T23:59:59Z","status":404}`, true},
		{"no time at all", head + `"status":404}`, true},
		{"ts -1e300", head + `"ts":-1e300,"status":404}`, false},
		{"ts 1e300", head + `"ts":1e300,"status":404}`, false},
		{"ts 0", head + `"ts":0,"status":404}`, false},
		{"a second before 2000", head + `"ts":946684799.9,"status":404}`, false},
		{"nanoseconds beyond an int64", head + `"ts":1e19,"status":404}`, false},
		{"the year 1", head + `"ts":"0001-01-01T00:00:00Z","status":404}`, false},
		{"the year 2200", head + `"ts":"2200-01-01T00:00:00Z","status":404}`, false},
		{"slog's time in 9999", head + `"time":"9999-01-01T00:00:00Z","status":404}`, false},
		{"started_at before 2000", head + `"ts":1772373605,"started_at":-5,"status":404}`, false},
		{"a negative duration", head + `"ts":1772373605,"duration":-0.5,"status":404}`, false},
		{"a duration of 1e300 s", head + `"ts":1772373605,"duration":1e300,"status":404}`, false},
		{"a duration string of -5s", head + `"ts":1772373605,"retry_in":"-5s","status":404}`, false},
		{"300 years of queueing", head + `"ts":1772373605,"queued":9.5e9,"status":404}`, false},
		{"a negative attempt", head + `"ts":1772373605,"attempt":-1,"status":404}`, false},
		{"status 42", head + `"ts":1772373605,"status":42}`, false},
		{"status 1000", head + `"ts":1772373605,"status":1000}`, false},
		{"status as text", head + `"ts":1772373605,"status":"404"}`, false},
		{"errors as text", head + `"ts":1772373605,"status":422,"errors":"bad"}`, false},
		{"a summary", summary + `"ts":1772373605,"suppressed":12,"first_at":1772373600,"last_at":1772373604}`, true},
		{"a summary of MaxInt64", summary + `"ts":1772373605,"suppressed":9223372036854775807}`, true},
		{"a negative summary", summary + `"ts":1772373605,"suppressed":-9223372036854775808}`, false},
		{"a summary past MaxInt64", summary + `"ts":1772373605,"suppressed":9223372036854775808}`, false},
		{"a summary's last_at in 2300", summary + `"ts":1772373605,"suppressed":2,"last_at":10468800000}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, kind := parseLine([]byte(tt.line), false)
			if !tt.readable {
				assert.Equal(t, lineUnreadable, kind)
				assert.Nil(t, e)
				return
			}
			require.Equal(t, lineEntry, kind)
			assert.True(t, e.time.IsZero() || e.time.Year() >= 2000 && e.time.Year() < 2200, e.time)
		})
	}
}

// TestLongFieldsAreCut: an entry keeps at most maxField bytes of a text
// field and maxErrors messages, so that what readers keep of many entries
// is bounded; a key the cut runs through shows none of its characters.
func TestLongFieldsAreCut(t *testing.T) {
	t.Parallel()
	key := "idc_" + strings.Repeat("k", 28) + "WXYZ"
	long := strings.Repeat("é", maxField/2-10) + key // the key straddles the cut
	errs := make([]string, 100)
	for i := range errs {
		errs[i] = long
	}
	var buf bytes.Buffer
	zapProduction(&buf).Warn(schema.Failed, zap.String(schema.RequestID, long), zap.String(schema.URL, "https://h/"+long),
		zap.String(schema.Hint, long), zap.String(schema.Body, long), zap.String(schema.Error, long), zap.Strings(schema.Errors, errs),
		zap.String(schema.Method, "GET"), zap.Int(schema.Status, 422))
	e, kind := parseLine(bytes.TrimSpace(buf.Bytes()), false)
	require.Equal(t, lineEntry, kind)
	for _, s := range append([]string{e.requestID, e.url, e.hint, e.body, e.err}, e.errs...) {
		assert.LessOrEqual(t, len(s), maxField+len("…"))
		assert.True(t, strings.HasSuffix(s, "…"))
		assert.NotContains(t, s, "idc_kkkk")
		assert.True(t, utf8.ValidString(s))
	}
	assert.Len(t, e.errs, maxErrors)
	assert.Equal(t, "GET", e.method, "a short field is kept as it is")
}

// TestRawEntryKeysAreTheSchemas: the keys the reader decodes are the
// schema's, which the Transport writes.
func TestRawEntryKeysAreTheSchemas(t *testing.T) {
	t.Parallel()
	keys := []string{"msg", "message", "level", "ts", "time", // the encoders' own
		schema.RequestID, schema.Method, schema.URL, schema.Route, schema.Status, schema.Duration, schema.StartedAt,
		schema.Attempt, schema.Error, schema.ErrorType, schema.Errors, schema.RetryAfter, schema.Body, schema.RetryIn,
		schema.Hint, schema.RetrySkipped, schema.Queued,
		schema.Suppressed, schema.FirstRequestID, schema.LastRequestID, schema.FirstAt, schema.LastAt}
	var tags []string
	for f := range reflect.TypeFor[rawEntry]().Fields() {
		tags = append(tags, f.Tag.Get("json"))
	}
	assert.ElementsMatch(t, keys, tags)
}
