package idctrace

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// errReadAfterClose is what a failure body's Read returns once it is
// closed, as net/http's bodies do.
var errReadAfterClose = errors.New("idctrace: read on closed response body")

// failureBody replaces the body of a failed response. A goroutine reads up
// to limit bytes of the original body into prefix, for decoding and
// logging, so that a body that stalls after its headers holds RoundTrip
// back for the body-read bound only. The caller's first Read waits for
// that read to end; then the caller reads the prefix and the rest of the
// original body: the same bytes as if nothing had been read. Close closes
// the original body, which also ends the prefix read: the original body
// must allow Close during Read, as net/http's bodies do.
type failureBody struct {
	rest   io.ReadCloser
	record *record       // the record the Transport made of this failed attempt
	ended  chan struct{} // closed when the prefix read ends
	closed atomic.Bool

	mu     sync.Mutex // guards prefix and err until ended is closed; they are fixed after
	prefix []byte
	err    error // why the prefix read ended: nil (limit reached), io.EOF or the read error

	off int // bytes of prefix the caller has read
}

// rwFailureBody keeps an io.ReadWriteCloser body writable.
type rwFailureBody struct {
	*failureBody
}

func (b rwFailureBody) Write(p []byte) (int, error) {
	return b.rest.(io.Writer).Write(p)
}

func (b *failureBody) recordOf() *record { return b.record }

// readFailureBody starts reading at most limit bytes of body and returns
// the body that replaces it, with the bytes that arrived within wait or
// before ctx ended. cut reports that those bytes may not be the whole body.
func readFailureBody(ctx context.Context, body io.ReadCloser, limit int64, wait time.Duration) (b *failureBody, prefix []byte, cut bool) {
	b = &failureBody{rest: body, ended: make(chan struct{})}
	go b.fill(limit)

	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-b.ended:
		return b, b.prefix, b.err != io.EOF
	case <-timer.C:
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b, append([]byte(nil), b.prefix...), true // a copy: the read may still append
}

// fill reads the prefix, in its own goroutine.
func (b *failureBody) fill(limit int64) {
	defer close(b.ended)
	chunk := make([]byte, min(limit, 512))
	for n := int64(0); ; {
		m, err := b.rest.Read(chunk[:min(int64(len(chunk)), limit-n)])
		n += int64(m)
		b.mu.Lock()
		b.prefix = append(b.prefix, chunk[:m]...)
		b.err = err
		b.mu.Unlock()
		if err != nil || n == limit {
			return
		}
	}
}

// Read returns the prefix once its read has ended, then the rest of the
// original body. A read error inside the prefix is returned once the bytes
// before it are consumed: never a silent short read.
func (b *failureBody) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, errReadAfterClose
	}
	<-b.ended
	switch {
	case b.closed.Load():
		return 0, errReadAfterClose
	case b.off < len(b.prefix):
		n := copy(p, b.prefix[b.off:])
		b.off += n
		return n, nil
	case b.err != nil:
		return 0, b.err
	}
	return b.rest.Read(p)
}

// Close closes the original body; a Read after it returns an error.
func (b *failureBody) Close() error {
	b.closed.Store(true)
	return b.rest.Close()
}

// asBody returns b as the response body: writable when the original was.
func (b *failureBody) asBody() io.ReadCloser {
	if _, ok := b.rest.(io.ReadWriteCloser); ok {
		return rwFailureBody{b}
	}
	return b
}
