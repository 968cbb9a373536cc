package idctrace

// The fault-injection suite: networks and servers that misbehave, over real
// loopback servers, on HTTP/1.1 and on HTTP/2 over TLS.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
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

// halfBody is a 500 body that the server breaks off in the middle.
const halfBody = `{"error":"Internal server error","detail":"` // the first half of it

func TestFaultBodyBrokenOff(t *testing.T) {
	t.Parallel()
	// abort ends the response after halfBody was flushed: a stream reset on
	// HTTP/2, a dropped connection on HTTP/1.1.
	abort := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		io.WriteString(w, halfBody)
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
	for _, proto := range protocols {
		t.Run("handler aborted/"+proto, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, proto, http.HandlerFunc(abort))
			assertBrokenOff(t, srv.Client(), srv.URL)
		})
	}
	t.Run("connection reset/HTTP/1.1", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, "HTTP/1.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(500)
			io.WriteString(w, halfBody)
			http.NewResponseController(w).Flush()
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(err)
			}
			conn.(*net.TCPConn).SetLinger(0) // close with RST, not FIN
			conn.Close()
		}))
		assertBrokenOff(t, srv.Client(), srv.URL)
	})
	t.Run("connections closed/HTTP/2.0", func(t *testing.T) {
		t.Parallel()
		var srv atomic.Pointer[httptest.Server]
		s := newServer(t, "HTTP/2.0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			io.WriteString(w, halfBody)
			http.NewResponseController(w).Flush()
			srv.Load().CloseClientConnections() // GOAWAY and close, mid-body
			<-r.Context().Done()
		}))
		srv.Store(s)
		assertBrokenOff(t, s.Client(), s.URL)
	})
}

// assertBrokenOff checks a call whose 500 body breaks off after halfBody:
// RoundTrip returns without hanging, one entry is logged, and the caller
// reads the bytes that arrived and then an error, never a clean EOF.
func assertBrokenOff(t *testing.T, c *http.Client, url string) {
	t.Helper()
	log, logs := observed()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a hang fails, not stalls, the test
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := WrapClient(c, log).Do(req)
	if err != nil { // the break came before the headers: allowed
		assert.Equal(t, 1, logs.Len())
		return
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, halfBody, string(got), "the bytes that arrived")
	require.Error(t, err, "a broken-off body is an error, not a short read")
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "it did not take the deadline to notice")
	assert.Equal(t, 1, logs.Len(), "one entry")
	assert.Equal(t, 500, CheckResponse(resp).(*APIError).StatusCode)
}

func TestFaultDrippingBodyBoundedByDeadline(t *testing.T) {
	t.Parallel()
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(503)
				for range 1000 { // 100 s of body at one byte per 100 ms
					if _, err := w.Write([]byte("x")); err != nil {
						return
					}
					http.NewResponseController(w).Flush()
					select {
					case <-time.After(100 * time.Millisecond):
					case <-r.Context().Done():
						return
					}
				}
			}))
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)

			done := make(chan struct{})
			var resp *http.Response
			var err error
			go func() {
				defer close(done)
				resp, err = WrapClient(srv.Client(), zap.NewNop()).Do(req)
			}()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("RoundTrip outlived its request's deadline by far")
			}
			require.NoError(t, err, "the headers arrived in time")
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.NotEmpty(t, b, "the bytes that dripped in before the deadline")
			assert.Equal(t, strings.Repeat("x", len(b)), string(b))
		})
	}
}

// rawServer answers every connection with raw, once, then closes it.
func rawServer(t *testing.T, raw string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				http.ReadRequest(bufio.NewReader(conn))
				io.WriteString(conn, raw)
			})
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return "http://" + ln.Addr().String() + "/"
}

func TestFaultMalformedBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw, prefix string
	}{
		{"Content-Length larger than the body",
			"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 100\r\n\r\n{\"error\":\"x\"}", `{"error":"x"}`},
		{"malformed chunked body",
			"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n", "hello"},
		{"chunked body cut short",
			"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n{\"error\":\"Resource", `{"error":"Resource`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := rawServer(t, tt.raw)
			base := &http.Transport{}
			defer base.CloseIdleConnections()
			log, logs := observed()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)

			resp, err := New(base, log).RoundTrip(req)
			require.NoError(t, err)
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, tt.prefix, string(b))
			require.Error(t, err, "an error, not a hang or a clean EOF")
			assert.NotErrorIs(t, err, context.DeadlineExceeded)
			assert.Equal(t, 1, logs.Len())
		})
	}
}

func TestFaultGzipErrorBody(t *testing.T) {
	t.Parallel()
	zipped := gzipped(t, []byte(`{"error":"Resource not found"}`))
	bomb := gzipped(t, []byte(strings.Repeat("A", 16<<20))) // 16 MiB from ~16 KiB
	for _, proto := range protocols {
		for _, tt := range []struct {
			name      string
			body      []byte
			askedGzip bool // the caller set Accept-Encoding and reads gzip
			message   string
			logBody   string
		}{
			{"caller decodes", zipped, true, "Resource not found", ""},
			{"transport decodes", zipped, false, "Resource not found", ""},
			{"bomb capped after decompression", bomb, true, "", strings.Repeat("A", 4096)},
		} {
			t.Run(tt.name+"/"+proto, func(t *testing.T) {
				t.Parallel()
				srv := newServer(t, proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Encoding", "gzip")
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(404)
					w.Write(tt.body)
				}))
				log, logs := observed()
				req, _ := http.NewRequest("GET", srv.URL, nil)
				if tt.askedGzip {
					req.Header.Set("Accept-Encoding", "gzip")
				}
				resp, err := WrapClient(srv.Client(), log, WithMaxBodyBytes(4096)).Do(req)
				require.NoError(t, err)
				got, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				resp.Body.Close()
				if tt.askedGzip {
					assert.Equal(t, tt.body, got, "the caller reads the gzip bytes as sent")
				} else {
					assert.Equal(t, `{"error":"Resource not found"}`, string(got))
				}
				require.Equal(t, 1, logs.Len())
				f := logs.All()[0].ContextMap()
				assertField(t, f, FieldError, tt.message, tt.message != "")
				assertField(t, f, FieldBody, tt.logBody, tt.logBody != "")
			})
		}
	}
}

func TestFaultSwitchingProtocolsKeepsReadWriteBody(t *testing.T) {
	t.Parallel()
	srv := newServer(t, "HTTP/1.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		defer conn.Close()
		io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		line, _ := brw.ReadString('\n')
		io.WriteString(conn, "echo: "+line)
	}))
	log, logs := observed()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := New(srv.Client().Transport, log).RoundTrip(req)
	require.NoError(t, err)
	require.Equal(t, 101, resp.StatusCode)
	rw, ok := resp.Body.(io.ReadWriteCloser)
	require.True(t, ok, "a 101 body stays the original read-write stream")
	defer rw.Close()
	_, err = io.WriteString(rw, "ping\n")
	require.NoError(t, err)
	line, err := bufio.NewReader(rw).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "echo: ping\n", line)
	assert.Zero(t, logs.Len())
}

type failingSink struct{ slow time.Duration }

func (s failingSink) Write(p []byte) (int, error) {
	time.Sleep(s.slow)
	return 0, errors.New("disk full")
}

type panickingCore struct{ zapcore.Core }

func (c panickingCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	return ce.AddCore(e, c)
}
func (panickingCore) Write(zapcore.Entry, []zapcore.Field) error { panic("sink exploded") }

func TestFaultBrokenLoggerNeverChangesTheResult(t *testing.T) {
	t.Parallel()
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	quietErrors := zap.ErrorOutput(zapcore.AddSync(io.Discard))
	loggers := map[string]*zap.Logger{
		"failing sink": zap.New(zapcore.NewCore(enc, zapcore.AddSync(failingSink{}), zapcore.DebugLevel), quietErrors),
		"slow sink":    zap.New(zapcore.NewCore(enc, zapcore.AddSync(failingSink{slow: 200 * time.Millisecond}), zapcore.DebugLevel), quietErrors),
		"panicking":    zap.New(panickingCore{zapcore.NewNopCore()}),
	}
	srv := newScripted(t, 429, nil, `{"error":"Rate limit exceeded","retry_after":1}`)
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

			entries := logs.FilterMessage(LogMessage).All()
			assert.Len(t, entries, int(failures.Load()), "one entry per failure")
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

func TestFaultGigabyteFailureBody(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 1 GiB; skipped with -short")
	}
	// Not parallel: the heap is measured, and Go runs serial tests while
	// the parallel ones wait.
	const size = 1 << 30
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
		if read%(64<<20) < int64(n) { // every 64 MiB
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
	t.Logf("heap in use grew by %d KiB while 1 GiB streamed through", grown>>10)
	assert.Less(t, grown, int64(8<<20), "the heap grew by %d bytes while 1 GiB streamed through", grown)
}
