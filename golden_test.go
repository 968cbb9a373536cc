package idctrace

// Samples the README and docs/ show, produced by the library itself and kept
// as golden files under testdata/golden: a test fails when the output no
// longer matches, and `go test -run Golden -update .` rewrites them (then
// `go test -run Docs -update .` rewrites the docs' samples from them).
// TestDocsShowTheGoldenSamples checks that the docs quote them as they are.

import (
	"context"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// checkGolden compares got, normalised, with testdata/golden/name, or
// rewrites the file with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -run Golden -update . to write it")
	assert.Equal(t, string(want), got, "the output changed: check it, then go test -run Golden -update .")
}

// fakeClock is a clock that moves only when told: the samples' times and
// durations then read as real ones, the same every run.
type fakeClock struct{ now time.Time }

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 12, 7, 10, 4, 5, 312_000_000, time.UTC)}
}

func (c *fakeClock) Now() time.Time                       { return c.now }
func (c *fakeClock) NewTicker(time.Duration) *time.Ticker { panic("no ticker in a sample") }

// serve answers with base after the clock moved by took, as a server would
// take that long.
func (c *fakeClock) serve(base http.RoundTripper, took time.Duration) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		c.now = c.now.Add(took)
		return base.RoundTrip(req)
	})
}

// TestGoldenEntry: a failure's entry as the quick start's logger writes it
// (zap's production JSON, with readable times and durations).
func TestGoldenEntry(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var buf syncBuffer
	cfg := zap.NewProductionEncoderConfig()
	cfg.EncodeTime = zapcore.ISO8601TimeEncoder
	cfg.EncodeDuration = zapcore.StringDurationEncoder
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(cfg), zapcore.AddSync(&buf), zapcore.InfoLevel), zap.WithClock(clock))
	notFound := stubRT{status: 404, header: http.Header{"Content-Type": {"application/json"}}, body: stringBody(notFoundBody)}
	tr := New(clock.serve(notFound, 84*time.Millisecond), logger,
		WithIDGenerator(func() string { return "5f0c2a8e-93d1-4c3e-b6f1-0a8d2e7c4b19" }))
	tr.now = clock.Now
	req := mustRequest(t, "GET", DefaultBaseURL+"/recordings/rec_9?q=alice@example.com")
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	readAll(t, resp)
	checkGolden(t, "entry.json", buf.String())
}

// TestGoldenTicket: the support ticket of a call that failed after retries.
func TestGoldenTicket(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	unavailable := stubRT{status: 503, body: stringBody(`{"error":"Service temporarily unavailable"}`)}
	tr := New(clock.serve(unavailable, 31*time.Millisecond), nil,
		WithIDGenerator(func() string { return "f6b3d336-ac7b-4e23-ad82-0e27fdaefa77" }),
		WithRetry(DefaultRetryPolicy()))
	tr.now = clock.Now
	tr.sleep = func(_ context.Context, d time.Duration) error { clock.now = clock.now.Add(d); return nil }
	tr.jitter = func(d time.Duration) time.Duration { return d * 7 / 10 }
	resp, err := tr.RoundTrip(mustRequest(t, "GET", DefaultBaseURL+"/recordings?status=completed&page=2"))
	require.NoError(t, err)
	readAll(t, resp)
	var apiErr *APIError
	require.ErrorAs(t, CheckResponse(resp), &apiErr)
	checkGolden(t, "ticket.txt", apiErr.SupportTicket("ops@example.com"))
}
