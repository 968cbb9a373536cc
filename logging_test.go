package idctrace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/identitycall/idctrace/internal/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestLogLevelsAndDisabledLogger(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status  int
		err     error
		level   zapcore.Level
		written bool // at a logger enabled from Error up
	}{
		{status: 404, level: zapcore.WarnLevel},
		{status: 429, level: zapcore.WarnLevel},
		{status: 500, level: zapcore.ErrorLevel, written: true},
		{status: 503, level: zapcore.ErrorLevel, written: true},
		{err: errors.New("connection refused"), level: zapcore.ErrorLevel, written: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status, tt.err), func(t *testing.T) {
			t.Parallel()
			base := stubRT{status: tt.status, body: stringBody(`{"error":"x"}`), err: tt.err}
			req, _ := http.NewRequest("GET", "http://h/", nil)

			log, logs := observed()
			resp, _ := New(base, log).RoundTrip(req)
			var fieldCalls int
			hook := func(*http.Request) []zap.Field { fieldCalls++; return nil }
			errOnly, errLogs := observedAt(zapcore.ErrorLevel)
			resp2, _ := New(base, errOnly, WithLogFields(hook)).RoundTrip(req)
			assert.Equal(t, tt.written, fieldCalls == 1, "fields are built, in RoundTrip, only for an entry that is written")
			for _, r := range []*http.Response{resp, resp2} {
				if r != nil {
					assert.Error(t, CheckResponse(r), "a disabled logger still decodes")
					r.Body.Close() // the entry is written by now
				}
			}

			require.Equal(t, 1, logs.Len())
			assert.Equal(t, tt.level, logs.All()[0].Level)
			assert.Equal(t, tt.written, errLogs.Len() == 1)
		})
	}
}

func TestEntriesCarryNoCallerNorStack(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	log := zap.New(zapcore.NewCore(enc, zapcore.AddSync(&buf), zapcore.DebugLevel), zap.AddCaller(), zap.AddStacktrace(zap.ErrorLevel))
	srv := newScripted(t, reply(500, `{"error":"Internal server error"}`))
	resp, err := WrapClient(srv.Client(), log).Get(srv.URL)
	require.NoError(t, err)
	readAll(t, resp)
	require.Contains(t, buf.String(), `"level":"error"`)
	assert.NotContains(t, buf.String(), `"caller"`, "the caller would be logging.go every time")
	assert.NotContains(t, buf.String(), `"stacktrace"`, "the stack would open with the same frames every time")

	log.Error("the caller's own entries keep theirs")
	assert.Contains(t, buf.String(), `"caller"`)
	assert.Contains(t, buf.String(), `"stacktrace"`)
}

func TestNilLoggerStillWorks(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(404, `{"error":"Resource not found"}`))
	client := WrapClient(srv.Client(), nil)
	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	assert.ErrorIs(t, CheckResponse(resp), ErrNotFound)
	assert.Equal(t, srv.seenIDs()[0], RequestID(resp))
	assert.Equal(t, `{"error":"Resource not found"}`, readAll(t, resp))
}

// TestQuickStartLoggerAccountsForEveryFailure: the README's quick start
// logger (the production config without its sampler) accounts for each of
// 1,000 failures in a second: 10 entries and a summary of the other 990.
// zap.NewProduction's sampler, keyed by level and message, keeps the first
// 100 and then one in 100, and counts nothing: every idctrace entry has the
// same message, so once a storm has more than 100 entries a second (the
// storm limit off, or more than 10 kinds failing), it drops IDs silently.
func TestQuickStartLoggerAccountsForEveryFailure(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		sampled bool
	}{{"sampling off, as the quick start", false}, {"zap.NewProduction's sampler", true}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "log.jsonl")
			cfg := zap.NewProductionConfig()
			if !tt.sampled {
				cfg.Sampling = nil
			}
			cfg.OutputPaths, cfg.ErrorOutputPaths = []string{path}, []string{path}
			logger, err := cfg.Build()
			require.NoError(t, err)

			var opts []Option
			if tt.sampled {
				opts = append(opts, WithLogLimit(-1, 0))
			}
			tr := New(stubRT{status: 503, body: stringBody(`{"error":"Service unavailable"}`)}, logger, opts...)
			const n = 1000
			for range n {
				resp, err := tr.RoundTrip(httptest.NewRequest("GET", "http://h/api/v1/public/recordings", nil))
				require.NoError(t, err)
				resp.Body.Close()
			}
			tr.Flush()
			logger.Sync()
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			lines := strings.Count(string(b), "\n")
			got := 0
			for _, l := range jsonLines(t, b) {
				switch l["msg"] {
				case schema.Failed:
					got++
				case schema.Summarized:
					got += int(l[schema.Suppressed].(float64))
				}
			}
			if tt.sampled {
				assert.Less(t, got, n, "the sampler drops entries, and says nothing")
				t.Logf("zap.NewProduction wrote %d lines accounting for %d of %d failures", lines, got, n)
			} else {
				assert.Equal(t, n, got, "every failure is written or counted")
				assert.Equal(t, defaultLogLimit+1, lines, "the first 10 of the second, then one summary")
			}
		})
	}
}

type ctxKeyForTest struct{}

// TestLogFieldsSeeTheCallersContext: a WithLogFields function gets the
// caller's context with the request ID, never the Transport's own, which
// holds the failure record.
func TestLogFieldsSeeTheCallersContext(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(500, `{"error":"Internal server error"}`))
	var got context.Context
	log, _ := observed()
	client := WrapClient(srv.Client(), log, WithLogFields(func(req *http.Request) []zap.Field {
		got = req.Context()
		return nil
	}))
	ctx := context.WithValue(context.Background(), ctxKeyForTest{}, "mine")
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/public/recordings", nil)
	resp, err := client.Do(req)
	require.NoError(t, err)
	readAll(t, resp)

	require.NotNil(t, got)
	assert.Equal(t, "mine", got.Value(ctxKeyForTest{}))
	id, ok := RequestIDFromContext(got)
	assert.True(t, ok)
	assert.Equal(t, srv.seenIDs()[0], id)
	c := got.Value(ctxKey{}).(*idContext)
	assert.Nil(t, c.record, "no record, so no request, reachable from it")
	assert.Same(t, ctx, c.Context, "the caller's context itself")
}

type failingSink struct{ slow time.Duration }

func (s failingSink) Write(p []byte) (int, error) {
	time.Sleep(s.slow)
	return 0, errors.New("disk full")
}

// panickingCore panics in the one method named by in.
type panickingCore struct {
	zapcore.Core
	in string
}

func (c panickingCore) Enabled(lvl zapcore.Level) bool {
	if c.in == "Enabled" {
		panic("Enabled exploded")
	}
	return true
}

func (c panickingCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.in == "Check" {
		panic("Check exploded")
	}
	return ce.AddCore(e, c)
}

func (c panickingCore) Write(zapcore.Entry, []zapcore.Field) error {
	panic("Write exploded")
}

func TestFaultBrokenLoggerNeverChangesTheResult(t *testing.T) {
	t.Parallel()
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	quietErrors := zap.ErrorOutput(zapcore.AddSync(io.Discard))
	loggers := map[string]*zap.Logger{
		"failing sink":   zap.New(zapcore.NewCore(enc, zapcore.AddSync(failingSink{}), zapcore.DebugLevel), quietErrors),
		"slow sink":      zap.New(zapcore.NewCore(enc, zapcore.AddSync(failingSink{slow: 200 * time.Millisecond}), zapcore.DebugLevel), quietErrors),
		"Enabled panics": zap.New(panickingCore{zapcore.NewNopCore(), "Enabled"}),
		"Check panics":   zap.New(panickingCore{zapcore.NewNopCore(), "Check"}),
		"Write panics":   zap.New(panickingCore{zapcore.NewNopCore(), "Write"}),
	}
	srv := newScripted(t, reply(429, `{"error":"Rate limit exceeded","retry_after":1}`))
	for name, log := range loggers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resp, err := WrapClient(srv.Client(), log).Get(srv.URL)
			require.NoError(t, err)
			assert.Equal(t, 429, resp.StatusCode)
			assert.Equal(t, `{"error":"Rate limit exceeded","retry_after":1}`, readAll(t, resp))
			var apiErr *APIError
			require.ErrorAs(t, CheckResponse(resp), &apiErr)
			assert.Equal(t, time.Second, apiErr.RetryAfter)
		})
	}
	t.Run("a panicking field hook is the caller's bug, and shows", func(t *testing.T) {
		t.Parallel()
		hook := WithLogFields(func(*http.Request) []zap.Field { panic("hook exploded") })
		log, _ := observed()
		assert.PanicsWithValue(t, "hook exploded", func() {
			New(stubRT{status: 404, body: stringBody("{}")}, log, hook).RoundTrip(httptest.NewRequest("GET", "http://h/", nil))
		})
	})
}

// TestLevelOf: the default levels, and WithLevel's, kept between Debug and
// Error, for every record, a call the limiter held back included.
func TestLevelOf(t *testing.T) {
	t.Parallel()
	held := &record{errType: "local_rate_limit"}
	tests := []struct {
		r    *record
		want zapcore.Level
	}{
		{&record{status: 404}, zapcore.WarnLevel},
		{&record{status: 422, route: "/recordings"}, zapcore.WarnLevel},
		{&record{status: 422, route: "/recordings/{id}/summary"}, zapcore.DebugLevel},
		{&record{status: 500, route: "/recordings/{id}/summary"}, zapcore.ErrorLevel},
		{&record{status: 503}, zapcore.ErrorLevel},
		{&record{errType: "timeout"}, zapcore.ErrorLevel},
		{held, zapcore.WarnLevel},
	}
	plain := New(nil, nil)
	for _, tt := range tests {
		assert.Equal(t, tt.want, plain.levelOf(tt.r), "%+v", *tt.r)
	}
	for _, set := range []zapcore.Level{zapcore.DebugLevel - 3, zapcore.DebugLevel, zapcore.InfoLevel, zapcore.ErrorLevel, zapcore.FatalLevel} {
		tr := New(nil, nil, WithLevel(func(int, string) zapcore.Level { return set }))
		want := max(min(set, zapcore.ErrorLevel), zapcore.DebugLevel)
		for _, tt := range tests {
			assert.Equal(t, want, tr.levelOf(tt.r), "WithLevel %v, %+v", set, *tt.r)
		}
	}
}
