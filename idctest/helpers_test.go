package idctest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

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

// data returns the "data" object of a success body.
func (r result) data(t *testing.T) map[string]any {
	t.Helper()
	d, ok := r.json(t)["data"].(map[string]any)
	require.True(t, ok, r.body)
	return d
}

// call sends one request with key (none when empty) to path below the
// base URL; a string body is sent as JSON.
func call(t *testing.T, srv *idctest.Server, key, method, path string, body any) result {
	t.Helper()
	var r io.Reader
	var ct string
	switch b := body.(type) {
	case nil:
	case string:
		r, ct = strings.NewReader(b), "application/json"
	case multipartBody:
		r, ct = bytes.NewReader(b.body), b.contentType
	default:
		t.Fatalf("body of type %T", body)
	}
	res, err := send(srv, key, method, path, r, ct)
	require.NoError(t, err)
	return res
}

// send is call for goroutines other than the test's, which must not
// FailNow.
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

type multipartBody struct {
	body        []byte
	contentType string
}

// form builds a multipart upload of a file named name holding content
// ("" name: no file part), with fields as name, value pairs.
func form(t *testing.T, name, content string, fields ...string) multipartBody {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if name != "" {
		fw, err := mw.CreateFormFile("file", name)
		require.NoError(t, err)
		io.WriteString(fw, content)
	}
	for i := 0; i+1 < len(fields); i += 2 {
		require.NoError(t, mw.WriteField(fields[i], fields[i+1]))
	}
	require.NoError(t, mw.Close())
	return multipartBody{buf.Bytes(), mw.FormDataContentType()}
}

// newProject creates a project with an account-wide key and returns its ID,
// as text.
func newProject(t *testing.T, srv *idctest.Server, key, name string) string {
	t.Helper()
	r := call(t, srv, key, "POST", "/projects", `{"name":"`+name+`","language":"en"}`)
	require.Equal(t, 201, r.status, r.body)
	return jsonNumber(r.data(t)["id"])
}

func jsonNumber(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// upload uploads a small MP3 with fields and returns the recording.
func upload(t *testing.T, srv *idctest.Server, key string, fields ...string) map[string]any {
	t.Helper()
	r := call(t, srv, key, "POST", "/recordings", form(t, "call.mp3", "audio bytes", fields...))
	require.Contains(t, []int{200, 201}, r.status, r.body)
	return r.data(t)
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

// atoi reads an ID that newProject or jsonNumber returned.
func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

func itoa(n int) string { return strconv.Itoa(n) }
