package idctrace

// Failure bodies over real loopback connections: broken off, stalled,
// switched protocols, GOAWAY.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
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

// halfBody is a 500 body that the server breaks off in the middle.
const halfBody = `{"error":"Internal server error","detail":"` // the first half of it

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
// reads the bytes that arrived and then an error, never a clean EOF. The
// bytes that arrived are those the base transport gave: when the server's
// close comes as a reset, the client's kernel may drop some it had
// received, so they are a prefix of halfBody.
func assertBrokenOff(t *testing.T, c *http.Client, url string) {
	t.Helper()
	log, logs := observed()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a hang fails, not stalls, the test
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	var arrived syncBuffer
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := c.Transport.RoundTrip(r)
		if resp != nil {
			resp.Body = struct {
				io.Reader
				io.Closer
			}{io.TeeReader(resp.Body, &arrived), resp.Body}
		}
		return resp, err
	})
	resp, err := WrapClient(&http.Client{Transport: base}, log).Do(req)
	if err != nil { // the break came before the headers: allowed
		assert.Equal(t, 1, logs.Len())
		return
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, arrived.String(), string(got), "the bytes that arrived, unchanged")
	assert.True(t, strings.HasPrefix(halfBody, string(got)), "a prefix of what was sent: %q", got)
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
