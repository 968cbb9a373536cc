//go:build !race

package idctrace

// The allocation ceilings of the success path, checked where they hold:
// the race detector adds allocations of its own, so these tests run
// without -race (.ci/run runs them so).

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
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
