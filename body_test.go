package idctrace

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
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
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

func TestFailureBodyYieldsTheSameBytes(t *testing.T) {
	t.Parallel()
	payload := strings.Repeat("0123456789", 1000) // 10,000 bytes
	tests := []struct {
		name   string
		limit  int64
		reader func(io.Reader) io.Reader
	}{
		{"all in prefix", 16 << 10, nil},
		{"prefix then rest", 100, nil},
		{"exact limit", 10000, nil},
		{"limit past one chunk", 9000, nil},
		{"one byte reads", 700, iotest.OneByteReader},
		{"half reads", 1000, iotest.HalfReader},
		{"data with EOF", 100, iotest.DataErrReader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var r io.Reader = strings.NewReader(payload)
			if tt.reader != nil {
				r = tt.reader(r)
			}
			body, prefix, cut := readFailureBody(context.Background(), io.NopCloser(r), tt.limit, time.Minute)
			assert.Equal(t, payload[:min(tt.limit, int64(len(payload)))], string(prefix), "the prefix is all there is, up to the limit")
			assert.Equal(t, tt.limit <= int64(len(payload)), cut, "a prefix that filled the limit may not be all")

			got, err := io.ReadAll(body)
			require.NoError(t, err)
			assert.Equal(t, payload, string(got))
		})
	}
}

func TestFailureBodyReportsReadErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset by peer")
	for _, limit := range []int64{1024, 3} { // the error inside the prefix, and after it
		r := io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(boom))
		body, _, cut := readFailureBody(context.Background(), io.NopCloser(r), limit, time.Minute)
		assert.True(t, cut)
		got, err := io.ReadAll(body)
		assert.Equal(t, "partial", string(got))
		assert.ErrorIs(t, err, boom, "never a silent short read")
	}
}

// TestFailureBodyDoesNotWaitForAStall: a body that stalls after its first
// bytes holds the read back only for the wait; the caller then reads the
// early bytes, the late ones and the end, in order.
func TestFailureBodyDoesNotWaitForAStall(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	go pw.Write([]byte(`{"error":`)) // then nothing, until the test says so
	var (
		body   *failureBody
		prefix []byte
		cut    bool
	)
	finishes(t, "readFailureBody", func() {
		body, prefix, cut = readFailureBody(context.Background(), pr, 1024, 50*time.Millisecond)
	})
	// The wait may have ended before the first write landed: the prefix is
	// some start of it.
	assert.True(t, strings.HasPrefix(`{"error":`, string(prefix)), "%q", prefix)
	assert.True(t, cut, "the body was still open")

	go func() {
		pw.Write([]byte(`"late"}`))
		pw.Close()
	}()
	got, err := io.ReadAll(body)
	require.NoError(t, err)
	assert.Equal(t, `{"error":"late"}`, string(got))
}

func TestFailureBodyEndsWithContext(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	finishes(t, "readFailureBody", func() { readFailureBody(ctx, pr, 1024, time.Hour) })
}

func TestFailureBodyCloseEndsAWaitingRead(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	defer pw.Close()
	body, _, _ := readFailureBody(context.Background(), pr, 1024, time.Millisecond)
	go func() {
		time.Sleep(10 * time.Millisecond) // let the Read below start waiting; the test passes either way
		body.Close()
	}()
	var err error
	finishes(t, "Read after Close", func() { _, err = body.Read(make([]byte, 8)) })
	assert.ErrorIs(t, err, errReadAfterClose)
}

type rwc struct {
	io.Reader
	written bytes.Buffer
}

func (c *rwc) Write(p []byte) (int, error) { return c.written.Write(p) }
func (c *rwc) Close() error                { return nil }

func TestFailureBodyKeepsReadWriteCloser(t *testing.T) {
	t.Parallel()
	orig := &rwc{Reader: strings.NewReader("hello")}
	b, _, _ := readFailureBody(context.Background(), orig, 1024, time.Minute)
	w, ok := b.asBody().(io.ReadWriteCloser)
	require.True(t, ok, "a writable body stays writable")
	_, err := w.Write([]byte("ping"))
	require.NoError(t, err)
	assert.Equal(t, "ping", orig.written.String())
	got, err := io.ReadAll(w)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(got))
}

// TestFailureBodyReadAfterClose: once closed, a body returns an error, even
// with prefix bytes still unread, as net/http's bodies do.
func TestFailureBodyReadAfterClose(t *testing.T) {
	t.Parallel()
	body, _, _ := readFailureBody(context.Background(), io.NopCloser(strings.NewReader(`{"error":"x"}`)), 1024, time.Minute)
	p := make([]byte, 4)
	n, err := body.Read(p)
	require.NoError(t, err)
	assert.Equal(t, `{"er`, string(p[:n]))
	require.NoError(t, body.Close())
	n, err = body.Read(p)
	assert.Zero(t, n)
	assert.ErrorIs(t, err, errReadAfterClose)
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

// halfBody is a 500 body that the server breaks off in the middle.
const halfBody = `{"error":"Internal server error","detail":"` // the first half of it

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

// TestReviewFailureBodyGivesWhatArrived: a failure body's first Read waits
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
