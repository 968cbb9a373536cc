package idctrace

// The fault-injection suite, part two: broken loggers, load and a 64 MiB
// body, over real loopback servers.

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

type failingSink struct{ slow time.Duration }

func (s failingSink) Write(p []byte) (int, error) {
	time.Sleep(s.slow)
	return 0, errors.New("disk full")
}

// panickingCore panics in the one method named by in.
type panickingCore struct {
	zapcore.Core
	in string
}

func (c panickingCore) Enabled(lvl zapcore.Level) bool {
	if c.in == "Enabled" {
		panic("Enabled exploded")
	}
	return true
}

func (c panickingCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.in == "Check" {
		panic("Check exploded")
	}
	return ce.AddCore(e, c)
}

func (c panickingCore) Write(zapcore.Entry, []zapcore.Field) error {
	panic("Write exploded")
}

func TestFaultBrokenLoggerNeverChangesTheResult(t *testing.T) {
	t.Parallel()
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	quietErrors := zap.ErrorOutput(zapcore.AddSync(io.Discard))
	loggers := map[string]*zap.Logger{
		"failing sink":   zap.New(zapcore.NewCore(enc, zapcore.AddSync(failingSink{}), zapcore.DebugLevel), quietErrors),
		"slow sink":      zap.New(zapcore.NewCore(enc, zapcore.AddSync(failingSink{slow: 200 * time.Millisecond}), zapcore.DebugLevel), quietErrors),
		"Enabled panics": zap.New(panickingCore{zapcore.NewNopCore(), "Enabled"}),
		"Check panics":   zap.New(panickingCore{zapcore.NewNopCore(), "Check"}),
		"Write panics":   zap.New(panickingCore{zapcore.NewNopCore(), "Write"}),
	}
	srv := newScripted(t, reply(429, `{"error":"Rate limit exceeded","retry_after":1}`))
	for name, log := range loggers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resp, err := WrapClient(srv.Client(), log).Get(srv.URL)
			require.NoError(t, err)
			assert.Equal(t, 429, resp.StatusCode)
			assert.Equal(t, `{"error":"Rate limit exceeded","retry_after":1}`, readAll(t, resp))
			var apiErr *APIError
			require.ErrorAs(t, CheckResponse(resp), &apiErr)
			assert.Equal(t, time.Second, apiErr.RetryAfter)
		})
	}
	t.Run("a panicking field hook is the caller's bug, and shows", func(t *testing.T) {
		t.Parallel()
		hook := WithLogFields(func(*http.Request) []zap.Field { panic("hook exploded") })
		log, _ := observed()
		assert.PanicsWithValue(t, "hook exploded", func() {
			New(stubRT{status: 404, body: stringBody("{}")}, log, hook).RoundTrip(httptest.NewRequest("GET", "http://h/", nil))
		})
	})
}

// TestFaultMisbehavingBase: a base transport that breaks the RoundTripper
// contract gets net/http's answer, with and without retries, never a panic.
func TestFaultMisbehavingBase(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name    string
		base    roundTripFunc
		status  int   // of the response returned; 0 for an error
		err     error // errors.Is target
		errText string
	}{
		{name: "5xx with a nil Body", status: 503, base: func(req *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 503, Header: http.Header{}, Request: req}, nil
		}},
		{name: "a response and an error", err: boom, base: func(req *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 503, Header: http.Header{}, Request: req}, boom
		}},
		{name: "a response and a retryable error", err: io.ErrUnexpectedEOF, base: func(req *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 500, Body: http.NoBody, Request: req}, io.ErrUnexpectedEOF
		}},
		{name: "no response and no error", errText: "returned a nil *Response with a nil error",
			base: func(req *http.Request) (*http.Response, error) { return nil, nil }},
	}
	for _, tt := range tests {
		for _, policy := range []RetryPolicy{{}, testPolicy} {
			t.Run(fmt.Sprint(tt.name, "/retries=", policy.MaxRetries), func(t *testing.T) {
				t.Parallel()
				tr, _, logs := retrying(tt.base, policy)
				resp, err := tr.RoundTrip(httptest.NewRequest("GET", "http://h/", nil))
				if tt.status != 0 {
					require.NoError(t, err)
					assert.Equal(t, tt.status, resp.StatusCode)
					assert.ErrorIs(t, CheckResponse(resp), ErrServer)
				} else {
					assert.Nil(t, resp)
					require.Error(t, err)
					if tt.err != nil {
						assert.ErrorIs(t, err, tt.err)
					}
					assert.Contains(t, err.Error(), tt.errText)
				}
				assert.Positive(t, logs.Len())
			})
		}
	}
}

func TestFaultThousandConcurrentMixedCalls(t *testing.T) {
	t.Parallel()
	statuses := []int{200, 201, 204, 400, 401, 403, 404, 422, 429, 500, 502, 503}
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			var served sync.Map // request ID -> status
			srv := newServer(t, proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var status int
				fmt.Sscan(strings.TrimPrefix(r.URL.Path, "/"), &status)
				served.Store(r.Header.Get(DefaultRequestIDHeader), status)
				w.WriteHeader(status)
				if status != 204 {
					fmt.Fprintf(w, `{"error":"status %d"}`, status)
				}
			}))
			log, logs := observed()
			base := srv.Client().Transport.(*http.Transport).Clone()
			base.MaxConnsPerHost = 100 // 1,000 calls in flight, on at most 100 sockets
			defer base.CloseIdleConnections()
			client := WrapClient(&http.Client{Transport: base}, log)

			const n = 1000
			var failures atomic.Int32
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					status := statuses[i%len(statuses)]
					resp, err := client.Get(fmt.Sprint(srv.URL, "/", status))
					if !assert.NoError(t, err) {
						return
					}
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					assert.NoError(t, err)
					assert.Equal(t, status, resp.StatusCode)
					if status >= 400 {
						failures.Add(1)
						assert.Equal(t, fmt.Sprintf(`{"error":"status %d"}`, status), string(body))
					}
				})
			}
			wg.Wait()
			client.CloseIdleConnections() // which flushes the storm summaries

			entries := logs.FilterMessage(LogMessage).All()
			assert.Equal(t, int(failures.Load()), accounted(logs), "every failure is written or counted")
			ids := map[string]bool{}
			served.Range(func(k, v any) bool { ids[k.(string)] = true; return true })
			assert.Len(t, ids, n, "a unique ID per call")
			for _, e := range entries {
				f := e.ContextMap()
				status, ok := served.Load(f[FieldRequestID])
				require.True(t, ok)
				assert.EqualValues(t, status, f[FieldStatus], "the entry matches its request")
			}
		})
	}
}

// patternReader yields size bytes of a fixed pseudo-random pattern.
type patternReader struct {
	left  int64
	block []byte
	off   int
}

func newPatternReader(size int64) *patternReader {
	block := make([]byte, 64<<10)
	x := uint32(2463534242)
	for i := range block {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		block[i] = byte(x)
	}
	return &patternReader{left: size, block: block}
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(int64(len(p)), r.left)], r.block[r.off:])
	r.off = (r.off + n) % len(r.block)
	r.left -= int64(n)
	return n, nil
}

func TestFaultLargeFailureBody(t *testing.T) {
	// Not parallel: the heap is measured, and Go runs serial tests while
	// the parallel ones wait.
	const size = 64 << 20 // 4,096 times the cap: a leak of the body would show
	serverSum := make(chan []byte, 1)
	srv := newServer(t, "HTTP/1.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		w.WriteHeader(500)
		h := sha256.New()
		io.Copy(io.MultiWriter(w, h), newPatternReader(size))
		serverSum <- h.Sum(nil)
	}))
	resp, err := WrapClient(srv.Client(), zap.NewNop()).Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()

	var base runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)
	h := sha256.New()
	buf := make([]byte, 256<<10)
	var peak uint64
	var read int64
	for {
		n, err := resp.Body.Read(buf)
		h.Write(buf[:n])
		read += int64(n)
		if read%(4<<20) < int64(n) { // every 4 MiB
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
		}
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
	require.EqualValues(t, size, read)
	assert.Equal(t, <-serverSum, h.Sum(nil), "the caller's SHA-256 matches the server's")
	grown := int64(peak) - int64(base.HeapInuse)
	t.Logf("heap in use grew by %d KiB while 64 MiB streamed through", grown>>10)
	assert.Less(t, grown, int64(8<<20), "the heap grew by %d bytes while 64 MiB streamed through", grown)
}
