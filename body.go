package idctrace

import (
	"errors"
	"io"
	"sync"
)

// errReadAfterClose is what a failure body's Read returns once it is
// closed, as net/http's bodies do.
var errReadAfterClose = errors.New("idctrace: read on closed response body")

// failureBody replaces the body of a failed response. A goroutine reads up
// to limit bytes of the original body into prefix, for decoding and
// logging, so that a body that stalls after its headers holds RoundTrip
// back for the body-read bound only. The caller reads the prefix as it
// arrives, then the rest of the original body: the same bytes as if
// nothing had been read, never held back longer than bare net/http would
// hold them (a whole JSON error on a stream left open decodes at once).
// Close closes the original body, which also ends the prefix read: the
// original body must allow Close during Read, as net/http's bodies do.
type failureBody struct {
	rest   io.ReadCloser
	record *record       // the record the Transport made of this failed attempt
	ended  chan struct{} // closed when the prefix read ends

	mu     sync.Mutex
	more   sync.Cond // signalled when prefix grows, the read ends or the body is closed
	prefix []byte
	off    int   // bytes of prefix the caller has read
	done   bool  // the prefix read has ended
	err    error // and why: nil (limit reached), io.EOF or the read error
	closed bool
}

// rwFailureBody keeps an io.ReadWriteCloser body writable.
type rwFailureBody struct {
	*failureBody
}

func (b rwFailureBody) Write(p []byte) (int, error) {
	return b.rest.(io.Writer).Write(p)
}

func (b *failureBody) recordOf() *record { return b.record }

// Read returns the prefix as it arrives, then the rest of the original
// body. A read error inside the prefix is returned once the bytes before it
// are consumed: never a silent short read. After Close, Read returns an
// error.
func (b *failureBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	for !b.closed && b.off == len(b.prefix) && !b.done {
		b.more.Wait()
	}
	switch {
	case b.closed:
		b.mu.Unlock()
		return 0, errReadAfterClose
	case b.off < len(b.prefix):
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

// Close closes the original body; a Read waiting for the prefix, or any
// Read after it, returns an error.
func (b *failureBody) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.more.Broadcast()
	return b.rest.Close()
}

// asBody returns b as the response body: writable when the original was.
func (b *failureBody) asBody() io.ReadCloser {
	if _, ok := b.rest.(io.ReadWriteCloser); ok {
		return rwFailureBody{b}
	}
	return b
}
