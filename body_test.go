package idctrace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"testing/synctest"
	"time"

	"github.com/identitycall/idctrace/internal/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const notFoundBody = `{"error":"Resource not found"}`

const recordingURL = "https://api.identitycall.ai/api/v1/public/recordings/7"

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	return req
}

// stalledBody answers with head, then stalls until it is closed: a server
// that sent its headers and the start of a body, then stopped.
func stalledBody(head string) func() io.ReadCloser {
	return func() io.ReadCloser { return newCloseOnceBody(head) }
}

// closeOnceBody yields head, then blocks until closed, as a server that
// stopped sending; like an *os.File or a net.Conn, a second Close is an
// error (io.Closer: "The behavior of Close after the first call is
// undefined").
type closeOnceBody struct {
	head   string
	closed chan struct{}

	mu     sync.Mutex
	off    int
	closes int
}

func newCloseOnceBody(head string) *closeOnceBody {
	return &closeOnceBody{head: head, closed: make(chan struct{})}
}

func (b *closeOnceBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.off < len(b.head) {
		n := copy(p, b.head[b.off:])
		b.off += n
		b.mu.Unlock()
		return n, nil
	}
	b.mu.Unlock()
	<-b.closed
	return 0, errors.New("read on closed body")
}

func (b *closeOnceBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closes++
	if b.closes > 1 {
		return errors.New("close of a closed body")
	}
	close(b.closed)
	return nil
}

func (b *closeOnceBody) closeCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closes
}

// prefixOf returns what b holds of the prefix, and whether it may be cut.
func prefixOf(b *failureBody) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.prefix), b.err != io.EOF
}

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
		for _, ahead := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/read ahead %v", tt.name, ahead), func(t *testing.T) {
				t.Parallel()
				var r io.Reader = strings.NewReader(payload)
				if tt.reader != nil {
					r = tt.reader(r)
				}
				b := newFailureBody(io.NopCloser(r), new(record), tt.limit, time.Minute)
				if ahead {
					b.settle(context.Background())
				}
				got, err := io.ReadAll(b)
				require.NoError(t, err)
				assert.Equal(t, payload, string(got))
				prefix, cut := prefixOf(b)
				assert.Equal(t, payload[:min(tt.limit, int64(len(payload)))], prefix, "the prefix is all there is, up to the limit")
				if ahead {
					assert.Equal(t, tt.limit <= int64(len(payload)), cut, "a prefix that filled the limit may not be all")
				}
			})
		}
	}
}

func TestFailureBodyReportsReadErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset by peer")
	for _, limit := range []int64{1024, 3} { // the error inside the prefix, and after it
		for _, ahead := range []bool{false, true} {
			r := io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(boom))
			b := newFailureBody(io.NopCloser(r), new(record), limit, time.Minute)
			if ahead {
				b.settle(context.Background())
				_, cut := prefixOf(b)
				assert.True(t, cut)
			}
			got, err := io.ReadAll(b)
			assert.Equal(t, "partial", string(got))
			assert.ErrorIs(t, err, boom, "never a silent short read (limit %d, ahead %v)", limit, ahead)
		}
	}
}

// TestFailureBodyCloseEndsAWaitingRead: a Read waiting for the bytes a read
// ahead has not got returns an error once the body is closed.
func TestFailureBodyCloseEndsAWaitingRead(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := newFailureBody(newCloseOnceBody(""), new(record), 1024, time.Millisecond)
		b.want() // the read ahead stalls
		errs := make(chan error)
		go func() {
			_, err := b.Read(make([]byte, 8))
			errs <- err
		}()
		synctest.Wait()
		require.NoError(t, b.Close())
		assert.ErrorIs(t, <-errs, errReadAfterClose)
	})
}

type rwc struct {
	io.Reader
	written bytes.Buffer
}

func (c *rwc) Write(p []byte) (int, error) { return c.written.Write(p) }
func (c *rwc) Close() error                { return nil }

// TestFailureBodyKeepsWriter: a writable body stays writable.
func TestFailureBodyKeepsWriter(t *testing.T) {
	t.Parallel()
	orig := &rwc{Reader: strings.NewReader(notFoundBody)}
	tr := New(stubRT{status: 400, body: func() io.ReadCloser { return orig }}, nil)
	resp, err := tr.RoundTrip(mustRequest(t, "GET", "http://h/x"))
	require.NoError(t, err)
	w, ok := resp.Body.(io.ReadWriteCloser)
	require.True(t, ok, "a writable body stays writable")
	_, err = w.Write([]byte("ping"))
	require.NoError(t, err)
	assert.Equal(t, "ping", orig.written.String())
	assert.Equal(t, notFoundBody, readAll(t, resp))
}

// TestFailureBodyReadAfterClose: once closed, a body returns an error, even
// with prefix bytes still unread, as net/http's bodies do.
func TestFailureBodyReadAfterClose(t *testing.T) {
	t.Parallel()
	b := newFailureBody(io.NopCloser(strings.NewReader(`{"error":"x"}`)), new(record), 1024, time.Minute)
	b.settle(context.Background())
	p := make([]byte, 4)
	n, err := b.Read(p)
	require.NoError(t, err)
	assert.Equal(t, `{"er`, string(p[:n]))
	require.NoError(t, b.Close())
	n, err = b.Read(p)
	assert.Zero(t, n)
	assert.ErrorIs(t, err, errReadAfterClose)
}

// TestFailureBodyDoesNotWaitForTheBody: RoundTrip returns a failure whose
// body has not begun to arrive, and the caller's Read gets it as it comes.
func TestFailureBodyDoesNotWaitForTheBody(t *testing.T) {
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

// TestFailureBodyReadBeforeRoundTripReturns: a failure the Transport needs
// the body of (a retry the policy may make, a 429) is decoded and logged
// before RoundTrip returns; an observer does not need it.
func TestFailureBodyReadBeforeRoundTripReturns(t *testing.T) {
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
			synctest.Test(t, func(t *testing.T) {
				log, logs := observed()
				tr := New(stubRT{status: tt.status, body: stringBody(notFoundBody)}, log, tt.opts...)
				resp, err := tr.RoundTrip(mustRequest(t, "GET", "http://h/x"))
				require.NoError(t, err)
				assert.Equal(t, tt.eager, logs.Len() == tt.logged, "logged before the body is read")
				assert.Equal(t, notFoundBody, readAll(t, resp))
				assert.Equal(t, tt.logged, logs.Len())
			})
		})
	}
}
