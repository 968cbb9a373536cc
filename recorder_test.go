package idctrace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"
)

func TestRecorderBundle(t *testing.T) {
	t.Parallel()
	srv := newScripted(t,
		reply(429, `{"error":"Rate limit exceeded","retry_after":0}`),
		reply(200, "ok"),
		reply(422, `{"errors":["Language is not supported"]}`),
		reply(502, "<html>bad gateway</html>"),
	)
	recorder := NewRecorder(10)
	tr, _, _ := retrying(srv.Client().Transport, testPolicy)
	tr.recorder = recorder
	get := func(path string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		readAll(t, resp)
	}
	get("/recordings?api_key=" + testKey)         // 429, retried to 200
	get("/recordings/rec_1")                      // 422, not retried
	tr.retry = RetryPolicy{}                      // (the 502 once, no retries)
	get("/recordings/rec_2/transcription?page=1") // 502
	require.Equal(t, 3, recorder.Len())

	var buf bytes.Buffer
	require.NoError(t, recorder.WriteBundle(&buf, "ops@example.com"))
	lines := jsonLines(t, buf.Bytes())
	require.Len(t, lines, 4)
	assert.Equal(t, "identitycall-failures", lines[0]["bundle"])
	assert.Equal(t, "ops@example.com", lines[0]["account"])
	assert.EqualValues(t, 3, lines[0]["failures"])

	ids := srv.got()
	assert.Equal(t, map[string]any{
		"request_id": ids[0].id, "method": "GET", "url": srv.URL + "/recordings?api_key=REDACTED",
		"status": 429.0, "attempt": 1.0, "error": "Rate limit exceeded", "retry_after": "0s", "retry_in": "100ms",
	}, without(lines[1], "started_at", "duration"))
	assert.Equal(t, []any{"Language is not supported"}, lines[2]["errors"])
	assert.Equal(t, "<html>bad gateway</html>", lines[3]["body"])
	for _, l := range lines[1:] {
		started, err := time.Parse(time.RFC3339Nano, l["started_at"].(string))
		require.NoError(t, err)
		assert.Equal(t, time.UTC, started.Location())
		_, err = time.ParseDuration(l["duration"].(string))
		assert.NoError(t, err)
	}
	assert.NotContains(t, buf.String(), testKey[4:len(testKey)-4])
}

func TestRecorderKeepsTheLastN(t *testing.T) {
	t.Parallel()
	recorder := NewRecorder(3)
	for i := range 7 {
		recorder.add(&record{requestID: fmt.Sprint("r", i), sent: &http.Request{}, err: fmt.Errorf("e")}, zapcore.ErrorLevel)
	}
	got := recorder.snapshot()
	require.Len(t, got, 3)
	for i, f := range got {
		assert.Equal(t, fmt.Sprint("r", i+4), f.requestID, "oldest first")
		assert.Nil(t, f.sent, "no request is kept alive")
		assert.Nil(t, f.err)
	}
	assert.Equal(t, defaultRecorderSize, NewRecorder(0).size)
}

// TestRecorderConcurrentUse records from many Transport calls while the
// bundle is written and the debug page rendered: run with -race.
func TestRecorderConcurrentUse(t *testing.T) {
	t.Parallel()
	recorder := NewRecorder(16)
	tr := New(stubRT{status: 500, body: stringBody(`{"error":"x"}`)}, nil, WithRecorder(recorder))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				req, _ := http.NewRequest("GET", "http://h/api/v1/public/recordings", nil)
				resp, err := tr.RoundTrip(req)
				if err == nil {
					resp.Body.Close()
				}
			}
		})
		wg.Go(func() { recorder.WriteBundle(&bytes.Buffer{}, "") })
		wg.Go(func() { assert.Equal(t, http.StatusOK, get(recorder, "GET", "/").StatusCode) })
	}
	wg.Wait()
	assert.Equal(t, 16, recorder.Len())
	page := readAll(t, get(recorder, "GET", "/"))
	assert.Equal(t, []string{"GET /recordings | 500 Internal Server Error | 400"}, kindRows(page), "every failure counted")
	assert.Len(t, shownIDs(page), 16, "the last 16 held")
}

func jsonLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), sc.Text())
		out = append(out, m)
	}
	return out
}

func without(m map[string]any, keys ...string) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	for _, k := range keys {
		delete(c, k)
	}
	return c
}
