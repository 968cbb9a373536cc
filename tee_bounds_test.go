package idctrace

import (
	"errors"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identitycall/idctrace/internal/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The bounds of a tee body: what its deadline, Close and Flush wait for,
// and what they close.

// trickleBody yields one byte per Read, as fast as it is asked, until
// stall is set: from then on a Read blocks until the body is closed, as a
// server that stops sending does. Close unblocks it with an error.
type trickleBody struct {
	stall  *atomic.Bool
	closed chan struct{}
	once   sync.Once
	pause  time.Duration // before each byte
}

func (b *trickleBody) Read(p []byte) (int, error) {
	select {
	case <-b.closed:
		return 0, errors.New("closed")
	default:
	}
	if b.stall.Load() {
		<-b.closed
		return 0, errors.New("closed")
	}
	if len(p) == 0 {
		return 0, nil
	}
	time.Sleep(b.pause)
	p[0] = 'x'
	return 1, nil
}

func (b *trickleBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// TestTeeBodyCloseHangsAfterExpire: Close on a body that stalls returns
// however the bound, Flush and its own read interleave (review: an expire
// between two reads left Close reading forever). When Flush comes first,
// it reads the prefix itself and Close waits for that read, within the
// bound; when Close's read comes first, Flush cuts it short.
func TestTeeBodyCloseHangsAfterExpire(t *testing.T) {
	for i := range 300 {
		var stall atomic.Bool
		body := &trickleBody{stall: &stall, closed: make(chan struct{})}
		log, _ := observed()
		tr := New(stubRT{status: 404, body: func() io.ReadCloser { return body }}, log,
			WithMaxBodyBytes(1<<30), WithBodyReadTimeout(20*time.Millisecond))
		resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
		require.NoError(t, err)
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			resp.Body.Close() // drains: one byte per read
		}()
		time.Sleep(200 * time.Microsecond) // let the drain run
		stall.Store(true)                  // the server stops sending
		tr.Flush()                         // the record ends; Close must return
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			body.Close() // release the stuck goroutine
			<-closed
			t.Fatalf("iteration %d: Close still blocked 5 s after the record ended", i)
		}
	}
}

// lateCloseBody yields head, then blocks; Close returns at once, and the
// blocked Read notices it a moment later, as a network read interrupted by
// closing its connection does.
type lateCloseBody struct {
	head   string
	off    int
	closed chan struct{}
	once   sync.Once
}

func (b *lateCloseBody) Read(p []byte) (int, error) {
	if b.off < len(b.head) {
		n := copy(p, b.head[b.off:])
		b.off += n
		return n, nil
	}
	<-b.closed
	time.Sleep(50 * time.Millisecond)
	return 0, errors.New("read on closed body")
}

func (b *lateCloseBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// TestTeeBodyCloseDuringTheDeadlineRead: Close while the Transport reads
// an untouched body's prefix returns once the entry is written (review: it
// returned before).
func TestTeeBodyCloseDuringTheDeadlineRead(t *testing.T) {
	const wait = 200 * time.Millisecond
	log, logs := observed()
	tr := New(stubRT{status: 404, body: func() io.ReadCloser {
		return &lateCloseBody{head: `{"error":"Reso`, closed: make(chan struct{})}
	}}, log, WithBodyReadTimeout(wait))
	defer tr.Flush()
	resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
	require.NoError(t, err)
	time.Sleep(wait + wait/2) // past the bound, inside the deadline's extra bound: swapped
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, 1, logs.Len(), "the entry is written once the body is closed")
}

// closeOnceBody yields head, then blocks until closed, as a server that
// stopped sending; like an *os.File or a net.Conn, a second Close is an
// error (io.Closer: "The behavior of Close after the first call is
// undefined").
type closeOnceBody struct {
	head   string
	off    int
	closed chan struct{}
	mu     sync.Mutex
	closes int
}

func newCloseOnceBody(head string) *closeOnceBody {
	return &closeOnceBody{head: head, closed: make(chan struct{})}
}

func (b *closeOnceBody) Read(p []byte) (int, error) {
	if b.off < len(b.head) {
		n := copy(p, b.head[b.off:])
		b.off += n
		return n, nil
	}
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

// TestTeeBodyClosesTheOriginalOnce: whoever closes the original body
// first (the bound cutting Close's read short, Flush, Close), it is closed
// once (review: twice).
func TestTeeBodyClosesTheOriginalOnce(t *testing.T) {
	for _, how := range []string{"bound", "Flush"} {
		t.Run(how, func(t *testing.T) {
			body := newCloseOnceBody(`{"error":"Reso`)
			wait := 50 * time.Millisecond
			if how == "Flush" {
				wait = time.Hour
			}
			log, logs := observed()
			tr := New(stubRT{status: 404, body: func() io.ReadCloser { return body }}, log, WithBodyReadTimeout(wait))
			resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
			require.NoError(t, err)
			if how == "Flush" {
				go func() {
					time.Sleep(50 * time.Millisecond) // Close is draining by then
					tr.Flush()
				}()
			}
			var closeErr error
			finishes(t, "Close", func() { closeErr = resp.Body.Close() })
			tr.Flush()
			assert.Equal(t, 1, logs.Len())
			assert.NoError(t, closeErr, "Close returned the error of a second close of the base body")
			assert.Equal(t, 1, body.closeCount(), "the base body was closed more than once")
		})
	}
}

// TestTeeBodyFlushWithinTheBound: Flush ends many waiting records within
// about one bound, reading the untouched bodies all at once (review: it
// waited for each in turn, about two bounds).
func TestTeeBodyFlushWithinTheBound(t *testing.T) {
	const wait = time.Second
	log, logs := observed()
	tr := New(stubRT{status: 404, body: stalledBody(`{"error":"Reso`)}, log, WithBodyReadTimeout(wait), WithLogLimit(0, 0))
	var resps []*http.Response
	get := func() {
		resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
		require.NoError(t, err)
		resps = append(resps, resp)
	}
	defer func() {
		for _, r := range resps {
			r.Body.Close()
		}
		tr.Flush()
	}()
	for range 20 {
		get() // their deadlines swap at 1 s, reading until 2 s
	}
	time.Sleep(900 * time.Millisecond)
	for range 20 {
		get() // theirs at 1.9 s, reading until 2.9 s
	}
	time.Sleep(150 * time.Millisecond) // 1.05 s: the first twenty are swapped
	start := time.Now()
	finishes(t, "Flush", tr.Flush)
	took := time.Since(start)
	assert.Equal(t, 40, logs.Len())
	assert.Less(t, took, wait+wait*2/5, "Flush blocked longer than the body-read bound")
}

// TestTeeBodySuppressedCloseKeepsTheBound: Close of a failure counted into
// a storm summary reads its prefix until the bound after RoundTrip
// returned, not a whole bound from the Close (review: a full bound however
// late).
func TestTeeBodySuppressedCloseKeepsTheBound(t *testing.T) {
	const wait = 500 * time.Millisecond
	log, logs := observed()
	tr := New(stubRT{status: 404, body: stalledBody(`{"error":"Reso`)}, log,
		WithBodyReadTimeout(wait), WithLogLimit(1, time.Hour))
	defer tr.Flush()
	var resps [2]*http.Response
	for i := range resps {
		resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
		require.NoError(t, err)
		resps[i] = resp
	}
	time.Sleep(2 * wait) // past the bound of both, counted from RoundTrip's return
	var took [2]time.Duration
	for i, resp := range resps {
		start := time.Now()
		finishes(t, "Close", func() { resp.Body.Close() })
		took[i] = time.Since(start)
	}
	tr.Flush()
	assert.Equal(t, 2, accounted(logs))
	assert.Less(t, took[0], wait/2, "the admitted failure's Close")
	assert.Less(t, took[1], wait/2, "the suppressed failure's Close waited past the bound")
}

// TestTeeBodyCloseAtTheBound: Close on an untouched body once the bound
// has passed but before the deadline's timer has run (a busy process; here
// GOMAXPROCS(1) and a spin) does the deadline's work itself: the record has
// ended with the body's text when Close returns (review: Close returned
// first, and the timer then ended the record with nothing).
func TestTeeBodyCloseAtTheBound(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const wait = 2 * time.Millisecond
	log, logs := observed()
	tr := New(stubRT{status: 404, body: stringBody(teeErrorBody)}, log, WithBodyReadTimeout(wait))
	defer tr.Flush()
	req := mustRequest(t, "GET", recordingURL)
	runtime.GC()
	resp, err := tr.RoundTrip(req)
	returned := time.Now()
	require.NoError(t, err)
	for time.Since(returned) < wait+wait/2 { // spin past deadAt without yielding
	}
	require.NoError(t, resp.Body.Close())
	n := logs.Len() // before anything yields
	assert.Equal(t, 1, n, "Close returned before the entry was written")
	tr.Flush() // the timer's goroutine, if it has not run yet
	require.Equal(t, 1, logs.Len())
	assert.Equal(t, "Resource not found", logs.All()[0].ContextMap()[schema.Error], "the entry lost the body's text")
}
