package idctrace

// Failure bodies over real loopback connections: broken off, stalled,
// huge, switched protocols, GOAWAY.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identitycall/idctrace/internal/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

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

func TestFaultGracefulGOAWAYMidBody(t *testing.T) {
	t.Parallel()
	rest := strings.Repeat("x", 4096) + `"}`
	halfSent := make(chan struct{})
	ln := &goawayListener{Listener: listen(t), seen: make(chan struct{})}
	srv := &http.Server{
		Protocols: h2cOnly(),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			io.WriteString(w, halfBody)
			http.NewResponseController(w).Flush()
			close(halfSent)
			select {
			case <-ln.seen: // GOAWAY is on the wire: finish the stream
				io.WriteString(w, rest)
			case <-r.Context().Done():
			}
		}),
	}
	go srv.Serve(ln)
	defer srv.Close()

	shutdown := make(chan error, 1)
	go func() {
		<-halfSent
		shutdown <- srv.Shutdown(context.Background()) // sends GOAWAY, waits for the stream
	}()
	log, logs := observed()
	client := WrapClient(&http.Client{Transport: &http.Transport{Protocols: h2cOnly()}}, log)
	defer client.CloseIdleConnections()

	var resp *http.Response
	var err error
	finishes(t, "RoundTrip", func() { resp, err = client.Get("http://" + ln.Addr().String() + "/") })
	require.NoError(t, err)
	assert.Equal(t, "HTTP/2.0", resp.Proto)
	var body []byte
	finishes(t, "the body read", func() { body, err = io.ReadAll(resp.Body) })
	resp.Body.Close()
	require.NoError(t, err, "a graceful GOAWAY lets the open stream finish")
	assert.Equal(t, halfBody+rest, string(body), "every byte, in order")
	assert.Equal(t, 1, logs.Len())
	assert.Equal(t, 500, CheckResponse(resp).(*APIError).StatusCode)
	client.CloseIdleConnections() // the server's Shutdown waits for the connection
	finishes(t, "Shutdown", func() { err = <-shutdown })
	assert.NoError(t, err)
}

// h2cOnly is the protocol set of HTTP/2 without TLS, with prior knowledge:
// frames go over the connection in the clear, where a test can watch them.
func h2cOnly() *http.Protocols {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &p
}

// goawayListener closes seen when one of its connections writes a GOAWAY
// frame. It reads the server's side of the stream frame by frame: a 9-byte
// header (24-bit length, type, flags, stream) and then length bytes.
type goawayListener struct {
	net.Listener
	seen chan struct{}
	once sync.Once
}

func (l *goawayListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &frameConn{Conn: c, l: l}, nil
}

type frameConn struct {
	net.Conn
	l    *goawayListener
	hdr  [9]byte
	n    int // bytes of hdr read
	skip int // payload bytes left in the current frame
}

func (c *frameConn) Write(p []byte) (int, error) {
	for b := p; len(b) > 0; {
		if c.skip > 0 {
			k := min(c.skip, len(b))
			b, c.skip = b[k:], c.skip-k
			continue
		}
		k := copy(c.hdr[c.n:], b)
		b, c.n = b[k:], c.n+k
		if c.n == len(c.hdr) {
			c.n, c.skip = 0, int(c.hdr[0])<<16|int(c.hdr[1])<<8|int(c.hdr[2])
			if c.hdr[3] == frameGOAWAY {
				c.l.once.Do(func() { close(c.l.seen) })
			}
		}
	}
	return c.Conn.Write(p)
}

const frameGOAWAY = 0x7

// TestFailureBodyGivesWhatArrived: a failure body's first Read waits
// for the prefix read to end (16 KiB or the end of the body), however long
// that takes, even past the body-read bound. A server that sends a whole
// JSON error and keeps the stream open (a proxy holding a chunked body, a
// streaming endpoint) then hangs a caller that decodes one object with
// json.Decoder: bare net/http gives it the bytes that arrived at once.
// STYLE: "never hold the response back waiting for a slow body".
func TestFailureBodyGivesWhatArrived(t *testing.T) {
	t.Parallel()
	srv := newServer(t, "HTTP/1.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(503)
		io.WriteString(w, `{"error":"Service unavailable"}`)
		http.NewResponseController(w).Flush()
		<-r.Context().Done() // the stream stays open
	}))
	for _, wrapped := range []bool{false, true} {
		client := srv.Client()
		if wrapped {
			client = WrapClient(client, zap.NewNop(), WithBodyReadTimeout(20*time.Millisecond))
		}
		resp, err := client.Get(srv.URL + "/api/v1/public/recordings")
		require.NoError(t, err)
		decoded := make(chan error, 1)
		go func() {
			var v struct{ Error string }
			decoded <- json.NewDecoder(resp.Body).Decode(&v)
		}()
		select {
		case err := <-decoded:
			assert.NoError(t, err, "wrapped: %v", wrapped)
			resp.Body.Close()
		case <-time.After(3 * time.Second): // bare net/http decodes in microseconds
			t.Errorf("wrapped: %v: the caller's Read still waits for bytes that already arrived", wrapped)
			resp.Body.Close()
			<-decoded
		}
	}
}

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
// after its first bytes does not hold RoundTrip back, with no deadline set.
// The entry is written at the body-read bound, with what the caller has
// read by then; the caller still reads every byte, the late ones included,
// in order.
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
			defer resp.Body.Close()
			first := make([]byte, len(halfBody))
			_, err = io.ReadFull(resp.Body, first)
			require.NoError(t, err)
			assert.Equal(t, halfBody, string(first))

			require.Eventually(t, func() bool { return logs.Len() == 1 }, 10*time.Second, time.Millisecond, "logged at the bound, before the body ended")
			f := logs.All()[0].ContextMap()
			assert.Equal(t, halfBody, f[schema.Body], "the entry holds what was read")

			close(release)
			var b []byte
			finishes(t, "the body read", func() { b, err = io.ReadAll(resp.Body) })
			require.NoError(t, err)
			assert.Equal(t, `late"}`, string(b))
			assert.Equal(t, 1, logs.Len())
		})
	}
}

// TestFaultStalledBodyUnderClientTimeout: a stalled failure body meets
// http.Client's Timeout, shorter than the body-read bound, as users set
// it. Reading the body ends in the client's timeout error, after the bytes
// that came, and the entry is written by then.
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
			var b []byte
			finishes(t, "the body read", func() { b, err = io.ReadAll(resp.Body) })
			resp.Body.Close()
			assert.True(t, strings.HasPrefix(halfBody, string(b)), "only bytes that came, in order: %q", b)
			require.Error(t, err, "never a silent short read")
			assert.True(t, os.IsTimeout(err) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled), "%v", err)
			require.Equal(t, 1, logs.Len(), "the read's error ended the record")
			assert.EqualValues(t, 503, logs.All()[0].ContextMap()[schema.Status])
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

// halfBody is a 500 body that the server breaks off in the middle.
const halfBody = `{"error":"Internal server error","detail":"` // the first half of it

func TestTransportBoundsBodyMemory(t *testing.T) {
	t.Parallel()
	const size = 8 << 20
	body := &countingBody{r: io.LimitReader(zeros{}, size)}
	tr := New(stubRT{status: 500, body: func() io.ReadCloser { return body }}, zap.NewNop(), WithMaxBodyBytes(1024))
	req, err := http.NewRequest("GET", "http://example.invalid/", nil)
	require.NoError(t, err)

	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	assert.LessOrEqual(t, body.n, int64(1024), "the Transport reads no more than the cap")

	n, err := io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	assert.Equal(t, int64(size), n, "the caller still reads every byte")
	require.NoError(t, resp.Body.Close())
	assert.True(t, body.closed, "Close closes the original body")
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
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
