package idctrace

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cutBody yields head, then fails with err: a connection that broke
// inside the body (net/http gives io.ErrUnexpectedEOF when a body is
// shorter than its Content-Length).
type cutBody struct {
	head string
	off  int
	err  error
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.off < len(b.head) {
		n := copy(p, b.head[b.off:])
		b.off += n
		return n, nil
	}
	return 0, b.err
}

func (b *cutBody) Close() error { return nil }

// TestReview3SecondCheckResponseDuplicatesThePrefix proves that a second
// CheckResponse on a body whose prefix is cut (a read error, or a stall past
// the bound) decodes the prefix twice. The first CheckResponse reads the
// prefix through the teeBody into its failureBody (fb1), which becomes
// resp.Body; those reads count in teeBody.passed, so the second await sees
// passed == len(prefix) ("early", tee.go:248) with cut set, and re-reads
// through body (= fb1, tee.go:263), which yields the very same prefix bytes
// again: the APIError's copy of the record holds prefix+prefix.
func TestReview3SecondCheckResponseDuplicatesThePrefix(t *testing.T) {
	const head = `{"error":"Reso`
	log, _ := observed()
	tr := New(stubRT{status: 404, body: func() io.ReadCloser {
		return &cutBody{head: head, err: io.ErrUnexpectedEOF}
	}}, log)
	defer tr.Flush()
	resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
	require.NoError(t, err)
	defer resp.Body.Close()

	var first, second *APIError
	require.ErrorAs(t, CheckResponse(resp), &first)
	require.ErrorAs(t, CheckResponse(resp), &second)
	assert.Equal(t, head, first.Body)
	assert.Equal(t, first.Body, second.Body, "the second CheckResponse decoded the prefix twice")

	b, err := io.ReadAll(resp.Body)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Equal(t, head, string(b), "the body itself is intact")
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

// TestReview3CloseAfterSwapDoesNotWriteTheEntry proves that once the
// deadline has swapped in its failureBody (the body was idle at the bound),
// Close returns before the entry is written: Close sees swapped (tee.go:146),
// does not drain, just closes the failureBody (tee.go:158), and the entry
// is written later by the deadline's goroutine, once the failureBody's read
// has ended and awaitPrefix notices (tee.go:211-216). README ("A test that
// reads the logs after a failed call closes the body first") and
// RoundTrip's doc promise the entry when the body is closed; before the
// bound, or for a body the caller is reading, Close does write it.
func TestReview3CloseAfterSwapDoesNotWriteTheEntry(t *testing.T) {
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

// TestReview3CloseClosesTheOriginalTwice proves that a Close that drains a
// stalled body closes the base transport's body twice: the deadline (or
// Flush) cuts the drain short with b.orig.Close() (tee.go:186), and Close
// then closes it again with rest.Close() (tee.go:158, rest == orig). The
// caller's Close returns the error of that second close (a net.Conn's
// "use of closed network connection", an *os.File's "file already
// closed"), where the bare body's one Close succeeded.
func TestReview3CloseClosesTheOriginalTwice(t *testing.T) {
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

// TestReview3CheckResponseTwiceTheBound proves that CheckResponse can block
// for twice the body-read bound. Its await (tee.go:251) reads the prefix
// through the teeBody in a failureBody's goroutine; between two of that
// goroutine's reads teeBody.reading is false, so the deadline takes the body
// for idle (tee.go:201) and swaps its own failureBody in, with one more
// bound. await's read ends at its bound, then expire returns at once
// (swapped, tee.go:181) and <-b.ended (tee.go:254) waits for the deadline's
// extra bound: CheckResponse, called as RoundTrip returns, returns at about
// 2 x the bound, where its doc says it waits at most the bound. The body
// here streams steadily (a large body, a large WithMaxBodyBytes).
func TestReview3CheckResponseTwiceTheBound(t *testing.T) {
	const wait = 300 * time.Millisecond
	worst := time.Duration(0)
	for range 5 {
		var stall atomic.Bool
		body := &trickleBody{stall: &stall, closed: make(chan struct{})}
		log, _ := observed()
		tr := New(stubRT{status: 404, body: func() io.ReadCloser { return body }}, log,
			WithMaxBodyBytes(1<<30), WithBodyReadTimeout(wait))
		resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
		require.NoError(t, err)
		start := time.Now()
		finishes(t, "CheckResponse", func() { CheckResponse(resp) })
		worst = max(worst, time.Since(start))
		resp.Body.Close()
		tr.Flush()
	}
	assert.Less(t, worst, wait+wait/2, "CheckResponse blocked longer than the body-read bound")
}

// TestReview3FlushTwiceTheBound proves that Flush can block for about twice
// the body-read bound. unreadBodies.expire (tee.go:297) ends the bodies one
// after the other, waiting on each (<-b.ended) before it expires the next:
// while it waits for a body whose deadline is reading the prefix itself
// (swapped), another body's deadline fires, swaps that one in too (Flush
// has not expired it yet), and Flush then waits out that body's extra bound
// as well. Twenty bodies each way make the map's order irrelevant.
func TestReview3FlushTwiceTheBound(t *testing.T) {
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

// TestReview3SuppressedCloseWaitsPastTheBound proves that Close on a
// failure counted into a storm summary (no Recorder: waited=false, no
// deadline) blocks a whole bound from the moment it is called, however long
// after RoundTrip returned: Close arms its own timer, time.AfterFunc(b.wait,
// b.expire) (tee.go:149-151), and drains a stalled body until it fires.
// WithBodyReadTimeout says the bound is counted from RoundTrip's return and
// that "a Close waits for the prefix no longer"; an admitted failure's Close
// at the same moment returns at once. In a storm of stalled bodies (what the
// limit is for) every suppressed Close then costs the bound (1 s by default)
// for a record nothing will read unless CheckResponse asks.
func TestReview3SuppressedCloseWaitsPastTheBound(t *testing.T) {
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

// TestReview3ObserverPanicKeepsTheRetryCharge proves that a retry that is
// not sent because an observer panicked keeps its retry-budget charge.
// attempt clears c.charged ("sent: the budget keeps it", call.go:54) before
// c.retried (call.go:55) tells the observers of the kept attempt; when one
// panics, retried closes the next attempt's body and the panic leaves
// RoundTrip: nothing is sent, yet the charge is never refunded, though
// RetryBudget's doc says a retry that is not sent gives its charge back.
// The budget allows one retry a second and the clock stands still, so the
// next call's 503 is not retried ("budget").
func TestReview3ObserverPanicKeepsTheRetryCharge(t *testing.T) {
	var sent atomic.Int64
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		return stubRT{status: 503, body: stringBody(`{"error":"Service unavailable"}`)}.RoundTrip(r)
	})
	tr := budgetTransport(base, NewRetryBudget(0, 1))
	var panicking atomic.Bool
	panicking.Store(true)
	tr.observers = append(tr.observers, func(a Attempt) {
		if a.RetryIn > 0 && panicking.Load() {
			panic("observer")
		}
	})
	func() {
		defer func() { require.NotNil(t, recover(), "the observer's panic reaches the caller") }()
		tr.RoundTrip(mustRequest(t, "GET", "http://h/api/v1/public/recordings"))
	}()
	require.EqualValues(t, 1, sent.Load(), "the retry was not sent")

	panicking.Store(false)
	sent.Store(0)
	resp, err := tr.RoundTrip(mustRequest(t, "GET", "http://h/api/v1/public/recordings"))
	require.NoError(t, err)
	readAll(t, resp)
	assert.EqualValues(t, 2, sent.Load(), "the retry not sent kept its charge: this call's retry was refused")
}

// TestReview3CheckResponseAfterSwapLacksTheMessage proves that once the
// deadline's swap has read part of a slow body, CheckResponse on a body the
// caller never read returns the partial record, without the message that
// has since arrived. After the swap the prefix holds bytes the caller has
// not read (passed 0 < len(prefix)), so await's "early" test (tee.go:248)
// fails and it returns the record as the deadline ended it (tee.go:260-261),
// though CheckResponse's doc says it reads the prefix first when the caller
// has not, and the whole error body has been waiting in the deadline's
// failureBody. (The review's "CheckResponse after the bound lacking the
// message" again, for a body that arrives in two parts.)
func TestReview3CheckResponseAfterSwapLacksTheMessage(t *testing.T) {
	const wait = 100 * time.Millisecond
	pr, pw := io.Pipe()
	go func() {
		io.WriteString(pw, `{"error":"Reso`) // at once
		time.Sleep(2*wait + wait/2)          // after the deadline's extra bound
		io.WriteString(pw, `urce not found"}`)
		pw.Close()
	}()
	log, logs := observed()
	tr := New(stubRT{status: 404, body: func() io.ReadCloser { return pr }}, log, WithBodyReadTimeout(wait))
	defer tr.Flush()
	resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
	require.NoError(t, err)
	defer resp.Body.Close()
	time.Sleep(3 * wait) // the caller does not touch the body; the whole of it has arrived
	require.Equal(t, 1, logs.Len(), "the deadline's entry")

	var apiErr *APIError
	require.ErrorAs(t, CheckResponse(resp), &apiErr)
	assert.Equal(t, teeErrorBody, readAll(t, resp), "the body is intact")
	assert.Equal(t, "Resource not found", apiErr.Message, "CheckResponse did not read the unread prefix")
}
