//go:build unix

// The tests that freeze Redis need SIGSTOP.

package idcredis

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/identitycall/idctrace"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// freeze stops the server with SIGSTOP, a Redis that stops answering with
// its sockets open, until t ends, when SIGCONT resumes it by its PID.
func (s *redisServer) freeze(t *testing.T) {
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGSTOP))
	t.Cleanup(func() { s.cmd.Process.Signal(syscall.SIGCONT) })
}

// frozenStores are the two ways a store hangs with its socket open: a
// redis-server stopped with SIGSTOP after it answered once, and a listener
// that never answers. start returns the address and a func that freezes it.
var frozenStores = []struct {
	name  string
	start func(t *testing.T) (addr string, freeze func())
}{
	{"SIGSTOP", func(t *testing.T) (string, func()) {
		s := startRedis(t)
		return s.addr, func() { s.freeze(t) }
	}},
	{"silent listener", func(t *testing.T) (string, func()) { return silentStore(t), func() {} }},
}

// usualClient is a client built as the docs build it, closed when t ends.
func usualClient(t *testing.T, addr string) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// TestFrozenStoreHoldsNoCaller is the finding: with a client built
// the usual way, a frozen Redis held a Wait with a 300 ms deadline, a call
// with Client.Timeout 500 ms, and a Pause for 5 s (go-redis's read
// timeout). Now a caller with a deadline returns by it, one without by the
// limiter's bound, the store then counts as failing, and Pause does not
// wait for Redis. The bounds are wide, for a loaded machine, and each
// tells the fix from what it replaces: a limiter whose bound is 10 s shows
// that only the deadline ended the wait.
func TestFrozenStoreHoldsNoCaller(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer api.Close()
	for _, store := range frozenStores {
		t.Run(store.name, func(t *testing.T) {
			t.Parallel()
			addr, freeze := store.start(t)
			var calls callCounter
			limiters := make([]*limiter, 4) // one per check, so that none finds the store known down
			for i := range limiters {
				rdb := usualClient(t, addr)
				rdb.AddHook(&calls)
				limiters[i] = NewLimiter(rdb, "quota:frozen", 10, time.Second).(*limiter)
				if store.name == "SIGSTOP" {
					require.NoError(t, limiters[i].Wait(context.Background()), "warm: the connection is open when Redis freezes")
				}
			}
			patient(limiters[0])
			patient(limiters[2])
			freeze()

			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := limiters[0].Wait(ctx)
			took := time.Since(start)
			t.Logf("Wait with a 300 ms deadline: %v after %v", err, took)
			assert.ErrorIs(t, err, context.DeadlineExceeded, "the caller's own deadline")
			assert.Less(t, took, 5*time.Second, "held past its deadline")

			start = time.Now()
			err = limiters[1].Wait(context.Background())
			took = time.Since(start)
			t.Logf("Wait without a deadline: %v after %v", err, took)
			assert.ErrorIs(t, err, errNoAnswer, "the store's error: a Transport fails open")
			assert.Less(t, took, 3*time.Second, "held past the limiter's bound of a second")
			before := calls.started.Load()
			assert.Positive(t, before, "the hook counts the limiter's calls")
			assert.ErrorIs(t, limiters[1].Wait(context.Background()), errNoAnswer)
			assert.Equal(t, before, calls.started.Load(), "a store that failed is not asked again at once")

			client := &http.Client{Timeout: 500 * time.Millisecond, Transport: idctrace.New(api.Client().Transport, zap.NewNop(), idctrace.WithLimiter(limiters[2]))}
			start = time.Now()
			_, err = client.Get(api.URL + "/api/v1/public/recordings")
			took = time.Since(start)
			t.Logf("call with Client.Timeout 500 ms: %v after %v", err, took)
			assert.Error(t, err)
			assert.Less(t, took, 5*time.Second, "held past Client.Timeout")

			start = time.Now()
			limiters[3].Pause(time.Now().Add(time.Minute)) // after a 429, on the caller's path
			took = time.Since(start)
			t.Logf("Pause: returned after %v", took)
			assert.Less(t, took, storeTimeout, "Pause waited for Redis")
		})
	}
}

// callCounter counts the scripts a client starts.
type callCounter struct{ started atomic.Int64 }

func (c *callCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *callCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if strings.HasPrefix(cmd.Name(), "eval") { // not the HELLO of a new connection
			c.started.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (c *callCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestAbandonedCallsAreBounded: a client with no read timeout blocks as
// long as Redis is frozen. The limiter gives each call up at its bound and
// starts no new one while any it gave up still runs, so 8 callers looping
// for 3 s start 8 calls, not one each per second the store is known down.
func TestAbandonedCallsAreBounded(t *testing.T) {
	t.Parallel()
	s := startRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: s.addr, ReadTimeout: -1})
	t.Cleanup(func() { rdb.Close() })
	var calls callCounter
	rdb.AddHook(&calls)
	l := patient(NewLimiter(rdb, "quota:abandoned", 100, time.Second))
	for range 8 { // open the connections the callers will block on
		require.NoError(t, l.Wait(context.Background()))
	}
	l.timeout = storeTimeout
	calls.started.Store(0)
	s.freeze(t)

	ctx, cancel := context.WithCancel(context.Background()) // no deadline: each Wait waits the whole bound
	stop := time.AfterFunc(3*time.Second, cancel)
	defer stop.Stop()
	var (
		wg    sync.WaitGroup
		waits atomic.Int64
	)
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				err := l.Wait(ctx)
				if ctx.Err() == nil {
					waits.Add(1)
					assert.Error(t, err)
					assert.NotErrorIs(t, err, idctrace.ErrLocalRateLimit)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d Waits returned the store's error; %d calls started", waits.Load(), calls.started.Load())
	assert.LessOrEqual(t, calls.started.Load(), int64(8))
	assert.Greater(t, waits.Load(), int64(8), "the callers went on")
}

// TestFailedStoreIsAskedByOneCaller: once Redis has failed, one caller at
// a time asks it again while the others pace locally; before, every caller
// in flight asked it each time the second it was known down had passed,
// and waited up to a second. 8 callers looping for 3 s on a killed Redis
// start their first 8 calls, then at most one per second.
func TestFailedStoreIsAskedByOneCaller(t *testing.T) {
	t.Parallel()
	s := startRedis(t)
	rdb := s.client(t)
	var calls callCounter
	rdb.AddHook(&calls)
	l := NewLimiter(rdb, "quota:probe", 100, time.Second)
	s.stop()

	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	stop := time.AfterFunc(3*time.Second, cancel)
	defer stop.Stop()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				l.Wait(ctx)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	most := 8 + int64(elapsed/storeTimeout) + 1
	t.Logf("%d calls to Redis in %v; at most %d", calls.started.Load(), elapsed, most)
	assert.LessOrEqual(t, calls.started.Load(), most)
}

// TestFailingOpenKeepsAPace is the finding: with the key taken by
// another type, a Transport failed open unpaced (31,606 requests in 1 s
// against a quota of 10 a second). Now, while the store fails, each Wait
// waits on a local limiter at the same quota before the Transport sends:
// 8 workers for 3 s send at most one request per interval of the quota
// (105 ms) since the first, whether Redis was killed, frozen, or its key
// taken, and the Transport warns once, saying why.
func TestFailingOpenKeepsAPace(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(t *testing.T, s *redisServer, rdb *redis.Client)
		says string // in the warning's error
	}{
		{"killed", func(t *testing.T, s *redisServer, rdb *redis.Client) { s.stop() }, "idcredis: Redis"},
		{"frozen", func(t *testing.T, s *redisServer, rdb *redis.Client) { s.freeze(t) }, "did not answer"},
		{"key taken", func(t *testing.T, s *redisServer, rdb *redis.Client) {
			require.NoError(t, rdb.Set(context.Background(), "quota:pace", "another application's", 0).Err())
		}, "taken"}, // the limiter is patient: only the key's type fails it
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startRedis(t)
			rdb := s.client(t)
			var sent atomic.Int64
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sent.Add(1) }))
			defer api.Close()
			core, logs := observer.New(zap.WarnLevel)
			lim := NewLimiter(rdb, "quota:pace", 10, time.Second)
			if tc.says == "taken" {
				patient(lim)
			}
			client := &http.Client{Transport: idctrace.New(api.Client().Transport, zap.New(core), idctrace.WithLimiter(lim))}
			tc.fail(t, s, rdb)

			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for ctx.Err() == nil {
						req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api.URL+"/api/v1/public/recordings", nil)
						resp, err := client.Do(req)
						if errors.Is(err, idctrace.ErrLocalRateLimit) {
							return // no slot before the run's end: slots only come later
						}
						if err == nil {
							resp.Body.Close()
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			most := int64(elapsed/(105*time.Millisecond)) + 1 // every admission lies within the run
			t.Logf("%s: %d requests sent in %v; the quota's pace allows %d", tc.name, sent.Load(), elapsed, most)
			assert.LessOrEqual(t, sent.Load(), most)
			assert.GreaterOrEqual(t, sent.Load(), int64(5), "failing open sends")
			warnings := logs.FilterMessage("identitycall rate limiter unavailable; pacing locally").All()
			if assert.Len(t, warnings, 1) {
				assert.Contains(t, fmt.Sprint(warnings[0].ContextMap()["error"]), tc.says)
			}
		})
	}
}
