package idcredis

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/idctest"
	"github.com/stretchr/testify/assert"
	"go.uber.org/zap"
)

// TestFleetSharesTheQuota is the proof: four Transports, each with
// its own Redis client as if in its own process, eight workers each,
// against one server that allows 20 requests a second, for 5 s.
func TestFleetSharesTheQuota(t *testing.T) {
	t.Parallel()
	store := startRedis(t)
	api := idctest.Start(t, idctest.WithRateLimit(20, time.Second))
	key := api.NewKey(idctest.Read)
	const transports, workers, length = 4, 8, 5 * time.Second

	ctx, cancel := context.WithTimeout(t.Context(), length)
	defer cancel()
	var (
		wg                  sync.WaitGroup
		calls, held, got429 atomic.Int64
	)
	for range transports {
		lim := patient(NewLimiter(store.client(t), "fleet", 20, time.Second))
		client := &http.Client{Transport: idctrace.New(api.Client().Transport, zap.NewNop(),
			idctrace.WithLimiter(lim), idctrace.WithRetry(idctrace.DefaultRetryPolicy()))}
		for range workers {
			wg.Go(func() {
				for ctx.Err() == nil {
					req, err := http.NewRequestWithContext(ctx, http.MethodGet, api.URL+"/recordings", nil)
					if !assert.NoError(t, err) {
						return
					}
					req.Header.Set("Authorization", "Bearer "+key)
					calls.Add(1)
					resp, err := client.Do(req)
					if errors.Is(err, idctrace.ErrLocalRateLimit) {
						held.Add(1)
						return // no slot before the batch's deadline: slots only come later
					}
					if err != nil {
						continue // the batch's deadline
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusTooManyRequests {
						got429.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()

	counts := api.Counts()
	ok, tooMany := counts.ByStatus[http.StatusOK], counts.ByStatus[http.StatusTooManyRequests]
	quota := 20 * int(length/time.Second)
	t.Logf("%d calls (%d held back at the deadline), %d requests sent: %d ok (%.0f %% of the quota), %d answered 429",
		calls.Load(), held.Load(), counts.Answered, ok, 100*float64(ok)/float64(quota), tooMany)
	assert.GreaterOrEqual(t, float64(ok), 0.85*float64(quota))
	assert.LessOrEqual(t, float64(tooMany), 0.01*float64(counts.Answered))
	assert.Zero(t, got429.Load(), "no call returned a 429")
}
