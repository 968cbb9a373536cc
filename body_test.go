package idctrace

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
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
