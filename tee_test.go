package idctrace

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/identitycall/idctrace/internal/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const teeErrorBody = `{"error":"Resource not found"}`

// stalledBody answers with head, then stalls until it is closed: a server
// that sent its headers and the start of a body, then stopped.
func stalledBody(head string) func() io.ReadCloser {
	return func() io.ReadCloser {
		pr, pw := io.Pipe()
		go func() {
			io.WriteString(pw, head) // returns once read, or with an error once pr is closed
		}()
		return pr
	}
}

// TestTeeBodyEndsTheRecord: a failure that needs nothing from its body is
// returned at once, and its record ends (decoded, logged) by the first of:
// a read that completes the prefix, Close, CheckResponse, Flush, or the
// body-read bound. What the caller reads is the body, byte for byte.
func TestTeeBodyEndsTheRecord(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    func() io.ReadCloser
		opts    []Option
		use     func(t *testing.T, tr *Transport, resp *http.Response) string // what the caller does; returns what it read
		message string                                                        // the entry's error; "" when it has none
		bodyF   string                                                        // the entry's body field
		reads   string                                                        // what the caller reads in all
	}{
		{name: "read to the end", body: stringBody(teeErrorBody),
			use:     func(t *testing.T, _ *Transport, resp *http.Response) string { return readAll(t, resp) },
			message: "Resource not found", reads: teeErrorBody},
		{name: "read past the cap", body: stringBody("0123456789abcdef"), opts: []Option{WithMaxBodyBytes(8)},
			use: func(t *testing.T, _ *Transport, resp *http.Response) string {
				b := make([]byte, 10)
				_, err := io.ReadFull(resp.Body, b)
				require.NoError(t, err)
				return string(b) // the entry is written before the rest is read
			},
			bodyF: "01234567", reads: "0123456789"},
		{name: "closed unread", body: stringBody(teeErrorBody),
			use:     func(t *testing.T, _ *Transport, resp *http.Response) string { resp.Body.Close(); return "" },
			message: "Resource not found"},
		{name: "CheckResponse first", body: stringBody(teeErrorBody),
			use: func(t *testing.T, _ *Transport, resp *http.Response) string {
				var apiErr *APIError
				require.ErrorAs(t, CheckResponse(resp), &apiErr)
				assert.Equal(t, "Resource not found", apiErr.Message)
				return readAll(t, resp)
			},
			message: "Resource not found", reads: teeErrorBody},
		{name: "held unread: the bound reads it", body: stringBody(teeErrorBody), opts: []Option{WithBodyReadTimeout(20 * time.Millisecond)},
			use: func(t *testing.T, _ *Transport, resp *http.Response) string {
				time.Sleep(100 * time.Millisecond) // past the bound: the Transport read the prefix
				return readAll(t, resp)
			},
			message: "Resource not found", reads: teeErrorBody},
		{name: "held unread while stalled: one more bound", body: stalledBody(`{"error":"Reso`), opts: []Option{WithBodyReadTimeout(20 * time.Millisecond)},
			use: func(t *testing.T, _ *Transport, resp *http.Response) string {
				time.Sleep(100 * time.Millisecond) // past both bounds: the entry has what arrived
				b := make([]byte, len(`{"error":"Reso`))
				_, err := io.ReadFull(resp.Body, b)
				require.NoError(t, err, "the bytes the Transport read come first")
				return string(b)
			},
			bodyF: `{"error":"Reso`, reads: `{"error":"Reso`},
		{name: "held unread: Flush reads it", body: stringBody(teeErrorBody), opts: []Option{WithBodyReadTimeout(time.Hour)},
			use: func(t *testing.T, tr *Transport, resp *http.Response) string {
				tr.Flush()
				return readAll(t, resp)
			},
			message: "Resource not found", reads: teeErrorBody},
		{name: "closed while stalled", body: stalledBody(`{"error":"Reso`), opts: []Option{WithBodyReadTimeout(50 * time.Millisecond)},
			use: func(t *testing.T, _ *Transport, resp *http.Response) string {
				finishes(t, "Close", func() { resp.Body.Close() }) // cut short at the bound
				return ""
			},
			bodyF: `{"error":"Reso`},
		{name: "read while stalled: the bound", body: stalledBody(`{"error":"Reso`), opts: []Option{WithBodyReadTimeout(50 * time.Millisecond)},
			use: func(t *testing.T, _ *Transport, resp *http.Response) string {
				b := make([]byte, 64)
				n, err := resp.Body.Read(b) // the head
				require.NoError(t, err)
				go func() {
					time.Sleep(200 * time.Millisecond) // past the bound, the entry written: unblock the read below
					resp.Body.Close()
				}()
				_, err = resp.Body.Read(b[n:])
				assert.Error(t, err)
				return string(b[:n])
			},
			bodyF: `{"error":"Reso`, reads: `{"error":"Reso`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			log, logs := observed()
			tr := New(stubRT{status: 404, body: tt.body}, log, tt.opts...)
			req, _ := http.NewRequest("GET", "https://api.identitycall.ai/api/v1/public/recordings/7", nil)
			var resp *http.Response
			var err error
			finishes(t, "RoundTrip", func() { resp, err = tr.RoundTrip(req) })
			require.NoError(t, err)

			assert.Equal(t, tt.reads, tt.use(t, tr, resp))
			require.Eventually(t, func() bool { return logs.Len() == 1 }, 10*time.Second, time.Millisecond)
			f := logs.All()[0].ContextMap()
			assert.EqualValues(t, 404, f[schema.Status])
			assert.Equal(t, "/recordings/{id}", f[schema.Route])
			if tt.message != "" {
				assert.Equal(t, tt.message, f[schema.Error])
			} else {
				assert.NotContains(t, f, schema.Error)
			}
			if tt.bodyF != "" {
				assert.Equal(t, tt.bodyF, f[schema.Body])
			}
			resp.Body.Close()
			tr.Flush()
			assert.Equal(t, 1, logs.Len(), "one entry")
		})
	}
}

// TestTeeBodyDoesNotWaitForTheBody: RoundTrip returns a failure whose body
// has not begun to arrive, and the caller's Read gets it as it comes.
func TestTeeBodyDoesNotWaitForTheBody(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	log, logs := observed()
	tr := New(stubRT{status: 500, body: func() io.ReadCloser { return pr }}, log)
	var resp *http.Response
	finishes(t, "RoundTrip", func() { resp, _ = tr.RoundTrip(mustRequest(t, "GET", "http://h/x")) })
	assert.Equal(t, 0, logs.Len(), "nothing read yet")
	go func() {
		io.WriteString(pw, `{"error":"Internal server error"}`)
		pw.Close()
	}()
	assert.Equal(t, `{"error":"Internal server error"}`, readAll(t, resp))
	require.Equal(t, 1, logs.Len())
	assert.Equal(t, "Internal server error", logs.All()[0].ContextMap()[schema.Error])
}

// TestTeeBodyWhatIsReadBeforeRoundTripReturns: a failure the Transport
// needs the body of (a retry the policy may make, a 429) is decoded and
// logged before RoundTrip returns, as before; an observer does not need it.
func TestTeeBodyWhatIsReadBeforeRoundTripReturns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		opts   []Option
		eager  bool
		logged int // entries in all
	}{
		{"plain 404", 404, nil, false, 1},
		{"404 with a retry policy", 404, []Option{WithRetry(RetryPolicy{MaxRetries: 1})}, false, 1},
		{"503 with the zero policy", 503, []Option{WithRetry(RetryPolicy{})}, false, 1},
		{"503 with a retry policy", 503, []Option{WithRetry(RetryPolicy{MaxRetries: 1})}, true, 2},
		{"observer", 404, []Option{WithObserver(func(Attempt) {})}, false, 1},
		{"429", 429, nil, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			log, logs := observed()
			tr := New(stubRT{status: tt.status, body: stringBody(teeErrorBody)}, log, tt.opts...)
			resp, err := tr.RoundTrip(mustRequest(t, "GET", "http://h/x"))
			require.NoError(t, err)
			assert.Equal(t, tt.eager, logs.Len() == tt.logged, "logged before the body is read")
			assert.Equal(t, teeErrorBody, readAll(t, resp))
			assert.Equal(t, tt.logged, logs.Len())
		})
	}
}

// TestTeeBodyConcurrentEnds: many calls whose bodies are read, closed,
// checked, held or all at once from two goroutines, with a bound short
// enough to race them, and Flush running meanwhile: every failure is
// written or counted exactly once, every caller reads its whole body, and
// nothing is left running (goleak, in TestMain).
func TestTeeBodyConcurrentEnds(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	tr := New(stubRT{status: 404, body: stringBody(teeErrorBody)}, jsonLogger(&buf),
		WithBodyReadTimeout(time.Millisecond), WithLogLimit(3, time.Hour), WithRecorder(NewRecorder(0)))
	const calls = 200
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			resp, err := tr.RoundTrip(mustRequest(t, "GET", fmt.Sprintf("http://h/recordings/%d", i)))
			if !assert.NoError(t, err) {
				return
			}
			switch i % 5 {
			case 0:
				assert.Equal(t, teeErrorBody, readAll(t, resp))
			case 1:
				resp.Body.Close()
			case 2:
				assert.Error(t, CheckResponse(resp))
				assert.Equal(t, teeErrorBody, readAll(t, resp))
			case 3:
				time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
				assert.Equal(t, teeErrorBody, readAll(t, resp))
			case 4:
				done := make(chan struct{})
				go func() { defer close(done); io.Copy(io.Discard, resp.Body) }()
				resp.Body.Close()
				<-done
			}
			if i%17 == 0 {
				tr.Flush()
			}
		})
	}
	wg.Wait()
	tr.Flush()
	entries, suppressed := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		switch {
		case strings.Contains(line, schema.Failed):
			entries++
		case strings.Contains(line, schema.Summarized):
			var n int
			_, err := fmt.Sscanf(line[strings.Index(line, `"suppressed":`)+len(`"suppressed":`):], "%d", &n)
			require.NoError(t, err)
			suppressed += n
		}
	}
	assert.Equal(t, calls, entries+suppressed, "every failure written or counted, once")
	assert.Equal(t, 3, entries)
}

// TestTeeBodyKeepsWriter: a writable body stays writable.
func TestTeeBodyKeepsWriter(t *testing.T) {
	t.Parallel()
	orig := &rwc{Reader: strings.NewReader(teeErrorBody)}
	tr := New(stubRT{status: 400, body: func() io.ReadCloser { return orig }}, nil)
	resp, err := tr.RoundTrip(mustRequest(t, "GET", "http://h/x"))
	require.NoError(t, err)
	w, ok := resp.Body.(io.ReadWriteCloser)
	require.True(t, ok, "a writable body stays writable")
	_, err = w.Write([]byte("ping"))
	require.NoError(t, err)
	assert.Equal(t, "ping", orig.written.String())
	assert.Equal(t, teeErrorBody, readAll(t, resp))
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	return req
}

const recordingURL = "https://api.identitycall.ai/api/v1/public/recordings/7"

// TestTeeBodyRecorderKeepsTheBody: the Recorder's copy of a record holds
// no teeBody, hence no response body (review: it kept every one alive).
func TestTeeBodyRecorderKeepsTheBody(t *testing.T) {
	rec := NewRecorder(10)
	log, _ := observed()
	tr := New(stubRT{status: 404, body: stringBody(`{"error":"idc_abcdefghijklmnopqrstuvwxyz012345 is bad"}`)}, log, WithRecorder(rec))
	req := mustRequest(t, "GET", recordingURL)
	req.Header.Set("Authorization", "Bearer idc_abcdefghijklmnopqrstuvwxyz012345")
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	readAll(t, resp)
	tr.Flush()
	held := rec.snapshot()
	require.Len(t, held, 1)
	assert.Nil(t, held[0].tee, "the Recorder holds the response body and its raw prefix")
}

// TestTeeBodySuppressedRedactedAfterReuse: a failure counted into a storm
// summary names the URL that failed, even when the caller reuses the
// request before CheckResponse: the request is redacted in RoundTrip
// (review: it was redacted when CheckResponse asked).
func TestTeeBodySuppressedRedactedAfterReuse(t *testing.T) {
	log, _ := observed()
	tr := New(stubRT{status: 404, body: stringBody(teeErrorBody)}, log, WithLogLimit(1, time.Hour))
	defer tr.Flush()
	first, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
	require.NoError(t, err)
	readAll(t, first) // the kind's one entry

	req := mustRequest(t, "GET", recordingURL) // counted into the summary
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	readAll(t, resp)                             // read to the end and closed:
	req.URL.Path = "/api/v1/public/recordings/8" // the caller may reuse its request
	var apiErr *APIError
	require.ErrorAs(t, CheckResponse(resp), &apiErr)
	assert.Equal(t, recordingURL, apiErr.URL, "the APIError names the reused request's URL")
}
