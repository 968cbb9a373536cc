package idctrace

import (
	"io"
	"sync"
	"time"
)

// teeBody replaces the body of a failed response when RoundTrip needs
// nothing from it: no retry or 429 pause depends on it. RoundTrip then
// returns at once, without reading, and the caller's reads pass through,
// keeping a copy of the first limit bytes: the prefix. The record is ended
// (decoded, logged, recorded) once, by the first of:
//   - a Read that completes the prefix: limit bytes, the end of the body, or
//     a read error;
//   - Close, which first reads what the prefix lacks, until the deadline;
//   - the deadline, the body-read bound after RoundTrip returned;
//   - CheckResponse, or Flush.
//
// At the deadline, and for CheckResponse and Flush, a body that nobody is
// reading or has closed is read by the Transport itself, for one more
// bound: a failureBody over the original takes its place, reading the rest
// of the prefix in its own goroutine, and the caller's reads get those
// bytes first. A body being read ends with what has been read.
//
// A record that nothing waits for (a failure counted into a storm summary,
// without a Recorder) has no deadline but Close's, and is decoded only when
// CheckResponse asks.
type teeBody struct {
	orig     io.ReadCloser // the original body
	record   *record
	limit    int
	wait     time.Duration                 // the body-read bound
	deadAt   time.Time                     // the deadline: the bound after RoundTrip returned
	end      func(prefix []byte, cut bool) // decodes and reports the record
	waited   bool                          // something waits for the record: it has a deadline timer
	ended    chan struct{}                 // closed when the prefix no longer grows
	cut      bool                          // the prefix may not be the whole body; set before ended is closed
	reported sync.Once                     // for end
	closing  sync.Once                     // for orig.Close
	closeErr error

	mu       sync.Mutex
	rest     io.ReadCloser // what Read reads: orig, or the Transport's failureBody over it
	swapped  bool          // the Transport is reading the prefix: rest is its failureBody
	timer    *time.Timer   // the deadline, or Close's
	prefix   []byte
	done     bool // the prefix no longer grows
	reading  bool // a Read is in rest.Read
	draining bool // Close is reading the rest of the prefix
	closed   bool
}

// rwTeeBody keeps an io.ReadWriteCloser body writable.
type rwTeeBody struct {
	*teeBody
}

func (b rwTeeBody) Write(p []byte) (int, error) {
	return b.orig.(io.Writer).Write(p)
}

// origBody is b's original body, closed once whoever closes it.
type origBody struct{ b *teeBody }

func (o origBody) Read(p []byte) (int, error) { return o.b.orig.Read(p) }
func (o origBody) Close() error               { return o.b.closeOrig() }

func (b *teeBody) closeOrig() error {
	b.closing.Do(func() { b.closeErr = b.orig.Close() })
	return b.closeErr
}

// newTeeBody returns the body that replaces orig, the body of the failed
// attempt r, whose deadline is deadAt.
func newTeeBody(orig io.ReadCloser, r *record, limit int64, wait time.Duration, deadAt time.Time) *teeBody {
	b := &teeBody{orig: orig, rest: orig, record: r, limit: int(min(limit, 1<<30)), wait: wait, deadAt: deadAt, ended: make(chan struct{})}
	r.tee = b
	return b
}

// asBody returns b as the response body: writable when the original was.
func (b *teeBody) asBody() io.ReadCloser {
	if _, ok := b.orig.(io.ReadWriteCloser); ok {
		return rwTeeBody{b}
	}
	return b
}

func (b *teeBody) recordOf() *record { return b.record }

// watch arms b, before the body reaches the caller: end ends the record.
// When unread is not nil, something waits for the record: b joins unread,
// for Flush, its deadline timer starts, and end is called as soon as the
// prefix is complete.
func (b *teeBody) watch(end func(prefix []byte, cut bool), unread *unreadBodies) {
	b.end = end
	if unread == nil {
		return
	}
	b.waited = true
	unread.add(b)
	b.mu.Lock()  // deadline takes it too: the timer is set before it fires
	if !b.done { // Flush may have ended it already
		b.timer = time.AfterFunc(time.Until(b.deadAt), b.deadline)
	}
	b.mu.Unlock()
}

// Read reads the body, keeping a copy of the prefix. After Close, Read
// returns an error.
func (b *teeBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return 0, errReadAfterClose
	}
	b.reading = true
	rest := b.rest
	b.mu.Unlock()
	n, err := rest.Read(p)
	b.take(p[:n], err, &b.reading)
	return n, err
}

// take adds what one read of the original returned to the prefix, and ends
// the record when the prefix is complete; once the Transport reads the
// prefix itself, it keeps it. take clears *flag, the read's own, unless
// nil. It reports whether the prefix is done.
func (b *teeBody) take(p []byte, err error, flag *bool) bool {
	b.mu.Lock()
	if flag != nil {
		*flag = false
	}
	if done := b.done; done || b.swapped {
		b.mu.Unlock()
		return done
	}
	room := b.limit - len(b.prefix)
	b.prefix = append(b.prefix, p[:min(len(p), room)]...)
	if err == nil && len(b.prefix) < b.limit {
		b.mu.Unlock()
		return false
	}
	b.done = true
	b.mu.Unlock()
	b.finish(err != io.EOF || len(p) > room) // cut: the body may go on after the prefix
	return true
}

// Close reads what the prefix lacks, unless someone else is reading it,
// until the deadline (past it, what the deadline would do), and closes the
// original body; the record has ended by then, unless a Read under way in
// another goroutine ends it. The
// original body must allow Close during Read, as net/http's bodies do: the
// deadline closes it to cut a stalled read short.
func (b *teeBody) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	late := b.waited && !b.done && !b.reading && !b.draining && !b.swapped && !time.Now().Before(b.deadAt)
	b.mu.Unlock()
	if late {
		// The deadline is due and its timer has not run yet (a busy
		// process): do its work here, so that the record has ended when
		// Close returns, with the body's text.
		b.deadline()
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	drain := !b.done && !b.reading && !b.swapped && time.Now().Before(b.deadAt)
	if drain {
		b.draining = true
		if b.timer == nil { // a record nothing waits for: a deadline for this read only
			b.timer = time.AfterFunc(time.Until(b.deadAt), b.expire)
		}
	}
	swapped, rest := b.swapped, b.rest
	b.mu.Unlock()
	switch {
	case drain:
		b.drain()
	case swapped: // the Transport is reading the prefix: the record ends within its bound
		<-b.ended
		if b.waited {
			b.report()
		}
		return rest.Close() // the failureBody's: it closes the original
	}
	return b.closeOrig()
}

// drain reads the rest of the prefix, for Close, until the prefix is
// complete or the deadline closes the original body: draining stays set
// throughout, so that the deadline cuts it short.
func (b *teeBody) drain() {
	buf := make([]byte, min(b.limit, 512))
	for {
		n, err := b.orig.Read(buf)
		if b.take(buf[:n], err, nil) {
			return
		}
	}
}

// expire ends the record with what has been read, unless it has ended or
// the Transport is reading the prefix (that read ends the record within
// its bound). A Close that is reading the prefix is cut short instead: its
// read fails and it ends the record.
func (b *teeBody) expire() {
	b.mu.Lock()
	switch {
	case b.done, b.swapped:
		b.mu.Unlock()
		return
	case b.draining:
		b.mu.Unlock()
		b.closeOrig()
		return
	}
	b.done = true
	b.mu.Unlock()
	b.finish(true)
}

// hurry starts ending the record: when nobody reads the body nor has
// closed it, the Transport starts reading the rest of the prefix itself and
// hurry returns that failureBody, for readUntil; otherwise the record ends
// as expire ends it, and hurry returns nil.
func (b *teeBody) hurry() *failureBody {
	b.mu.Lock()
	if b.done || b.reading || b.draining || b.closed || b.swapped || len(b.prefix) == b.limit {
		b.mu.Unlock()
		b.expire()
		return nil
	}
	fb := startFailureBody(origBody{b}, int64(b.limit-len(b.prefix)))
	fb.record = b.record
	b.rest, b.swapped = fb.asBody(), true
	b.mu.Unlock()
	return fb
}

// readUntil ends the record with the prefix fb, from hurry, has read by
// until.
func (b *teeBody) readUntil(fb *failureBody, until time.Time) {
	more, cut := fb.awaitPrefix(b.record.ctx, time.Until(until))
	b.mu.Lock()
	b.prefix = append(b.prefix, more...)
	b.done = true
	b.mu.Unlock()
	b.finish(cut)
}

// deadline is the bound's timer.
func (b *teeBody) deadline() {
	if fb := b.hurry(); fb != nil {
		b.readUntil(fb, time.Now().Add(b.wait))
	}
}

// finish is called once the prefix no longer grows. A record that
// something waits for ends now; any other, when CheckResponse asks.
func (b *teeBody) finish(cut bool) {
	b.cut = cut
	close(b.ended)
	b.mu.Lock()
	if b.timer != nil {
		b.timer.Stop()
	}
	b.mu.Unlock()
	if b.waited {
		b.report()
	}
}

// report ends the record, once, after finish.
func (b *teeBody) report() {
	b.reported.Do(func() { b.end(b.prefix, b.cut) })
}

// await ends the record within the body-read bound, for CheckResponse, and
// returns it.
func (b *teeBody) await() *record {
	if fb := b.hurry(); fb != nil {
		b.readUntil(fb, time.Now().Add(b.wait))
	}
	<-b.ended
	b.report()
	return b.record
}

// unreadBodies holds the bodies whose records wait for the caller's reads,
// so that Flush can end them.
type unreadBodies struct {
	mu sync.Mutex
	m  map[*teeBody]struct{}
}

func (u *unreadBodies) add(b *teeBody) {
	u.mu.Lock()
	if u.m == nil {
		u.m = make(map[*teeBody]struct{})
	}
	u.m[b] = struct{}{}
	u.mu.Unlock()
}

func (u *unreadBodies) remove(b *teeBody) {
	u.mu.Lock()
	delete(u.m, b)
	u.mu.Unlock()
}

// end ends every record that waits, within one body-read bound: the
// Transport reads the bodies nobody reads, all at once.
func (u *unreadBodies) end(wait time.Duration) {
	u.mu.Lock()
	bodies := make([]*teeBody, 0, len(u.m))
	for b := range u.m {
		bodies = append(bodies, b)
	}
	u.mu.Unlock()
	reads := make([]*failureBody, len(bodies))
	for i, b := range bodies {
		reads[i] = b.hurry()
	}
	until := time.Now().Add(wait)
	for i, b := range bodies {
		if reads[i] != nil {
			b.readUntil(reads[i], until)
		}
		<-b.ended
		b.report()
	}
}
