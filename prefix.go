package idctrace

import (
	"context"
	"io"
	"time"
)

// readFailureBody starts reading at most limit bytes of body and returns
// the body that replaces it, with the bytes that arrived within wait or
// before ctx ended. cut reports that those bytes may not be the whole body.
func readFailureBody(ctx context.Context, body io.ReadCloser, limit int64, wait time.Duration) (b *failureBody, prefix []byte, cut bool) {
	b = startFailureBody(body, limit)
	prefix, cut = b.awaitPrefix(ctx, wait)
	return b, prefix, cut
}

// startFailureBody starts reading at most limit bytes of body, and returns
// the body that replaces it.
func startFailureBody(body io.ReadCloser, limit int64) *failureBody {
	b := &failureBody{rest: body, ended: make(chan struct{})}
	b.more.L = &b.mu
	go b.fill(limit)
	return b
}

// awaitPrefix returns the bytes of the prefix that arrived within wait or
// before ctx ended. cut reports that they may not be the whole body.
func (b *failureBody) awaitPrefix(ctx context.Context, wait time.Duration) (prefix []byte, cut bool) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-b.ended:
	case <-timer.C:
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.prefix...), !b.done || b.err != io.EOF // a copy: the read may still append
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
		if err != nil || n == limit {
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
