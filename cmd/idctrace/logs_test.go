package main

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/idcslog"
	"github.com/identitycall/idctrace/idctest"
	"github.com/identitycall/idctrace/internal/schema"
)

// The encoders whose logs the reader reads, as a service configures them.
func zapProduction(w io.Writer) *zap.Logger {
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(w), zapcore.DebugLevel))
}

func zapStrings(w io.Writer) *zap.Logger {
	cfg := zap.NewProductionEncoderConfig()
	cfg.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	cfg.EncodeDuration = zapcore.StringDurationEncoder
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(cfg), zapcore.AddSync(w), zapcore.DebugLevel))
}

func zapMillis(w io.Writer) *zap.Logger {
	cfg := zap.NewProductionEncoderConfig()
	cfg.EncodeTime = zapcore.EpochMillisTimeEncoder
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(cfg), zapcore.AddSync(w), zapcore.DebugLevel))
}

func commandJSON(w io.Writer) *zap.Logger { return newLogger(w, true, zapcore.DebugLevel) }

func slogJSON(w io.Writer) *zap.Logger {
	return idcslog.NewLogger(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// traffic makes real failures through idctrace, logged by logger: a 404, a
// 401, a 500 retried into success and a refused connection, among other
// lines. It returns the request IDs of the failed attempts, in order.
func traffic(t *testing.T, logger *zap.Logger) []string {
	t.Helper()
	srv := idctest.Start(t)
	key, revoked := srv.NewKey(idctest.Read), srv.NewKey(idctest.Read)
	srv.RevokeKey(revoked)
	refused := "http://" + refusedAddr(t) + idctest.BasePath
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	client := idctrace.WrapClient(&http.Client{Transport: transport}, logger,
		idctrace.WithRetry(idctrace.RetryPolicy{MaxRetries: 1, BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond}))

	logger.Info("service started", zap.String("version", "1.2.3"))
	get := func(key, url string) {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	get(key, srv.URL+"/recordings/rec_nope")
	get(revoked, srv.URL+"/recordings")
	srv.FailNext(1)
	get(key, srv.URL+"/projects")
	logger.Warn("cache miss", zap.String("request_id", "not-ours"))
	get(key, refused+"/recordings/rec_1")
	require.NoError(t, logger.Sync())

	ids := srv.RequestIDs()
	return []string{ids[0], ids[1], ids[2]}
}

// logFile writes a log of traffic with the logger newLog makes, and
// returns its path and the request IDs of its failures.
func logFile(t *testing.T, name string, newLog func(io.Writer) *zap.Logger) (string, []string) {
	t.Helper()
	var buf bytes.Buffer
	ids := traffic(t, newLog(&buf))
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
	return path, ids
}

func gzipFile(t *testing.T, path, name string) string {
	t.Helper()
	plain, err := os.ReadFile(path)
	require.NoError(t, err)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err = zw.Write(plain)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	out := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(out, buf.Bytes(), 0o600))
	return out
}

func readAllEntries(t *testing.T, paths []string, stdin io.Reader) ([]*logEntry, logStats) {
	t.Helper()
	var entries []*logEntry
	stats, err := readLogs(paths, stdin, func(e *logEntry) { entries = append(entries, e) })
	require.NoError(t, err)
	return entries, stats
}

// TestReadLogsOfEveryEncoder reads the failures of real traffic as each
// encoder wrote them, plain and compressed, and finds the same entries.
func TestReadLogsOfEveryEncoder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		newLog func(io.Writer) *zap.Logger
		level  string
	}{
		{"zap production", zapProduction, "warn"},
		{"zap RFC 3339, string durations", zapStrings, "warn"},
		{"zap epoch milliseconds", zapMillis, "warn"},
		{"the command's -json", commandJSON, "warn"},
		{"log/slog through idcslog", slogJSON, "warn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			path, ids := logFile(t, "service.log", tt.newLog)
			end := time.Now()
			// Compressed, under a name that does not say so; and a plain log
			// whose name says .gz.
			for _, p := range []string{path, gzipFile(t, path, "service.log.1"), copyTo(t, path, "plain.gz")} {
				entries, stats := readAllEntries(t, []string{p}, nil)
				require.Len(t, entries, 5, "404, 401, 500, and the refused connection twice (retried)")
				assert.Equal(t, logStats{logs: 1, lines: 7, entries: 5, other: 2}, stats)

				want := []struct {
					id     string
					route  string
					status int
					level  string
				}{
					{ids[0], "/recordings/{id}", 404, tt.level},
					{ids[1], "/recordings", 401, tt.level},
					{ids[2], "/projects", 500, "error"},
					{"", "/recordings/{id}", 0, "error"},
					{"", "/recordings/{id}", 0, "error"},
				}
				for i, w := range want {
					e := entries[i]
					if w.id != "" {
						assert.Equal(t, w.id, e.requestID)
					}
					assert.Equal(t, "GET", e.method)
					assert.Equal(t, w.route, e.route)
					assert.Equal(t, w.status, e.status)
					assert.Equal(t, w.level, e.level)
					assert.Contains(t, e.url, "/api/v1/public/")
					assert.False(t, e.summary)
					assert.Greater(t, e.duration, time.Duration(0))
					assert.Less(t, e.duration, end.Sub(start)+time.Millisecond)
					for _, at := range []time.Time{e.time, e.startedAt} {
						assert.WithinRange(t, at, start.Add(-time.Millisecond), end.Add(time.Millisecond))
					}
				}
				assert.Equal(t, "Check the base URL and port, and any proxy: nothing accepted the connection.", entries[4].hint)
				assert.Equal(t, "Resource not found", entries[0].err)
				assert.Equal(t, 1, entries[2].attempt)
				assert.Greater(t, entries[2].retryIn, time.Duration(0), "the 500 was retried")
				assert.Equal(t, entries[3].requestID, entries[4].requestID, "one call, two attempts")
				assert.Equal(t, 2, entries[4].attempt)
				assert.Contains(t, entries[3].err, "connection refused")
			}
		})
	}
}

func copyTo(t *testing.T, path, name string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(out, b, 0o600))
	return out
}

// TestReadLogsSkipsWhatIsNotAnEntry: other lines are counted, never an
// error, however long or broken; the entries around them are read.
func TestReadLogsSkipsWhatIsNotAnEntry(t *testing.T) {
	t.Parallel()
	var entry bytes.Buffer
	zapProduction(&entry).Warn(schema.Failed, zap.String("request_id", "r-1"), zap.String("method", "GET"), zap.Int("status", 404))
	good := strings.TrimSuffix(entry.String(), "\n")
	huge := `{"level":"warn","msg":"identitycall request failed","body":"` + strings.Repeat("x", 3<<20) + `"}`
	atLimit := `{"msg":"identitycall request failed","request_id":"r-2","body":"` + strings.Repeat("y", maxLogLine-70) + `"}`
	require.LessOrEqual(t, len(atLimit), maxLogLine)
	lines := []string{
		good,
		"plain text, not JSON",
		`{"level":"info","msg":"listening","addr":":8080"}`,
		`{"level":"warn","msg":"identitycall request failed","request_id":"cut`, // cut short
		`{"level":"warn","msg":"a message that quotes \"identitycall request failed\""}`,
		`{"msg":"identitycall request failed","status":"404"}`, // a wrong type
		`{"msg":"identitycall request failed","duration":"soon"}`,
		huge,
		good,
		"",
		atLimit,
		"\x00\xff\xfe binary",
		good + "\r",  // CRLF
		huge[:2<<20], // cut, and too long
		good,         // the last line, with no newline
	}
	entries, stats := readAllEntries(t, nil, strings.NewReader(strings.Join(lines, "\n")))
	assert.Equal(t, logStats{logs: 1, lines: 15, entries: 5, other: 5, unreadable: 3, tooLong: 2}, stats)
	require.Len(t, entries, 5)
	assert.Equal(t, "r-2", entries[2].requestID)
	assert.Equal(t, strings.Repeat("y", maxField)+"…", entries[2].body, "a line of the limit is read; its long body is cut")
	for _, i := range []int{0, 1, 3, 4} {
		assert.Equal(t, "r-1", entries[i].requestID)
		assert.Equal(t, 404, entries[i].status)
	}
}

func TestReadLogsErrors(t *testing.T) {
	t.Parallel()
	_, err := readLogs([]string{filepath.Join(t.TempDir(), "missing.log")}, nil, func(*logEntry) {})
	assert.ErrorContains(t, err, "missing.log: no such file or directory")

	// A gzip log cut short: what it holds is read, and a note says where it
	// ended.
	path, _ := logFile(t, "service.log", zapProduction)
	gz, err := os.ReadFile(gzipFile(t, path, "service.log.gz"))
	require.NoError(t, err)
	entries, stats := readAllEntries(t, nil, bytes.NewReader(gz[:len(gz)-4]))
	assert.Len(t, entries, 5)
	require.Len(t, stats.notes, 1)
	assert.Contains(t, stats.notes[0], "standard input: read 7 lines, then: unexpected EOF")
}

// FuzzReadLogs: any input is read to its end, every line is counted once,
// every entry read is plausible and bounded, and report and ticket make
// their output of them.
func FuzzReadLogs(f *testing.F) {
	var buf bytes.Buffer
	zapProduction(&buf).Warn(schema.Failed, zap.String(schema.RequestID, "r-1"), zap.Duration(schema.Duration, time.Second))
	slogJSON(&buf).Error(schema.Summarized, zap.Int(schema.Suppressed, 3), zap.Time(schema.FirstAt, time.Now()))
	f.Add(buf.Bytes())
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(buf.Bytes())
	zw.Close()
	f.Add(gz.Bytes())
	f.Add([]byte("\x1f\x8b\x08"))
	f.Add([]byte(`{"msg":"identitycall request failed","ts":"1e400"}`))
	f.Add([]byte(`{"msg":"identitycall request failed","ts":-1e300,"request_id":"r-1"}`))
	f.Add([]byte(`{"msg":"identitycall request failures summarized","suppressed":9223372036854775807,"first_request_id":"r-1"}` + "\n" +
		`{"msg":"identitycall request failures summarized","suppressed":9223372036854775807}`))
	f.Add([]byte(`{"msg":"identitycall request failed","request_id":"r-1","attempt":2,"started_at":"2026-03-01T14:00:00Z","duration":"-1s"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		r := &report{groups: make(map[groupKey]*group)}
		var find *finder
		stats, err := readLogs(nil, bytes.NewReader(data), func(e *logEntry) {
			n++
			assertPlausible(t, e)
			r.add(e)
			if find == nil {
				find = newFinder(cmp.Or(e.requestID, e.firstRequestID, "r-1"))
			}
			find.add(e)
		})
		if err != nil {
			return // not gzip after all its magic
		}
		assert.Equal(t, stats.entries+stats.summaries, n)
		assert.Equal(t, stats.lines, n+stats.skipped())
		assert.LessOrEqual(t, len(r.groups), maxRows)
		require.NoError(t, r.writeJSON(io.Discard, &stats))
		require.NoError(t, r.writeTable(io.Discard, &stats))
		if find != nil {
			find.tickets("")
			find.notFound(&stats)
			assert.LessOrEqual(t, len(find.entries), 2*maxKept)
		}
	})
}

// assertPlausible asserts what the reader promises of an entry.
func assertPlausible(t *testing.T, e *logEntry) {
	t.Helper()
	for _, at := range []time.Time{e.time, e.startedAt, e.firstAt, e.lastAt} {
		assert.True(t, at.IsZero() || at.Year() >= 2000 && at.Year() < 2200, at)
	}
	for _, d := range []time.Duration{e.duration, e.retryAfter, e.retryIn, e.queued} {
		assert.True(t, d >= 0 && d <= maxDuration, d)
	}
	assert.GreaterOrEqual(t, e.suppressed, 0)
	assert.GreaterOrEqual(t, e.attempt, 0)
	assert.True(t, e.status == 0 || e.status >= 100 && e.status <= 999, e.status)
	for _, s := range append([]string{e.level, e.requestID, e.method, e.url, e.route, e.err, e.errorType, e.body, e.hint,
		e.retrySkipped, e.firstRequestID, e.lastRequestID}, e.errs...) {
		assert.LessOrEqual(t, len(s), maxField+len("…"))
	}
	assert.LessOrEqual(t, len(e.errs), maxErrors)
}
