package idctrace

import (
	"context"
	"io"
	"slices"
)

// minPrefixBuf is the first buffer size for a body of unknown length: the
// documented error bodies fit.
const minPrefixBuf = 256

// failureBody replaces the body of a failed response. It yields the prefix
// the Transport inspected, then the rest of the original body, so the caller
// reads the same bytes as if nothing had been read. Close closes the original.
type failureBody struct {
	prefix []byte
	rest   io.ReadCloser
	err    error // returned once the prefix is consumed; io.EOF when rest is done
	rec    *failure
}

// rwFailureBody keeps an io.ReadWriteCloser body writable.
type rwFailureBody struct {
	*failureBody
}

func (b rwFailureBody) Write(p []byte) (int, error) {
	return b.rest.(io.Writer).Write(p)
}

func (b *failureBody) record() *failure { return b.rec }

func (b *failureBody) Read(p []byte) (int, error) {
	if len(b.prefix) > 0 {
		n := copy(p, b.prefix)
		b.prefix = b.prefix[n:]
		return n, nil
	}
	if b.err != nil {
		return 0, b.err
	}
	return b.rest.Read(p)
}

func (b *failureBody) Close() error {
	return b.rest.Close()
}

// WriteTo lets io.Copy hand the prefix over in one write and the rest
// through the original body's own fast paths.
func (b *failureBody) WriteTo(w io.Writer) (int64, error) {
	var total int64
	if len(b.prefix) > 0 {
		n, err := w.Write(b.prefix)
		total += int64(n)
		b.prefix = b.prefix[n:]
		if err != nil {
			return total, err
		}
	}
	if b.err != nil {
		if b.err == io.EOF {
			return total, nil
		}
		return total, b.err
	}
	n, err := io.Copy(w, b.rest)
	return total + n, err
}

// wrap reads at most limit bytes of body and makes b a body yielding the
// whole stream again; it returns that body and the bytes read. hint is the
// expected length, or -1. The read stops when ctx is done: the original body
// is closed to unblock it, and reads after the prefix then return ctx's
// error.
func (b *failureBody) wrap(ctx context.Context, body io.ReadCloser, limit, hint int64) (io.ReadCloser, []byte) {
	b.rest = body
	stop := func() bool { return true }
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { body.Close() })
	}
	b.prefix, b.err = readPrefix(body, limit, hint)
	if !stop() && b.err != io.EOF {
		// ctx ended while or just after reading: the body is closed.
		b.err = ctx.Err()
	}
	prefix := b.prefix
	if _, ok := body.(io.ReadWriteCloser); ok {
		return rwFailureBody{b}, prefix
	}
	return b, prefix
}

// readPrefix reads up to limit bytes from r, starting with a buffer sized
// for hint bytes (or a small one when hint is -1) and doubling it. err is
// nil when limit bytes were read (more may follow), io.EOF when r ended, or
// the read error.
func readPrefix(r io.Reader, limit, hint int64) ([]byte, error) {
	size := int64(minPrefixBuf)
	if hint >= 0 {
		size = hint + 1 // room to see io.EOF in the same buffer
	}
	buf := make([]byte, 0, min(size, limit))
	for {
		end := int(min(int64(cap(buf)), limit))
		n, err := r.Read(buf[len(buf):end])
		buf = buf[:len(buf)+n]
		if err != nil {
			return buf, err
		}
		if int64(len(buf)) == limit {
			return buf, nil
		}
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, len(buf))
		}
	}
}
