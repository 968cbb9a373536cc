package main

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
	"time"

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
		fields = append(fields, zap.String("error", cause))
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
		assert.Equal(t, "connection_refused", e.err)
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
