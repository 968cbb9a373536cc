package idctest_test

import (
	"context"
	"fmt"
	"net/http"
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
