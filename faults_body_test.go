package idctrace

// The fault-injection suite, part one: bodies that break, drip, lie about
// their length or arrive compressed, over real loopback servers, on
// HTTP/1.1 and on HTTP/2 over TLS.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identitycall/idctrace/internal/redact"
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

// TestFaultStalledBodyDoesNotHoldTheResponse: a failure body that stalls
// after its first bytes holds RoundTrip back for the body-read bound only,
// with no deadline set. The entry logs what arrived; the caller still reads
// every byte, the late ones included, in order.
func TestFaultStalledBodyDoesNotHoldTheResponse(t *testing.T) {
	t.Parallel()
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			srv := newServer(t, proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(503)
				io.WriteString(w, halfBody)
				http.NewResponseController(w).Flush()
				select {
				case <-release:
					io.WriteString(w, `late"}`)
				case <-r.Context().Done():
				}
			}))
			log, logs := observed()
			client := WrapClient(srv.Client(), log, WithBodyReadTimeout(50*time.Millisecond))

			var resp *http.Response
			var err error
			finishes(t, "RoundTrip", func() { resp, err = client.Get(srv.URL) })
			require.NoError(t, err)
			require.Equal(t, 1, logs.Len(), "logged before the body ended")
			f := logs.All()[0].ContextMap()
			assert.True(t, strings.HasPrefix(halfBody, f[FieldBody].(string)), "the entry holds what arrived: %q", f[FieldBody])

			close(release)
			var b []byte
			finishes(t, "the body read", func() { b, err = io.ReadAll(resp.Body) })
			resp.Body.Close()
			require.NoError(t, err)
			assert.Equal(t, halfBody+`late"}`, string(b))
		})
	}
}

// TestFaultStalledBodyUnderClientTimeout: a stalled failure body meets
// http.Client's Timeout, shorter than the body-read bound, as users set
// it. The call returns by the timeout with the entry logged, and reading
// the body ends in the client's timeout error, after the bytes that came.
func TestFaultStalledBodyUnderClientTimeout(t *testing.T) {
	t.Parallel()
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(503)
				io.WriteString(w, halfBody)
				http.NewResponseController(w).Flush()
				<-r.Context().Done()
			}))
			log, logs := observed()
			client := WrapClient(srv.Client(), log) // the default bound: 1 s
			client.Timeout = 100 * time.Millisecond

			var resp *http.Response
			var err error
			finishes(t, "Do", func() { resp, err = client.Get(srv.URL + "/api/v1/public/recordings") })
			if err != nil { // the timeout came before the headers: allowed on a loaded machine
				assert.NotEmpty(t, RequestIDFromError(err))
				return
			}
			require.Equal(t, 1, logs.Len())
			assert.EqualValues(t, 503, logs.All()[0].ContextMap()[FieldStatus])
			var b []byte
			finishes(t, "the body read", func() { b, err = io.ReadAll(resp.Body) })
			resp.Body.Close()
			assert.True(t, strings.HasPrefix(halfBody, string(b)), "only bytes that came, in order: %q", b)
			require.Error(t, err, "never a silent short read")
			assert.True(t, os.IsTimeout(err) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled), "%v", err)
		})
	}
}

// TestFaultHugeContentLength: no Content-Length, however large or odd,
// changes how much the Transport reads or lets it panic.
func TestFaultHugeContentLength(t *testing.T) {
	t.Parallel()
	const body = `{"error":"Resource not found"}`
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "9223372036854775807")
				w.WriteHeader(404)
				io.WriteString(w, body)
				http.NewResponseController(w).Flush()
				panic(http.ErrAbortHandler) // the rest never comes
			}))
			log, logs := observed()
			resp, err := WrapClient(srv.Client(), log).Get(srv.URL)
			require.NoError(t, err)
			assert.EqualValues(t, math.MaxInt64, resp.ContentLength)
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, body, string(got))
			assert.Error(t, err, "the body broke off")
			assert.Equal(t, 1, logs.Len())
			assert.ErrorIs(t, CheckResponse(resp), ErrNotFound)
		})
	}
	for _, length := range []int64{math.MaxInt64, math.MaxInt64 - 1, -1, -5, 0, 3} {
		t.Run(fmt.Sprint("stub/", length), func(t *testing.T) {
			t.Parallel()
			base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
				return &http.Response{StatusCode: 404, Header: http.Header{}, ContentLength: length,
					Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
			})
			resp, err := New(base, nil).RoundTrip(httptest.NewRequest("GET", "http://h/", nil))
			require.NoError(t, err)
			assert.Equal(t, body, readAll(t, resp))
			assert.ErrorIs(t, CheckResponse(resp), ErrNotFound)

			// A response that never went through a Transport.
			resp = &http.Response{StatusCode: 404, ContentLength: length, Body: io.NopCloser(strings.NewReader(body))}
			assert.ErrorIs(t, CheckResponse(resp), ErrNotFound)
			assert.Equal(t, body, readAll(t, resp))
		})
	}
}

// rawServer answers every connection with raw, once, then closes it.
func rawServer(t *testing.T, raw string) string {
	t.Helper()
	ln := listen(t)
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
	const plain = `{"error":"Resource not found"}`
	zipped := gzipped(t, []byte(plain))
	bomb := gzipped(t, []byte(strings.Repeat("A", 16<<20))) // 16 MiB from ~16 KiB
	for _, proto := range protocols {
		for _, tt := range []struct {
			name      string
			encoding  string
			body      []byte
			askedGzip bool // the caller set Accept-Encoding and reads gzip
			message   string
			logBody   string
		}{
			{"caller decodes", "gzip", zipped, true, "Resource not found", ""},
			{"transport decodes", "gzip", zipped, false, "Resource not found", ""},
			{"bomb capped after decompression", "gzip", bomb, true, "", strings.Repeat("A", 4096)},
			{"mislabelled plain JSON", "gzip", []byte(plain), true, "Resource not found", ""},
			{"gzip bytes without the header", "", zipped, true, "", redact.Text(string(zipped), nil, false)},
		} {
			t.Run(tt.name+"/"+proto, func(t *testing.T) {
				t.Parallel()
				srv := newServer(t, proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if tt.encoding != "" {
						w.Header().Set("Content-Encoding", tt.encoding)
					}
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
					assert.Equal(t, tt.body, got, "the caller reads the bytes as sent")
				} else {
					assert.Equal(t, plain, string(got))
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
