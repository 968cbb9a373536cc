package idctrace

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"
)

// errReadAfterClose is what a failure body's Read returns once it is
// closed, as net/http's bodies do.
var errReadAfterClose = errors.New("idctrace: read on closed response body")

// failureBody replaces the body of a failed response. The caller's reads
// pass through and keep a copy of the first limit bytes, the prefix, from
// which the record is decoded. When the prefix is wanted before the caller
// has read it (a 429's retry_after, CheckResponse, Flush), a goroutine reads
// it ahead, and the caller's reads get those bytes first.
//
// The record ends once, in finish. One that something waits for (its entry,
// the Recorder) ends when the prefix is complete, at Close, when
// CheckResponse or Flush asks, or at its deadline, whichever is first; any
// other, only when CheckResponse asks.
type failureBody struct {
	orig     io.ReadCloser
	rec      *record
	limit    int
	wait     time.Duration // the longest wait for the prefix
	complete chan struct{} // closed when the prefix no longer grows
	ended    sync.Once     // finish
	closing  sync.Once     // orig.Close

	mu      sync.Mutex
	more    sync.Cond // the prefix grew or ended, or the body was closed
	prefix  []byte
	off     int   // bytes of the prefix the caller has read
	err     error // the read error that ended the prefix, io.EOF included
	reading bool  // a read of orig is under way
	ahead   bool  // the prefix is wanted ahead of the caller's reads
	closed  bool
	done    bool        // the record has ended
	publish func()      // reports the ended record; nil when nothing waits for it
	timer   *time.Timer // the deadline of a record something waits for
	pending *sync.Map   // the Transport's bodies awaiting Flush
}

func newFailureBody(orig io.ReadCloser, r *record, limit int64, wait time.Duration) *failureBody {
	b := &failureBody{orig: orig, rec: r, limit: int(min(limit, 1<<30)), wait: wait, complete: make(chan struct{})}
	b.more.L = &b.mu
	r.respBody = b
	return b
}

// rwFailureBody keeps an io.ReadWriteCloser body writable.
type rwFailureBody struct{ *failureBody }

func (b rwFailureBody) Write(p []byte) (int, error) { return b.orig.(io.Writer).Write(p) }

// asBody returns b as the response body: writable when the original was.
func (b *failureBody) asBody() io.ReadCloser {
	if _, ok := b.orig.(io.ReadWriteCloser); ok {
		return rwFailureBody{b}
	}
	return b
}

func (b *failureBody) recordOf() *record { return b.rec }

// Read returns the bytes read ahead, if any, then reads the original.
func (b *failureBody) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b.mu.Lock()
	for b.reading && !b.closed && b.off == len(b.prefix) {
		b.more.Wait() // a read ahead holds the original
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
	case b.err != nil:
		b.mu.Unlock()
		return 0, b.err
	case len(b.prefix) == b.limit:
		b.mu.Unlock()
		return b.orig.Read(p)
	}
	b.reading = true
	b.mu.Unlock()
	n, err := b.orig.Read(p)
	b.add(p[:n], err, true)
	return n, err
}

// add keeps what a read of the original returned, and reports whether the
// prefix is complete. The caller's own reads hand over to a read ahead
// wanted meanwhile.
func (b *failureBody) add(p []byte, err error, byCaller bool) (full bool) {
	b.mu.Lock()
	room := b.limit - len(b.prefix)
	b.prefix = append(b.prefix, p[:min(len(p), room)]...)
	if byCaller {
		b.off = len(b.prefix)
	}
	if err != nil && len(p) <= room {
		b.err = err // else it came after the prefix, which is cut
	}
	full = len(b.prefix) == b.limit || b.err != nil
	handOver := byCaller && !full && b.ahead && !b.closed
	b.reading = !full && (!byCaller || handOver)
	publish := full && b.publish != nil
	b.more.Broadcast()
	b.mu.Unlock()
	if full {
		close(b.complete)
	}
	if handOver {
		go b.readAhead()
	}
	if publish {
		b.finish()
	}
	return full
}

// readAhead reads the rest of the prefix: in a goroutine of its own, or in
// Close's.
func (b *failureBody) readAhead() {
	buf := make([]byte, min(b.limit, 512))
	for {
		n, err := b.orig.Read(buf[:min(len(buf), b.limit-len(b.prefix))])
		if b.add(buf[:n], err, false) {
			return
		}
	}
}

// settle ends the record with the prefix that arrives within b.wait,
// unless it has ended; either way, the record has ended when it returns.
func (b *failureBody) settle(ctx context.Context) {
	if b.want() {
		b.await(ctx, time.Now().Add(b.wait))
	}
	b.finish()
}

// want asks for the prefix ahead of the caller's reads, and reports
// whether it is worth waiting for: the record has yet to end and a read is
// under way (none is, on a body closed or read to its prefix's end).
func (b *failureBody) want() bool {
	b.mu.Lock()
	start := !b.done && !b.reading && !b.closed && len(b.prefix) < b.limit && b.err == nil
	b.ahead = b.ahead || !b.done
	b.reading = b.reading || start
	wait := !b.done && b.reading
	b.mu.Unlock()
	if start {
		go b.readAhead()
	}
	return wait
}

// await waits until the prefix is complete, until, or ctx ends.
func (b *failureBody) await(ctx context.Context, until time.Time) {
	timer := time.NewTimer(time.Until(until))
	defer timer.Stop()
	select {
	case <-b.complete:
	case <-timer.C:
	case <-ctx.Done():
	}
}

// watch makes the end of the record publish it, and gives it a deadline,
// b.wait from now. It reports false when the record has ended already:
// the caller publishes it.
func (b *failureBody) watch(publish func(), pending *sync.Map) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return false
	}
	b.publish, b.pending = publish, pending
	pending.Store(b, nil)
	b.timer = time.AfterFunc(b.wait, b.finish)
	return true
}

// finish ends the record, once: it decodes the prefix as it stands and
// publishes the record.
func (b *failureBody) finish() {
	b.ended.Do(func() {
		b.mu.Lock()
		b.done = true
		prefix, cut := b.prefix[:len(b.prefix):len(b.prefix)], b.err != io.EOF
		publish, timer := b.publish, b.timer
		b.mu.Unlock()
		if timer != nil {
			timer.Stop()
		}
		b.rec.decodeBody(prefix, cut, int64(b.limit))
		if publish != nil {
			publish()
			b.pending.Delete(b) // after: a Flush meanwhile waits for the entry
		}
	})
}

// Close ends a record that something waits for, first reading what the
// prefix lacks for at most b.wait, and closes the original; a record nothing
// waits for ends when CheckResponse asks, with what was read. The original
// must allow Close during Read, as net/http's bodies do: that cuts a
// stalled read short.
func (b *failureBody) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	watched := b.publish != nil
	drain := watched && !b.done && !b.reading && len(b.prefix) < b.limit && b.err == nil
	ahead := !b.done && b.reading && b.ahead // not the caller's own read, which Close cuts short
	b.reading = b.reading || drain
	b.more.Broadcast()
	b.mu.Unlock()
	switch {
	case drain:
		cut := time.AfterFunc(b.wait, func() { b.closeOrig() })
		b.readAhead()
		cut.Stop()
	case ahead:
		b.await(context.Background(), time.Now().Add(b.wait))
	}
	if watched {
		b.finish()
	}
	return b.closeOrig()
}

func (b *failureBody) closeOrig() (err error) {
	b.closing.Do(func() { err = b.orig.Close() })
	return err
}

// flushBodies ends the records of every body in pending within wait:
// the prefixes nobody reads are read ahead, all at once.
func flushBodies(pending *sync.Map, wait time.Duration) {
	var bodies []*failureBody
	var open []bool
	pending.Range(func(k, _ any) bool {
		b := k.(*failureBody)
		bodies, open = append(bodies, b), append(open, b.want())
		return true
	})
	until := time.Now().Add(wait)
	for i, b := range bodies {
		if open[i] {
			b.await(context.Background(), until)
		}
		b.finish() // or wait for the finish under way, and its entry
	}
}
