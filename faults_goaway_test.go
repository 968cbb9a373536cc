package idctrace

// The fault-injection suite, part three: a graceful HTTP/2 GOAWAY that
// arrives while a failure body is still streaming. The server announces
// its shutdown between the two halves of the body; the stream already
// open must still deliver every byte.

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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

const frameGOAWAY = 0x7

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
