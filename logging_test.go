package idctrace

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
			require.Equal(t, 1, logs.Len())
			assert.Equal(t, tt.level, logs.All()[0].Level)

			var fieldCalls int
			hook := func(*http.Request) []zap.Field { fieldCalls++; return nil }
			errOnly, errLogs := observedAt(zapcore.ErrorLevel)
			resp2, _ := New(base, errOnly, WithLogFields(hook)).RoundTrip(req)
			assert.Equal(t, tt.written, errLogs.Len() == 1)
			assert.Equal(t, tt.written, fieldCalls == 1, "fields are built only for an entry that is written")

			for _, r := range []*http.Response{resp, resp2} {
				if r != nil {
					assert.Error(t, CheckResponse(r), "a disabled logger still decodes")
					r.Body.Close()
				}
			}
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

// TestQuickStartLoggerKeepsEveryEntry: the README's quick start logger (the
// production config without its sampler) writes one entry for each of
// 1,000 failures in a second. zap.NewProduction's sampler, keyed by level
// and message, keeps the first 100 and then one in 100: every idctrace
// entry has the same message.
func TestQuickStartLoggerKeepsEveryEntry(t *testing.T) {
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

			tr := New(stubRT{status: 503, body: stringBody(`{"error":"Service unavailable"}`)}, logger)
			const n = 1000
			for range n {
				resp, err := tr.RoundTrip(httptest.NewRequest("GET", "http://h/api/v1/public/recordings", nil))
				require.NoError(t, err)
				resp.Body.Close()
			}
			logger.Sync()
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			lines := strings.Count(string(b), "\n")
			if tt.sampled {
				assert.Less(t, lines, n, "the sampler drops entries")
				t.Logf("zap.NewProduction wrote %d of %d entries", lines, n)
			} else {
				assert.Equal(t, n, lines, "one entry per failure")
			}
		})
	}
}
