package idctest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/identitycall/idctrace/idctest"
)

func TestServerLogsEachRequestWithoutKeys(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.InfoLevel)
	srv := idctest.Start(t, idctest.WithLogger(zap.New(core)))
	key := srv.NewKey(idctest.Read)
	req, _ := http.NewRequest("GET", srv.URL+"/recordings/"+key, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("X-Request-ID", "req-77")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()

	require.Equal(t, 1, logs.Len())
	assert.Equal(t, map[string]any{"request_id": "req-77", "method": "GET",
		"path": "/api/v1/public/recordings/idc_****" + key[len(key)-4:], "status": int64(404), "error": "Resource not found"},
		logs.All()[0].ContextMap())
	assert.Equal(t, []idctest.RequestLine{{Method: "GET", Path: "/api/v1/public/recordings/idc_****" + key[len(key)-4:],
		Status: 404, RequestID: "req-77"}}, srv.Requests())
	assert.NotContains(t, fmt.Sprint(logs.All()[0].ContextMap(), srv.Requests()), key[4:32])
}

type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	logs     []string
	cleanups []func()
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Failed() bool      { return true }
func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Log(args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, strings.TrimSuffix(fmt.Sprintln(args...), "\n")) // as testing.T does
}
func (f *fakeTB) Logf(format string, args ...any) { f.Log(fmt.Sprintf(format, args...)) }

func TestStartLogsRequestsOfAFailedTest(t *testing.T) {
	t.Parallel()
	tb := &fakeTB{TB: t}
	srv := idctest.Start(tb)
	key := srv.NewKey(idctest.Read)
	req, _ := http.NewRequest("GET", srv.URL+"/recordings/missing", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("X-Request-ID", "req-9")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()

	require.Len(t, tb.cleanups, 1)
	tb.cleanups[0]()
	assert.Equal(t, []string{`idctest: GET /api/v1/public/recordings/missing -> 404 (request_id "req-9")`}, tb.logs)
	_, err = srv.Client().Get(srv.URL + "/recordings")
	assert.Error(t, err, "the cleanup closed the server")
}

// TestOneRequestLog: RequestIDs lists a request from its arrival, Requests
// once its answer is decided; both read the one log, in the order received.
func TestOneRequestLog(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	send := func(ctx context.Context, id string) error {
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/recordings", nil)
		if id != "" {
			req.Header.Set("X-Request-ID", id)
		}
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	require.NoError(t, send(context.Background(), "first"))
	srv.Inject(1, idctest.Fault{Delay: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- send(ctx, "slow") }()
	require.Eventually(t, func() bool { return len(srv.RequestIDs()) == 2 }, 10*time.Second, time.Millisecond)
	assert.Equal(t, []string{"first", "slow"}, srv.RequestIDs(), "received, not answered yet")
	assert.Len(t, srv.Requests(), 1)

	cancel()
	assert.Error(t, <-done)
	require.NoError(t, send(context.Background(), ""))
	require.Eventually(t, func() bool { return len(srv.Requests()) == 3 }, 10*time.Second, time.Millisecond)
	var statuses []int
	for _, r := range srv.Requests() {
		statuses = append(statuses, r.Status)
	}
	assert.Equal(t, []int{401, 0, 401}, statuses, "in the order received; the client went away: no status")
	assert.Equal(t, []string{"first", "slow", ""}, srv.RequestIDs())
}

// get sends GET path with X-Request-ID id, and no key, on a client of
// srv's: the server answers 401 after logging it.
func get(ctx context.Context, client *http.Client, srv *idctest.Server, path, id string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Request-ID", id)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// TestRequestLogIsBounded: the log keeps the most recent MaxLoggedRequests
// requests, their paths and IDs cut, and Counts counts every one. Before,
// the log kept every request whole.
func TestRequestLogIsBounded(t *testing.T) {
	t.Parallel()
	tb := &fakeTB{TB: t}
	srv := idctest.Start(tb)
	client := srv.Client()
	key := "idc_" + strings.Repeat("k", 28) + "WXYZ"
	long := "/recordings/" + strings.Repeat("é", 40<<10) + key // 80 KiB
	longID := strings.Repeat("r", 300)
	require.NoError(t, get(context.Background(), client, srv, long, longID))
	const more = idctest.MaxLoggedRequests + 10
	for i := range more {
		require.NoError(t, get(context.Background(), client, srv, "/recordings/"+key, fmt.Sprint("r-", i)))
	}

	assert.Equal(t, idctest.RequestCounts{Received: more + 1, Answered: more + 1, ByStatus: map[int]int{401: more + 1}}, srv.Counts())
	lines := srv.Requests()
	require.Len(t, lines, idctest.MaxLoggedRequests)
	assert.Equal(t, "r-10", lines[0].RequestID, "the oldest kept")
	assert.Equal(t, fmt.Sprint("r-", more-1), lines[len(lines)-1].RequestID)
	assert.Equal(t, idctest.RequestLine{Method: "GET", Path: "/api/v1/public/recordings/idc_****WXYZ", Status: 401, RequestID: "r-10"}, lines[0])
	ids := srv.RequestIDs()
	assert.Len(t, ids, idctest.MaxLoggedRequests)
	assert.Equal(t, "r-10", ids[0])

	// The long path and ID, before they left the log: cut, their keys
	// masked before the cut.
	srv2 := idctest.Start(t)
	require.NoError(t, get(context.Background(), srv2.Client(), srv2, long, longID))
	require.NoError(t, get(context.Background(), srv2.Client(), srv2, "/"+strings.Repeat("x", idctest.MaxLoggedPathBytes-len(idctest.BasePath)-1), "exact"))
	lines = srv2.Requests()
	require.Len(t, lines, 2)
	cut := lines[0]
	assert.LessOrEqual(t, len(cut.Path), idctest.MaxLoggedPathBytes)
	assert.Greater(t, len(cut.Path), idctest.MaxLoggedPathBytes-8)
	assert.True(t, strings.HasPrefix(cut.Path, "/api/v1/public/recordings/éé"), cut.Path[:40])
	assert.True(t, strings.HasSuffix(cut.Path, "é…"), "cut between characters, and says so")
	assert.Equal(t, strings.Repeat("r", 125)+"…", cut.RequestID)
	assert.Len(t, lines[1].Path, idctest.MaxLoggedPathBytes, "a path of the bound is kept whole")
	assert.NotContains(t, lines[1].Path, "…")

	// A failed test's log says how many requests came before those listed.
	require.Len(t, tb.cleanups, 1)
	tb.cleanups[0]()
	require.Len(t, tb.logs, idctest.MaxLoggedRequests+1)
	assert.Equal(t, fmt.Sprintf("idctest: %d requests answered; the last %d:", more+1, idctest.MaxLoggedRequests), tb.logs[0])
	assert.Equal(t, `idctest: GET /api/v1/public/recordings/idc_****WXYZ -> 401 (request_id "r-10")`, tb.logs[1])
}

// TestRequestLogAnswersAfterEviction: a request that waits while
// MaxLoggedRequests others pass it leaves the log, yet its answer is
// counted and logged with its fields.
func TestRequestLogAnswersAfterEviction(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.InfoLevel)
	srv := idctest.Start(t, idctest.WithLogger(zap.New(core)))
	srv.Inject(1, idctest.Fault{Delay: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- get(ctx, srv.Client(), srv, "/recordings/slow", "slow") }()
	require.Eventually(t, func() bool { return srv.Counts().Received == 1 }, 10*time.Second, time.Millisecond)
	client := &http.Client{Transport: &http.Transport{}} // the slow request holds the other's connection
	defer client.CloseIdleConnections()
	for i := range idctest.MaxLoggedRequests {
		require.NoError(t, get(context.Background(), client, srv, "/projects", fmt.Sprint("r-", i)))
	}
	assert.NotContains(t, srv.RequestIDs(), "slow")

	cancel()
	assert.Error(t, <-done)
	require.Eventually(t, func() bool { return srv.Counts().Answered == idctest.MaxLoggedRequests+1 }, 10*time.Second, time.Millisecond)
	assert.Equal(t, map[int]int{0: 1, 401: idctest.MaxLoggedRequests}, srv.Counts().ByStatus)
	require.Eventually(t, func() bool { return logs.FilterField(zap.String("request_id", "slow")).Len() == 1 },
		10*time.Second, time.Millisecond, "counted, then logged")
	slow := logs.FilterField(zap.String("request_id", "slow")).All()
	assert.Equal(t, map[string]any{"request_id": "slow", "method": "GET", "path": "/api/v1/public/recordings/slow", "status": int64(0)},
		slow[0].ContextMap())
	assert.Len(t, srv.Requests(), idctest.MaxLoggedRequests)
}

// TestRequestLogUnderConcurrentUse: requests from many goroutines, while
// others read the log, are each counted once, and the log keeps the most
// recent in the order received. Run with -race -count=50.
func TestRequestLogUnderConcurrentUse(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	const workers, each = 8, 200
	var senders, readers sync.WaitGroup
	for w := range workers {
		senders.Go(func() {
			for i := range each {
				assert.NoError(t, get(context.Background(), srv.Client(), srv, "/recordings", fmt.Sprintf("w%d-%03d", w, i)))
			}
		})
	}
	done := make(chan struct{})
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				case <-time.After(time.Millisecond):
				}
				c := srv.Counts()
				lines := srv.Requests()
				assert.LessOrEqual(t, len(lines), idctest.MaxLoggedRequests)
				assert.LessOrEqual(t, c.Answered, srv.Counts().Answered)
			}
		})
	}
	senders.Wait()
	close(done)
	readers.Wait()
	assert.Equal(t, idctest.RequestCounts{Received: workers * each, Answered: workers * each, ByStatus: map[int]int{401: workers * each}}, srv.Counts())
	lines := srv.Requests()
	require.Len(t, lines, idctest.MaxLoggedRequests)
	// A worker sends a request once the one before is answered: the log
	// keeps each worker's most recent requests, in its order, to its last.
	next := map[byte]int{}
	for _, l := range lines {
		var w byte
		var i int
		_, err := fmt.Sscanf(l.RequestID, "w%c-%d", &w, &i)
		require.NoError(t, err)
		if n, ok := next[w]; ok {
			assert.Equal(t, n, i, l.RequestID)
		}
		next[w] = i + 1
	}
	for w, n := range next {
		assert.Equal(t, each, n, "worker %c's last request is kept", w)
	}
}

// TestRequestLogMemoryIsSteady: 1,200 requests with 32 KiB paths grow the
// heap by less than 16 MiB; a log that kept every path whole would hold
// 37 MiB, and one that kept the last 1,000 whole 31 MiB (the issue's
// measure, 2,000 requests of 64 KiB, grew it by 141 MiB before and
// 1.2 MiB after). Not parallel: it reads the heap.
func TestRequestLogMemoryIsSteady(t *testing.T) {
	srv := idctest.Start(t)
	client := &http.Client{Transport: &http.Transport{}}
	heap := func() float64 {
		client.CloseIdleConnections()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return float64(m.HeapAlloc) / (1 << 20)
	}
	before := heap()
	path := "/recordings/" + strings.Repeat("a", 32<<10)
	var wg sync.WaitGroup
	for w := range 4 { // on as many connections: -race makes each request slow
		wg.Go(func() {
			for i := range 300 {
				assert.NoError(t, get(context.Background(), client, srv, path, fmt.Sprint("r-", w, "-", i)))
			}
		})
	}
	wg.Wait()
	grew := heap() - before
	t.Logf("the heap grew by %.1f MiB for 1,200 requests with 32 KiB paths", grew)
	assert.Less(t, grew, 16.0)
	assert.Equal(t, 1200, srv.Counts().Answered)
}
