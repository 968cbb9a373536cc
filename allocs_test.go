//go:build !race

package idctrace

// The allocation ceilings of the success path and of a storm, checked
// where they hold: the race detector adds allocations of its own, so these
// tests run without -race (.ci/run runs them so).

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestSuccessPathAllocations(t *testing.T) {
	ok := stubRT{status: 200, body: stringBody(`{"data":[]}`)}
	req, err := http.NewRequest("GET", "https://api.identitycall.ai/api/v1/public/recordings/rec_1?page=2", nil)
	assert.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Accept", "application/json")
	allocs := func(rt http.RoundTripper) float64 {
		return testing.AllocsPerRun(100, func() {
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		})
	}
	bare := allocs(ok)
	plain := allocs(New(ok, nil))
	observed := allocs(New(ok, nil, WithObserver(func(Attempt) {})))
	retrying := allocs(New(ok, nil, WithRetry(DefaultRetryPolicy())))
	t.Logf("allocations per call: bare %v, idctrace %v, with an observer %v, with retries %v", bare, plain, observed, retrying)
	assert.LessOrEqual(t, plain-bare, 8.0, "the success path adds at most 8 allocations")
	assert.LessOrEqual(t, observed-plain, 2.0, "an observer adds at most two: the request's secrets, the redacted URL")
	assert.Equal(t, plain, retrying, "a retry policy costs a success nothing")
}

// TestStormFailureAllocations: a failure counted into a storm summary is
// neither decoded nor encoded, and allocates less than a logged one (the
// benchmarks measured 14 allocations over bare for the first, 28 for the
// second; lean, a hand-written logger, makes 19).
func TestStormFailureAllocations(t *testing.T) {
	notFound := stubRT{status: 404, body: stringBody(`{"error":"Resource not found"}`)}
	req, err := http.NewRequest("GET", "https://api.identitycall.ai/api/v1/public/recordings/rec_1", nil)
	assert.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testKey)
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zapcore.DebugLevel))
	allocs := func(rt http.RoundTripper) float64 {
		call := func() {
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		for range defaultLogLimit {
			call() // the entries the window writes
		}
		return testing.AllocsPerRun(100, call)
	}
	storm := New(notFound, logger, WithLogLimit(defaultLogLimit, time.Hour)) // one window for the whole test
	defer storm.Flush()
	bare, suppressed, logged := allocs(notFound), allocs(storm), allocs(New(notFound, logger, WithLogLimit(-1, 0)))
	t.Logf("allocations per call: bare %v, a failure in a storm %v, a logged failure %v", bare, suppressed, logged)
	assert.LessOrEqual(t, suppressed-bare, 16.0, "a failure in a storm adds at most 16 allocations")
	assert.Less(t, suppressed, logged, "and fewer than a logged one")
}
