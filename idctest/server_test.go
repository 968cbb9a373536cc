package idctest_test

import (
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

func TestNewKeyFormat(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	assert.Regexp(t, `^idc_[A-Za-z0-9]{32}$`, srv.NewKey(idctest.Read))
	assert.NotEqual(t, srv.NewKey(), srv.NewKey())
	assert.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1:"))
	assert.True(t, strings.HasSuffix(srv.URL, "/api/v1/public"))
	assert.PanicsWithValue(t, `idctest: NewProjectKey: project ID "p1" is not a positive integer`, func() { srv.NewProjectKey("p1") })
}

func TestRouting(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	key := srv.NewKey(idctest.Read, idctest.Write, idctest.Delete)
	tests := []struct {
		name, key, method, path string
		status                  int
		body, allow             string
	}{
		{"unknown path", key, "GET", "/nowhere", 404, `{"error":"Resource not found"}`, ""},
		{"unknown path, no key: routing comes first", "", "GET", "/nowhere", 404, `{"error":"Resource not found"}`, ""},
		{"wrong method", key, "PUT", "/recordings/1", 405, `{"error":"Method not allowed"}`, "DELETE, GET, HEAD, PATCH"},
		{"wrong method on a list", key, "DELETE", "/recordings", 405, `{"error":"Method not allowed"}`, "GET, HEAD, POST"},
		// PATCH /virtual_numbers/{id} matches the path too.
		{"a literal segment wins for its method", key, "POST", "/virtual_numbers/available", 405, `{"error":"Method not allowed"}`, "GET, HEAD, PATCH"},
	}
	for _, tt := range tests {
		r := call(t, srv, tt.key, tt.method, tt.path, nil)
		assert.Equal(t, tt.status, r.status, tt.name)
		assert.JSONEq(t, tt.body, r.body, tt.name)
		assert.Equal(t, tt.allow, r.header.Get("Allow"), tt.name)
	}
}

func TestAuthAndPermissions(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	all := srv.NewKey(idctest.Read, idctest.Write, idctest.Delete)
	readOnly := srv.NewKey(idctest.Read)
	writeOnly := srv.NewKey(idctest.Write)
	revoked := srv.NewKey(idctest.Read)
	srv.RevokeKey(revoked)
	expired := srv.NewKey(idctest.Read)
	srv.ExpireKey(expired)
	project := newProject(t, srv, all, "Support")
	rec := upload(t, srv, all, "project_id", project)["public_id"].(string)

	tests := []struct {
		name, key, method, path string
		status                  int
		want                    string
	}{
		{"missing key", "", "GET", "/recordings", 401, `{"error":"Invalid or expired API key"}`},
		{"malformed key", "idc_short", "GET", "/recordings", 401, `{"error":"Invalid or expired API key"}`},
		{"unknown key", "idc_" + strings.Repeat("a", 32), "GET", "/recordings", 401, `{"error":"Invalid or expired API key"}`},
		{"revoked key", revoked, "GET", "/recordings", 401, `{"error":"Invalid or expired API key"}`},
		{"expired key", expired, "GET", "/recordings", 401, `{"error":"Invalid or expired API key"}`},
		{"read permission", writeOnly, "GET", "/recordings", 403, `{"error":"Read permission required"}`},
		{"write permission", readOnly, "POST", "/projects", 403, `{"error":"Write permission required"}`},
		{"write permission on PATCH", readOnly, "PATCH", "/recordings/" + rec, 403, `{"error":"Write permission required"}`},
		{"delete permission", readOnly, "DELETE", "/recordings/" + rec, 403, `{"error":"Delete permission required"}`},
		{"an operator's delete needs write, as documented", readOnly, "DELETE", "/operators/1", 403, `{"error":"Write permission required"}`},
		{"permission before existence", readOnly, "DELETE", "/recordings/none", 403, `{"error":"Delete permission required"}`},
	}
	for _, tt := range tests {
		r := call(t, srv, tt.key, tt.method, tt.path, nil)
		assert.Equal(t, tt.status, r.status, tt.name)
		assert.JSONEq(t, tt.want, r.body, tt.name)
		assert.Equal(t, "application/json; charset=utf-8", r.header.Get("Content-Type"), tt.name)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t, idctest.WithRateLimit(2, time.Minute))
	key, other := srv.NewKey(idctest.Read), srv.NewKey(idctest.Read)

	assert.Equal(t, 200, call(t, srv, key, "GET", "/recordings", nil).status)
	assert.Equal(t, 200, call(t, srv, key, "GET", "/recordings", nil).status)
	r := call(t, srv, key, "GET", "/recordings", nil)
	require.Equal(t, 429, r.status)
	assert.Equal(t, "Rate limit exceeded", r.json(t)["error"])
	wait := r.json(t)["retry_after"].(float64)
	assert.True(t, wait >= 1 && wait <= 60, "retry_after %v", wait)
	assert.Equal(t, fmt.Sprint(wait), r.header.Get("Retry-After"))
	assert.Equal(t, 200, call(t, srv, other, "GET", "/recordings", nil).status, "limits are per key")
}

func TestRateLimitWindowEnds(t *testing.T) {
	t.Parallel()
	var clock fakeClock
	srv := idctest.Start(t, idctest.WithRateLimit(1, time.Minute), idctest.WithClock(clock.now))
	key := srv.NewKey(idctest.Read)
	assert.Equal(t, 200, call(t, srv, key, "GET", "/recordings", nil).status)
	clock.advance(59*time.Second + time.Millisecond)
	r := call(t, srv, key, "GET", "/recordings", nil)
	require.Equal(t, 429, r.status)
	assert.Equal(t, "1", r.header.Get("Retry-After"), "whole seconds, rounded up")
	clock.advance(time.Second)
	assert.Equal(t, 200, call(t, srv, key, "GET", "/recordings", nil).status, "a new window")
}

func TestWithRetryAfter(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t, idctest.WithRateLimit(1, time.Hour), idctest.WithRetryAfter(50*time.Millisecond))
	key := srv.NewKey(idctest.Read)
	call(t, srv, key, "GET", "/recordings", nil)
	r := call(t, srv, key, "GET", "/recordings", nil)
	require.Equal(t, 429, r.status)
	assert.JSONEq(t, `{"error":"Rate limit exceeded","retry_after":0.05}`, r.body)
	assert.Equal(t, "0.05", r.header.Get("Retry-After"))
}

func TestClockStampsResources(t *testing.T) {
	t.Parallel()
	var clock fakeClock
	clock.advance(90 * time.Minute)
	srv := idctest.Start(t, idctest.WithClock(clock.now))
	key := srv.NewKey(idctest.Write)
	project := newProject(t, srv, key, "P")
	rec := upload(t, srv, key, "project_id", project)
	assert.Equal(t, "2026-11-25T10:30:00Z", rec["created_at"])
}

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

// fakeTB is a test that has failed, and keeps what is logged to it and
// its cleanups.
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

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t, idctest.WithRateLimit(1000, time.Minute))
	key := srv.NewKey(idctest.Read, idctest.Write, idctest.Delete)
	project := newProject(t, srv, key, "P")
	var wg sync.WaitGroup
	for i := range 40 {
		body := form(t, "call.mp3", "audio", "project_id", project, "external_id", fmt.Sprint("x", i%8))
		wg.Go(func() {
			var err error
			switch i % 4 {
			case 0:
				var r result
				r, err = send(srv, key, "POST", "/recordings", strings.NewReader(string(body.body)), body.contentType)
				assert.Contains(t, []int{200, 201}, r.status)
			case 1:
				_, err = send(srv, key, "GET", "/recordings", nil, "")
			case 2:
				srv.NewKey(idctest.Read)
				srv.Inject(1, idctest.Fault{Header: http.Header{"X-Fault": {"1"}}})
			case 3:
				srv.RequestIDs()
				_, err = send(srv, key, "DELETE", "/recordings/none", nil, "")
			}
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	r := call(t, srv, key, "GET", "/recordings", nil)
	assert.EqualValues(t, 2, r.json(t)["meta"].(map[string]any)["total_count"], "x0 and x4: idempotent uploads")
}
