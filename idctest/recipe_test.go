package idctest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/idctest"
	"github.com/identitycall/idctrace/internal/schema"
)

// TestReadmeRecipe runs the README's testing recipe, as written there,
// under code that lists recordings until the rate limit answers: every
// call succeeds through idctrace's retries, and each 429 asks for no more
// than the window's 100 ms: the recipe waits a few hundred milliseconds in
// all, where a limiter asking for whole seconds, or an injected 429 asking
// for 60, would make it wait minutes.
func TestReadmeRecipe(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.DebugLevel)
	logger := zap.New(core)
	began := time.Now()

	srv := idctest.Start(t, idctest.WithRateLimit(5, 100*time.Millisecond))
	key := srv.NewKey(idctest.Read, idctest.Write)
	srv.Inject(1, idctest.Fault{Status: 503, Route: "GET /recordings"})
	client := idctrace.WrapClient(srv.Client(), logger, idctrace.WithRetry(idctrace.RetryPolicy{MaxRetries: 3, BaseDelay: 10 * time.Millisecond}))

	var project idctest.Project
	_, err := do(client, key, "POST", srv.URL+"/projects", `{"name":"Support","language":"en"}`, &project)
	require.NoError(t, err, "the 503 is aimed at GET /recordings only")
	limited := func() bool {
		for _, r := range srv.Requests() {
			if r.Status == http.StatusTooManyRequests {
				return true
			}
		}
		return false
	}
	calls := 0
	for ; calls < 100 && !limited(); calls++ {
		_, err := do(client, key, "GET", srv.URL+"/recordings", "", nil)
		require.NoError(t, err, "call %d", calls)
	}
	require.True(t, limited(), "5 a window: 100 calls in a row reach the limit")
	for range 10 {
		_, err := do(client, key, "GET", srv.URL+"/recordings", "", nil)
		require.NoError(t, err)
	}
	elapsed := time.Since(began)

	lines := srv.Requests()
	assert.Equal(t, http.StatusServiceUnavailable, lines[1].Status, "the first GET /recordings")
	assert.Equal(t, http.StatusOK, lines[2].Status, "its retry")
	assert.Equal(t, lines[1].RequestID, lines[2].RequestID)
	// How long the test waited is what the server asked for: the
	// 503's backoff of at most BaseDelay, and for each 429 at most the
	// window; the wall clock would measure the machine instead.
	var waits []time.Duration
	for _, e := range logs.FilterFieldKey(schema.RetryIn).All() {
		wait := e.ContextMap()[schema.RetryIn].(time.Duration)
		switch e.ContextMap()[schema.Status] {
		case int64(http.StatusTooManyRequests):
			waits = append(waits, wait)
			assert.True(t, wait > 0 && wait <= 100*time.Millisecond, "a 429 asked for %v", wait)
		case int64(http.StatusServiceUnavailable):
			assert.LessOrEqual(t, wait, 10*time.Millisecond, "the 503's backoff")
		default:
			t.Errorf("a retry after %v", e.ContextMap())
		}
	}
	assert.NotEmpty(t, waits, "the client saw the 429s the server sent")
	t.Logf("%d calls, %d answered 429, in %v", calls+11, len(waits), elapsed)
}
