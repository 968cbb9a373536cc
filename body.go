package idctrace

import (
	"bytes"
	"context"
	"io"
	"sync"
	"time"
)

// failureBody replaces the body of a failed response. A goroutine reads up
// to limit bytes of the original body into prefix, for decoding and
// logging; the caller reads those bytes as they arrive, then the rest of the
// original body, so it sees the same bytes as if nothing had been read.
// Close closes the original body, which also ends the prefix read.
type failureBody struct {
	rest    io.ReadCloser
	failure *failure      // the record the Transport made of this failed attempt
	ended   chan struct{} // closed when the prefix read ends

	mu     sync.Mutex
	more   sync.Cond // signalled when prefix grows or the read ends
	prefix []byte
	off    int   // bytes of prefix the caller has read
	done   bool  // the prefix read has ended
	err    error // and why: nil (limit reached), io.EOF or the read error
}

// rwFailureBody keeps an io.ReadWriteCloser body writable.
type rwFailureBody struct {
	*failureBody
}

func (b rwFailureBody) Write(p []byte) (int, error) {
	return b.rest.(io.Writer).Write(p)
}

func (b *failureBody) failureRecord() *failure { return b.failure }

// readFailureBody starts reading at most limit bytes of body and returns
// the body that replaces it, with the bytes that arrived within wait or
// before ctx ended. cut reports that those bytes may not be the whole body.
func readFailureBody(ctx context.Context, body io.ReadCloser, limit int64, wait time.Duration) (b *failureBody, prefix []byte, cut bool) {
	b = &failureBody{rest: body, ended: make(chan struct{})}
	b.more.L = &b.mu
	go b.fill(limit)

	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-b.ended:
	case <-timer.C:
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	// A copy: the goroutine may still be appending.
	return b, bytes.Clone(b.prefix), !b.done || b.err != io.EOF
}

// fill reads the prefix. It runs in its own goroutine, so that a body that
// stalls after the headers cannot hold RoundTrip back.
func (b *failureBody) fill(limit int64) {
	defer close(b.ended)
	chunk := make([]byte, min(limit, 512))
	for {
		n, err := b.rest.Read(chunk[:min(int64(len(chunk)), limit-int64(len(b.prefix)))])
		b.mu.Lock()
		b.prefix = append(b.prefix, chunk[:n]...)
		if err == nil && int64(len(b.prefix)) == limit {
			b.done = true
		} else if err != nil {
			b.done, b.err = true, err
		}
		done := b.done
		b.mu.Unlock()
		b.more.Broadcast()
		if done {
			return
		}
	}
}

// Read returns the prefix as it arrives, then the rest of the original
// body. A read error inside the prefix is returned once the bytes before it
// are consumed: never a silent short read.
func (b *failureBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	for b.off == len(b.prefix) && !b.done {
		b.more.Wait()
	}
	if b.off < len(b.prefix) {
		n := copy(p, b.prefix[b.off:])
		b.off += n
		b.mu.Unlock()
		return n, nil
	}
	err := b.err
	b.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return b.rest.Read(p)
}

func (b *failureBody) Close() error {
	return b.rest.Close()
}

// asBody returns b as the response body: writable when the original was.
func (b *failureBody) asBody() io.ReadCloser {
	if _, ok := b.rest.(io.ReadWriteCloser); ok {
		return rwFailureBody{b}
	}
	return b
}
