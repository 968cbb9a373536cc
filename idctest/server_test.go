package idctest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/idctest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type result struct {
	status int
	header http.Header
	body   string
}

func (r result) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.body), &m), r.body)
	return m
}

// call sends one request with key (none when empty) to path below the base URL.
func call(t *testing.T, srv *idctest.Server, key, method, path string, body io.Reader, contentType string) result {
	t.Helper()
	r, err := send(srv, key, method, path, body, contentType)
	require.NoError(t, err)
	return r
}

// send is call for goroutines other than the test's, which must not FailNow.
func send(srv *idctest.Server, key, method, path string, body io.Reader, contentType string) (result, error) {
	req, err := http.NewRequest(method, srv.URL+path, body)
	if err != nil {
		return result{}, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, string(b)}, err
}

// form builds a multipart upload; file of "" means no file part.
func form(t *testing.T, file string, fields ...string) (io.Reader, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if file != "" {
		fw, err := mw.CreateFormFile("file", "call.mp3")
		require.NoError(t, err)
		io.WriteString(fw, file)
	}
	for i := 0; i+1 < len(fields); i += 2 {
		require.NoError(t, mw.WriteField(fields[i], fields[i+1]))
	}
	require.NoError(t, mw.Close())
	return &buf, mw.FormDataContentType()
}

func upload(t *testing.T, srv *idctest.Server, key string, fields ...string) map[string]any {
	t.Helper()
	body, ct := form(t, "audio bytes", fields...)
	r := call(t, srv, key, "POST", "/recordings", body, ct)
	require.Contains(t, []int{200, 201}, r.status, r.body)
	return r.json(t)["data"].(map[string]any)
}

func TestNewKeyFormat(t *testing.T) {
	t.Parallel()
	srv := idctest.NewServer()
	defer srv.Close()
	assert.Regexp(t, `^idc_[A-Za-z0-9]{32}$`, srv.NewKey(idctest.Read))
	assert.NotEqual(t, srv.NewKey(), srv.NewKey())
	assert.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1:"))
	assert.True(t, strings.HasSuffix(srv.URL, "/api/v1/public"))
}

func TestDocumentedErrors(t *testing.T) {
	t.Parallel()
	srv := idctest.NewServer()
	defer srv.Close()
	all := srv.NewKey(idctest.Read, idctest.Write, idctest.Delete)
	readOnly := srv.NewKey(idctest.Read)
	writeOnly := srv.NewKey(idctest.Write)
	revoked := srv.NewKey(idctest.Read)
	srv.RevokeKey(revoked)
	expired := srv.NewKey(idctest.Read)
	srv.ExpireKey(expired)
	other := srv.NewAccountKey("other", idctest.Read, idctest.Write, idctest.Delete)
	rec := upload(t, srv, all)["public_id"].(string)
	theirs := upload(t, srv, other)["public_id"].(string)

	noFile, noFileCT := form(t, "", "language", "en")
	badFields, badFieldsCT := form(t, "x", "language", "klingon", "project_id", "abc", "external_id", strings.Repeat("e", 256))
	tests := []struct {
		name, key, method, path string
		body                    io.Reader
		contentType             string
		status                  int
		want                    string // the exact JSON body
	}{
		{"missing key", "", "GET", "/recordings", nil, "", 401, `{"error":"Invalid or expired API key"}`},
		{"malformed key", "idc_short", "GET", "/recordings", nil, "", 401, `{"error":"Invalid or expired API key"}`},
		{"unknown key", "idc_" + strings.Repeat("a", 32), "GET", "/recordings", nil, "", 401, `{"error":"Invalid or expired API key"}`},
		{"revoked key", revoked, "GET", "/recordings", nil, "", 401, `{"error":"Invalid or expired API key"}`},
		{"expired key", expired, "GET", "/recordings", nil, "", 401, `{"error":"Invalid or expired API key"}`},
		{"auth before routing", "", "GET", "/nowhere", nil, "", 401, `{"error":"Invalid or expired API key"}`},
		{"read permission", writeOnly, "GET", "/recordings", nil, "", 403, `{"error":"Read permission required"}`},
		{"write permission", readOnly, "POST", "/recordings", nil, "", 403, `{"error":"Write permission required"}`},
		{"write permission on PATCH", readOnly, "PATCH", "/recordings/" + rec, strings.NewReader(`{}`), "application/json", 403, `{"error":"Write permission required"}`},
		{"delete permission", readOnly, "DELETE", "/recordings/" + rec, nil, "", 403, `{"error":"Delete permission required"}`},
		{"permission before existence", readOnly, "DELETE", "/recordings/rec_none", nil, "", 403, `{"error":"Delete permission required"}`},
		{"not found", all, "GET", "/recordings/rec_none", nil, "", 404, `{"error":"Resource not found"}`},
		{"another account's", all, "GET", "/recordings/" + theirs, nil, "", 404, `{"error":"Resource not found"}`},
		{"another account's delete", all, "DELETE", "/recordings/" + theirs, nil, "", 404, `{"error":"Resource not found"}`},
		{"unknown path", all, "GET", "/nowhere", nil, "", 404, `{"error":"Resource not found"}`},
		{"bad page", all, "GET", "/recordings?page=0", nil, "", 400, `{"error":"page must be a positive integer"}`},
		{"bad per_page", all, "GET", "/recordings?per_page=101", nil, "", 400, `{"error":"per_page must be between 1 and 100"}`},
		{"upload not multipart", all, "POST", "/recordings", strings.NewReader(`{}`), "application/json", 400, `{"error":"Content-Type must be multipart/form-data"}`},
		{"file is required", all, "POST", "/recordings", noFile, noFileCT, 422, `{"error":"file is required"}`},
		{"invalid fields", all, "POST", "/recordings", badFields, badFieldsCT, 422,
			`{"errors":["Project must be a positive integer","External id is too long (maximum is 255 characters)","Language is not supported"]}`},
		{"invalid patch", all, "PATCH", "/recordings/" + rec, strings.NewReader(`{"name":" ","language":"xx"}`), "application/json", 422,
			`{"errors":["Name can't be blank","Language is not supported"]}`},
		{"bad JSON patch", all, "PATCH", "/recordings/" + rec, strings.NewReader(`{`), "application/json", 400, `{"error":"Invalid JSON body"}`},
		{"transcription pending", all, "GET", "/recordings/" + rec + "/transcription", nil, "", 422, `{"error":"Transcription not available"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, srv, tt.key, tt.method, tt.path, tt.body, tt.contentType)
			assert.Equal(t, tt.status, r.status)
			assert.JSONEq(t, tt.want, r.body)
			assert.Equal(t, "application/json; charset=utf-8", r.header.Get("Content-Type"))
		})
	}
}

func TestRecordingLifecycle(t *testing.T) {
	t.Parallel()
	srv := idctest.NewServer()
	defer srv.Close()
	key := srv.NewKey(idctest.Read, idctest.Write, idctest.Delete)

	rec := upload(t, srv, key, "language", "es", "project_id", "7", "external_id", "crm-42")
	id := rec["public_id"].(string)
	assert.Regexp(t, `^rec_[a-z0-9]{12}$`, id)
	assert.Equal(t, "pending", rec["status"])
	assert.Equal(t, "es", rec["language"])
	assert.EqualValues(t, 7, rec["project_id"])
	assert.EqualValues(t, len("audio bytes"), rec["size_bytes"])

	again := upload(t, srv, key, "external_id", "crm-42")
	assert.Equal(t, id, again["public_id"], "an external_id seen before returns the same recording")

	r := call(t, srv, key, "PATCH", "/recordings/"+id, strings.NewReader(`{"name":"Renewal call"}`), "application/json")
	require.Equal(t, 200, r.status)
	assert.Equal(t, "Renewal call", r.json(t)["data"].(map[string]any)["name"])

	require.True(t, srv.CompleteTranscription(id, "Hello, thanks for calling."))
	assert.False(t, srv.CompleteTranscription("rec_none", ""))
	r = call(t, srv, key, "GET", "/recordings/"+id+"/transcription", nil, "")
	require.Equal(t, 200, r.status)
	assert.Equal(t, "Hello, thanks for calling.", r.json(t)["data"].(map[string]any)["text"])
	r = call(t, srv, key, "GET", "/recordings/"+id, nil, "")
	assert.Equal(t, "completed", r.json(t)["data"].(map[string]any)["status"])

	r = call(t, srv, key, "DELETE", "/recordings/"+id, nil, "")
	assert.Equal(t, 204, r.status)
	assert.Empty(t, r.body)
	assert.Equal(t, 404, call(t, srv, key, "GET", "/recordings/"+id, nil, "").status)
}

func TestPagination(t *testing.T) {
	t.Parallel()
	srv := idctest.NewServer()
	defer srv.Close()
	key := srv.NewKey(idctest.Read, idctest.Write)
	other := srv.NewAccountKey("other", idctest.Write)
	for range 7 {
		upload(t, srv, key)
	}
	upload(t, srv, other)

	tests := []struct {
		query               string
		n, page, pages, per int
	}{
		{"", 7, 1, 1, 25},
		{"?per_page=3", 3, 1, 3, 3},
		{"?per_page=3&page=3", 1, 3, 3, 3},
		{"?per_page=3&page=4", 0, 4, 3, 3},
		{"?per_page=100", 7, 1, 1, 100},
	}
	for _, tt := range tests {
		r := call(t, srv, key, "GET", "/recordings"+tt.query, nil, "")
		require.Equal(t, 200, r.status, tt.query)
		m := r.json(t)
		assert.Len(t, m["data"], tt.n, tt.query)
		assert.Equal(t, map[string]any{"current_page": float64(tt.page), "total_pages": float64(tt.pages),
			"total_count": 7.0, "per_page": float64(tt.per)}, m["meta"], tt.query)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	srv := idctest.NewServer(idctest.WithRateLimit(2, time.Minute))
	defer srv.Close()
	key, other := srv.NewKey(idctest.Read), srv.NewKey(idctest.Read)

	assert.Equal(t, 200, call(t, srv, key, "GET", "/recordings", nil, "").status)
	assert.Equal(t, 200, call(t, srv, key, "GET", "/recordings", nil, "").status)
	r := call(t, srv, key, "GET", "/recordings", nil, "")
	require.Equal(t, 429, r.status)
	assert.Equal(t, "Rate limit exceeded", r.json(t)["error"])
	wait := r.json(t)["retry_after"].(float64)
	assert.True(t, wait >= 1 && wait <= 60, "retry_after %v", wait)
	assert.Equal(t, fmt.Sprint(wait), r.header.Get("Retry-After"))
	assert.Equal(t, 200, call(t, srv, other, "GET", "/recordings", nil, "").status, "limits are per key")
}

func TestRateLimitWindowEnds(t *testing.T) {
	t.Parallel()
	var clock fakeClock
	srv := idctest.NewServer(idctest.WithRateLimit(1, time.Minute), idctest.WithClock(clock.now))
	defer srv.Close()
	key := srv.NewKey(idctest.Read)
	assert.Equal(t, 200, call(t, srv, key, "GET", "/recordings", nil, "").status)
	clock.advance(59*time.Second + time.Millisecond)
	r := call(t, srv, key, "GET", "/recordings", nil, "")
	require.Equal(t, 429, r.status)
	assert.Equal(t, "1", r.header.Get("Retry-After"), "whole seconds, rounded up")
	clock.advance(time.Second)
	assert.Equal(t, 200, call(t, srv, key, "GET", "/recordings", nil, "").status, "a new window")
}

func TestClockStampsRecordings(t *testing.T) {
	t.Parallel()
	var clock fakeClock
	clock.advance(90 * time.Minute)
	srv := idctest.NewServer(idctest.WithClock(clock.now))
	defer srv.Close()
	rec := upload(t, srv, srv.NewKey(idctest.Write), "external_id", "x1")
	assert.Equal(t, "2026-11-25T10:30:00Z", rec["created_at"])
}

// fakeClock is a clock that moves only when a test advances it.
type fakeClock struct {
	mu      sync.Mutex
	elapsed time.Duration
}

var epoch = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return epoch.Add(c.elapsed)
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.elapsed += d
}

func TestFailNextAndRequestIDs(t *testing.T) {
	t.Parallel()
	srv := idctest.NewServer()
	defer srv.Close()
	key := srv.NewKey(idctest.Read)
	client := idctrace.WrapClient(srv.Client(), nil, idctrace.WithRetry(idctrace.RetryPolicy{MaxRetries: 3, BaseDelay: time.Millisecond, MaxDelay: time.Second}))

	srv.FailNext(2)
	req, _ := http.NewRequest("GET", srv.URL+"/recordings", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode, "two 500s, then retried to success")
	id := idctrace.RequestID(resp)
	assert.Equal(t, []string{id, id, id}, srv.RequestIDs(), "one ID for the three attempts")
	assert.Equal(t, id, resp.Header.Get("X-Request-ID"), "the server echoes the ID")

	srv.FailNext(1)
	r := call(t, srv, "", "GET", "/recordings", nil, "")
	assert.Equal(t, 500, r.status, "FailNext comes before authentication")
	assert.JSONEq(t, `{"error":"Internal server error"}`, r.body)
	assert.Equal(t, "", srv.RequestIDs()[3])
}

func TestServerLogsEachRequest(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.InfoLevel)
	srv := idctest.NewServer(idctest.WithLogger(zap.New(core)))
	defer srv.Close()
	key := srv.NewKey(idctest.Read)
	req, _ := http.NewRequest("GET", srv.URL+"/recordings/rec_none", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("X-Request-ID", "req-77")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()

	require.Equal(t, 1, logs.Len())
	assert.Equal(t, map[string]any{"request_id": "req-77", "method": "GET", "path": "/api/v1/public/recordings/rec_none",
		"status": int64(404), "error": "Resource not found"}, logs.All()[0].ContextMap())
	assert.NotContains(t, fmt.Sprint(logs.All()[0].ContextMap()), key)
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	srv := idctest.NewServer(idctest.WithRateLimit(1000, time.Minute))
	defer srv.Close()
	key := srv.NewKey(idctest.Read, idctest.Write, idctest.Delete)
	var wg sync.WaitGroup
	for i := range 40 {
		body, ct := form(t, "audio", "external_id", fmt.Sprint("x", i%8))
		wg.Go(func() {
			var err error
			switch i % 4 {
			case 0:
				var r result
				r, err = send(srv, key, "POST", "/recordings", body, ct)
				assert.Contains(t, []int{200, 201}, r.status)
			case 1:
				_, err = send(srv, key, "GET", "/recordings", nil, "")
			case 2:
				srv.NewKey(idctest.Read)
				srv.FailNext(0)
			case 3:
				srv.RequestIDs()
				_, err = send(srv, key, "DELETE", "/recordings/rec_none", nil, "")
			}
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	r := call(t, srv, key, "GET", "/recordings", nil, "")
	assert.EqualValues(t, 2, r.json(t)["meta"].(map[string]any)["total_count"], "x0 and x4: idempotent uploads")
}
