package idcslog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/idcslog"
	"github.com/identitycall/idctrace/internal/schema"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// syncBuffer is a bytes.Buffer for handlers written from several
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) records(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(s.b.String()) {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		out = append(out, m)
	}
	return out
}

// TestA404ThroughSlog: the stack a slog user builds, against
// slog.NewJSONHandler.
func TestA404ThroughSlog(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":"Resource not found"}`)
	}))
	defer srv.Close()
	var buf syncBuffer
	logger := idcslog.NewLogger(slog.NewJSONHandler(&buf, nil))
	client := idctrace.WrapClient(srv.Client(), logger)

	resp, err := client.Get(srv.URL + "/api/v1/public/recordings/rec_1")
	require.NoError(t, err)
	resp.Body.Close()

	recs := buf.records(t)
	require.Len(t, recs, 1)
	r := recs[0]
	assert.Equal(t, schema.Failed, r["msg"])
	assert.Equal(t, "WARN", r["level"])
	assert.Equal(t, idctrace.RequestID(resp), r[schema.RequestID])
	assert.EqualValues(t, 404, r[schema.Status])
	assert.Equal(t, "/recordings/{id}", r[schema.Route])
	assert.Equal(t, "Resource not found", r[schema.Error])
	assert.IsType(t, float64(0), r[schema.Duration], "a duration, which the JSON handler writes in nanoseconds")
	_, err = time.Parse(time.RFC3339Nano, r[schema.StartedAt].(string))
	assert.NoError(t, err, "a time, which the JSON handler writes in RFC 3339")
}

// captureHandler keeps the records it handles, with their attributes.
type captureHandler struct {
	level slog.Level
	attrs []slog.Attr
	mu    *sync.Mutex
	recs  *[]slog.Record
}

func newCapture(level slog.Level) captureHandler {
	return captureHandler{level: level, mu: new(sync.Mutex), recs: new([]slog.Record)}
}

func (h captureHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h captureHandler) Handle(_ context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(h.attrs...)
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.recs = append(*h.recs, r)
	return nil
}

func (h captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return h
}

func (h captureHandler) WithGroup(string) slog.Handler { return h }

func (h captureHandler) all() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]slog.Record(nil), *h.recs...)
}

func recordAttrs(r slog.Record) []slog.Attr {
	var out []slog.Attr
	r.Attrs(func(a slog.Attr) bool { out = append(out, a); return true })
	return out
}

func TestFieldsKeepTheirTypesAndOrder(t *testing.T) {
	t.Parallel()
	h := newCapture(slog.LevelDebug)
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	idcslog.NewLogger(h).With(zap.String("service", "billing")).Named("client").Warn("m",
		zap.String("s", "x"), zap.Int("i", 7), zap.Bool("b", true), zap.Float64("f", 1.5),
		zap.Duration("d", 3*time.Second), zap.Time("t", at), zap.Strings("list", []string{"a", "b"}),
		zap.Error(errors.New("boom")), zap.Namespace("ns"), zap.String("inner", "y"))

	recs := h.all()
	require.Len(t, recs, 1)
	assert.Equal(t, slog.LevelWarn, recs[0].Level)
	assert.Equal(t, "m", recs[0].Message)
	got := recordAttrs(recs[0])
	want := []slog.Attr{
		slog.String("logger", "client"),
		slog.String("s", "x"), slog.Int64("i", 7), slog.Bool("b", true), slog.Float64("f", 1.5),
		slog.Duration("d", 3*time.Second), slog.Time("t", at), slog.Any("list", []string{"a", "b"}),
		slog.String("error", "boom"), slog.Group("ns", slog.String("inner", "y")),
		slog.String("service", "billing"),
	}
	require.Len(t, got, len(want))
	for i := range want {
		assert.Equal(t, want[i].Value.Kind(), got[i].Value.Kind(), want[i].Key)
		assert.Equal(t, want[i].String(), got[i].String())
	}
	assert.Equal(t, []string{"a", "b"}, got[7].Value.Any(), "a string list stays a []string")
}

func TestLevels(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		zap  zapcore.Level
		slog slog.Level
	}{
		{zapcore.DebugLevel, slog.LevelDebug}, {zapcore.InfoLevel, slog.LevelInfo},
		{zapcore.WarnLevel, slog.LevelWarn}, {zapcore.ErrorLevel, slog.LevelError},
	} {
		assert.Equal(t, tt.slog, idcslog.Level(tt.zap))
	}
	assert.Greater(t, idcslog.Level(zapcore.FatalLevel), slog.LevelError)

	h := newCapture(slog.LevelWarn)
	logger := idcslog.NewLogger(h)
	assert.Nil(t, logger.Check(zapcore.InfoLevel, "below the handler's level"))
	logger.Info("dropped")
	logger.Error("kept")
	require.Len(t, h.all(), 1)
	assert.Equal(t, "kept", h.all()[0].Message)
}
