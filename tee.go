package idctrace

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// teeBody replaces the body of a failed response when RoundTrip needs
// nothing from it: no retry or 429 pause depends on it.
// RoundTrip then returns at once, without reading, and the caller's reads
// pass through, keeping a copy of the first limit bytes: the prefix. The
// record is ended (decoded, logged, recorded) once, by the first of:
//   - a Read that completes the prefix: limit bytes, the end of the body, or
//     a read error;
//   - Close, which first reads what the prefix lacks, until the deadline;
//   - the deadline, the body-read bound after RoundTrip returned: the record
//     ends with what has been read; but a body nobody is reading or has
//     closed gets one more bound, in which the deadline's goroutine reads
//     the rest of the prefix itself, the caller's reads then getting those
//     bytes first (a failureBody takes the original's place);
//   - CheckResponse, which reads the prefix, or Flush.
//
// A record that nothing waits for (a failure counted into a storm summary,
// without a Recorder) has no deadline but its Close's, and is decoded only
// when CheckResponse asks.
type teeBody struct {
	orig   io.ReadCloser // the original body
	record *record
	limit  int
	wait   time.Duration                 // the body-read bound
	end    func(prefix []byte, cut bool) // decodes and reports the record
	waited bool                          // something waits for the record: it has a deadline
	ended  chan struct{}                 // closed when the prefix no longer grows
	cut    bool                          // the prefix may not be the whole body; set before ended is closed
	once   sync.Once                     // for end

	mu       sync.Mutex
	rest     io.ReadCloser // what Read reads: orig, or the deadline's failureBody over it
	swapped  bool          // the deadline is reading the prefix (rest is its failureBody)
	timer    *time.Timer   // the deadline, when waited
	prefix   []byte
	passed   int  // bytes the caller has read in all
	done     bool // end has been called, or is being called
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

func newTeeBody(orig io.ReadCloser, r *record, limit int64, wait time.Duration) *teeBody {
	b := &teeBody{orig: orig, rest: orig, record: r, limit: int(min(limit, 1<<30)), wait: wait, ended: make(chan struct{})}
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
// for Flush, and its deadline starts now; end is then called as soon as the
// prefix is complete.
func (b *teeBody) watch(end func(prefix []byte, cut bool), unread *unreadBodies) {
	b.end = end
	if unread == nil {
		return
	}
	b.waited = true
	unread.add(b)
	b.mu.Lock()  // expire takes it too: the timer is set before it fires
	if !b.done { // Flush may have ended it already
		b.timer = time.AfterFunc(b.wait, b.deadline)
	}
	b.mu.Unlock()
}

// Read reads the original body, keeping a copy of the prefix. After Close,
// Read returns an error.
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

// take adds what one read returned to the prefix, and ends the record when
// the prefix is complete. It clears *flag, the read's own, unless nil. It
// reports whether the record has ended.
func (b *teeBody) take(p []byte, err error, flag *bool) bool {
	b.mu.Lock()
	if flag != nil {
		*flag = false
		b.passed += len(p)
	}
	if done := b.done; done || b.swapped { // the deadline's read keeps the prefix
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

// Close reads what the prefix lacks, unless a Read is under way, within
// the deadline, which ends the record; and closes the original body. The
// original body must allow Close during Read, as net/http's bodies do: the
// deadline closes it to cut a stalled read short.
func (b *teeBody) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	drain := !b.done && !b.reading && !b.swapped
	if drain {
		b.draining = true
		if b.timer == nil { // a record nothing waits for: a deadline for this read only
			b.timer = time.AfterFunc(b.wait, b.expire)
		}
	}
	rest := b.rest // closing the deadline's failureBody ends its read too
	b.mu.Unlock()
	if drain {
		b.drain()
	}
	return rest.Close()
}

// drain reads the rest of the prefix, for Close, until the prefix is
// complete or the deadline closes the original body.
func (b *teeBody) drain() {
	buf := make([]byte, min(b.limit, 512))
	for {
		n, err := b.orig.Read(buf) // not swapped: Close does not drain then
		if b.take(buf[:n], err, nil) {
			return
		}
	}
}

// expire ends the record with what has been read, unless it has ended or
// the deadline is reading the prefix (it ends the record within the
// bound): for CheckResponse, for Flush and at the deadline. A Close that is
// reading the prefix is cut short instead: its read fails and it ends the
// record.
func (b *teeBody) expire() {
	b.mu.Lock()
	switch {
	case b.done, b.swapped:
		b.mu.Unlock()
		return
	case b.draining:
		b.mu.Unlock()
		b.orig.Close()
		return
	}
	b.done = true
	b.mu.Unlock()
	b.finish(true)
}

// deadline is the bound's timer. A body that nobody is reading or has
// closed gets one more bound, in which this goroutine reads the rest of the
// prefix through a failureBody, which the caller's reads then go through:
// the record then holds the body's text even when the caller never reads
// it. Any other record ends now, with what has been read.
func (b *teeBody) deadline() {
	b.mu.Lock()
	if b.done || b.reading || b.draining || b.closed || len(b.prefix) == b.limit {
		b.mu.Unlock()
		b.expire()
		return
	}
	fb := startFailureBody(b.orig, int64(b.limit-len(b.prefix)))
	fb.record = b.record
	b.rest, b.swapped = fb.asBody(), true
	b.mu.Unlock()

	more, cut := fb.awaitPrefix(b.record.ctx, b.wait)
	b.mu.Lock()
	b.prefix = append(b.prefix, more...)
	b.done = true
	b.mu.Unlock()
	b.finish(cut)
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
	b.once.Do(func() { b.end(b.prefix, b.cut) })
}

// await ends the record at once, as far as the body allows within the
// body-read bound, for CheckResponse: it reads the prefix through body (b,
// or a body that wraps it) unless the record has ended, and returns the
// body that replaces it, and the record to report. When the record ended
// before the caller read anything past what it holds (the deadline, Flush),
// await reads the rest of the prefix now, for a copy of the record: the
// entry stays as written.
func (b *teeBody) await(body io.ReadCloser) (io.ReadCloser, *record) {
	b.mu.Lock()
	done, prefix, early := b.done, b.prefix, b.passed == len(b.prefix) && !b.closed
	b.mu.Unlock()
	if !done {
		fb, _, _ := readFailureBody(b.record.ctx, body, int64(b.limit), b.wait)
		fb.record = b.record
		b.expire()
		<-b.ended
		b.report()
		return fb.asBody(), b.record
	}
	<-b.ended
	b.report()
	if !early || !b.cut || len(prefix) == b.limit {
		return body, b.record
	}
	fb, more, cut := readFailureBody(b.record.ctx, body, int64(b.limit-len(prefix)), b.wait)
	fb.record = b.record
	r := *b.record
	r.message, r.errs, r.body, r.retryAfter, r.hasRetry, r.waitHint = "", nil, "", 0, false, 0
	r.decodeBody(append(prefix[:len(prefix):len(prefix)], more...), cut, int64(b.limit), time.Now())
	if r.status == http.StatusForbidden {
		r.hint = r.findHint()
	}
	return fb.asBody(), &r
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

// expire ends every record that waits, with what its body has given.
func (u *unreadBodies) expire() {
	u.mu.Lock()
	bodies := make([]*teeBody, 0, len(u.m))
	for b := range u.m {
		bodies = append(bodies, b)
	}
	u.mu.Unlock()
	for _, b := range bodies {
		b.expire()
		<-b.ended
		b.report()
	}
}
