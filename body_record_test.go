package idctrace

// When a failure body ends its record, and what the record then holds.

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/identitycall/idctrace/internal/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFailureBodyEndsTheRecord: a failure that needs nothing from its body
// is returned at once, and its record ends (decoded, logged) by the first
// of: a read that completes the prefix, Close, CheckResponse, Flush, or the
// body-read bound, which writes what has been read. What the caller reads
// is the body, byte for byte. The bubble's clock jumps: no test waits.
func TestFailureBodyEndsTheRecord(t *testing.T) {
	t.Parallel()
	const wait = time.Second
	tests := []struct {
		name    string
		body    func() io.ReadCloser
		opts    []Option
		use     func(t *testing.T, tr *Transport, resp *http.Response) string // what the caller does; returns what it read
		message string                                                        // the entry's error; "" when it has none
		bodyF   string                                                        // the entry's body field
		reads   string                                                        // what the caller reads in all
	}{
		{name: "read to the end", body: stringBody(notFoundBody),
			use:     func(t *testing.T, _ *Transport, resp *http.Response) string { return readAll(t, resp) },
			message: "Resource not found", reads: notFoundBody},
		{name: "read past the cap", body: stringBody("0123456789abcdef"), opts: []Option{WithMaxBodyBytes(8)},
			use: func(t *testing.T, _ *Transport, resp *http.Response) string {
				b := make([]byte, 10)
				_, err := io.ReadFull(resp.Body, b)
				require.NoError(t, err)
				return string(b) // the entry is written before the rest is read
			},
			bodyF: "01234567", reads: "0123456789"},
		{name: "closed unread", body: stringBody(notFoundBody),
			use:     func(t *testing.T, _ *Transport, resp *http.Response) string { resp.Body.Close(); return "" },
			message: "Resource not found"},
		{name: "CheckResponse first", body: stringBody(notFoundBody),
			use: func(t *testing.T, _ *Transport, resp *http.Response) string {
				var apiErr *APIError
				require.ErrorAs(t, CheckResponse(resp), &apiErr)
				assert.Equal(t, "Resource not found", apiErr.Message)
				return readAll(t, resp)
			},
			message: "Resource not found", reads: notFoundBody},
		{name: "held unread: the bound writes the entry without text", body: stringBody(notFoundBody),
			use: func(t *testing.T, _ *Transport, resp *http.Response) string {
				time.Sleep(2 * wait) // a leak in the caller's code: the entry cannot wait for ever
				return readAll(t, resp)
			},
			reads: notFoundBody},
		{name: "held unread: Flush reads it", body: stringBody(notFoundBody),
			use: func(t *testing.T, tr *Transport, resp *http.Response) string {
				tr.Flush()
				return readAll(t, resp)
			},
			message: "Resource not found", reads: notFoundBody},
		{name: "held unread while stalled: Flush writes what came", body: stalledBody(`{"error":"Reso`),
			use: func(t *testing.T, tr *Transport, resp *http.Response) string {
				tr.Flush()
				b := make([]byte, len(`{"error":"Reso`))
				_, err := io.ReadFull(resp.Body, b)
				require.NoError(t, err, "the bytes the Transport read come first")
				return string(b)
			},
			bodyF: `{"error":"Reso`, reads: `{"error":"Reso`},
		{name: "closed while stalled", body: stalledBody(`{"error":"Reso`),
			use: func(t *testing.T, _ *Transport, resp *http.Response) string {
				start := time.Now()
				resp.Body.Close()
				assert.LessOrEqual(t, time.Since(start), wait, "Close reads for the bound at most")
				return ""
			},
			bodyF: `{"error":"Reso`},
		{name: "read while stalled: the bound", body: stalledBody(`{"error":"Reso`),
			use: func(t *testing.T, _ *Transport, resp *http.Response) string {
				b := make([]byte, 64)
				n, err := resp.Body.Read(b) // the head
				require.NoError(t, err)
				go func() {
					time.Sleep(2 * wait) // past the bound, the entry written: unblock the read below
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
			synctest.Test(t, func(t *testing.T) {
				log, logs := observed()
				tr := New(stubRT{status: 404, body: tt.body}, log, append(tt.opts, WithBodyReadTimeout(wait))...)
				resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
				require.NoError(t, err)

				assert.Equal(t, tt.reads, tt.use(t, tr, resp))
				time.Sleep(2 * wait) // any timer has run by now
				require.Equal(t, 1, logs.Len())
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
		})
	}
}

// TestFailureBodyConcurrentEnds: many calls whose bodies are read, closed,
// checked, held or all at once from two goroutines, with a bound short
// enough to race them, and Flush running meanwhile: every failure is
// written or counted exactly once, every caller reads its whole body, and
// nothing is left running (goleak, in TestMain).
func TestFailureBodyConcurrentEnds(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	tr := New(stubRT{status: 404, body: stringBody(notFoundBody)}, jsonLogger(&buf),
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
				assert.Equal(t, notFoundBody, readAll(t, resp))
			case 1:
				resp.Body.Close()
			case 2:
				assert.Error(t, CheckResponse(resp))
				assert.Equal(t, notFoundBody, readAll(t, resp))
			case 3:
				time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
				assert.Equal(t, notFoundBody, readAll(t, resp))
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

// TestFailureBodyRecorderKeepsNoBody: the Recorder's copy of a record holds
// no response body (a review found it kept every one alive).
func TestFailureBodyRecorderKeepsNoBody(t *testing.T) {
	t.Parallel()
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
	assert.Nil(t, held[0].respBody, "the Recorder holds the response body and its raw prefix")
}

// TestFailureBodySuppressedRedactedAfterReuse: a failure counted into a
// storm summary names the URL that failed, even when the caller reuses the
// request before CheckResponse: the request is redacted in RoundTrip.
func TestFailureBodySuppressedRedactedAfterReuse(t *testing.T) {
	t.Parallel()
	log, _ := observed()
	tr := New(stubRT{status: 404, body: stringBody(notFoundBody)}, log, WithLogLimit(1, time.Hour))
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
	assert.Equal(t, recordingURL, apiErr.URL, "the APIError names the URL that failed")
}
