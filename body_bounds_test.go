package idctrace

// The bounds of a failure body: what Close, Flush and CheckResponse wait
// for, and what they close.

import (
	"errors"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/identitycall/idctrace/internal/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// trickleBody yields one byte per Read, after pause, until stall is set:
// from then on a Read blocks until the body is closed, as a server that
// stops sending does. Close unblocks it with an error.
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

// TestFailureBodyCloseReturnsWhateverFlushDoes: Close on a body that
// streams, then stalls, returns however its own read and Flush's
// interleave (a review found an interleaving where Close read for ever):
// 300 tries, ten at a time. Real time: the stream never blocks, so a
// bubble's clock would not move.
func TestFailureBodyCloseReturnsWhateverFlushDoes(t *testing.T) {
	t.Parallel()
	try := func(i int) {
		var stall atomic.Bool
		body := &trickleBody{stall: &stall, closed: make(chan struct{}), pause: 20 * time.Microsecond}
		log, _ := observed()
		tr := New(stubRT{status: 404, body: func() io.ReadCloser { return body }}, log,
			WithMaxBodyBytes(1<<30), WithBodyReadTimeout(2*time.Millisecond))
		resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
		if !assert.NoError(t, err) {
			return
		}
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			resp.Body.Close() // reads the prefix: one byte per read
		}()
		time.Sleep(200 * time.Microsecond) // let the read run
		stall.Store(true)                  // the server stops sending
		tr.Flush()                         // the record ends; Close must return
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			body.Close() // release the stuck goroutine
			<-closed
			t.Errorf("try %d: Close still blocked 5 s after the record ended", i)
		}
	}
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Go(func() {
			for i := range 30 {
				try(w*30 + i)
			}
		})
	}
	wg.Wait()
}

// TestFailureBodyCloseWaitsForTheReadAhead: Close while Flush reads an
// untouched body's prefix returns once the record has ended, with what
// the read got.
func TestFailureBodyCloseWaitsForTheReadAhead(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const wait = time.Second
		log, logs := observed()
		tr := New(stubRT{status: 404, body: stalledBody(`{"error":"Reso`)}, log, WithBodyReadTimeout(wait))
		resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
		require.NoError(t, err)
		go tr.Flush()
		synctest.Wait() // Flush reads ahead, and the body stalls
		start := time.Now()
		require.NoError(t, resp.Body.Close())
		assert.LessOrEqual(t, time.Since(start), wait)
		require.Equal(t, 1, logs.Len(), "the entry is written once the body is closed")
		assert.Equal(t, `{"error":"Reso`, logs.All()[0].ContextMap()[schema.Body])
	})
}

// TestFailureBodyClosesTheOriginalOnce: whoever closes the original body
// first (the bound cutting Close's read short, Flush, Close), it is closed
// once (a review found it closed twice).
func TestFailureBodyClosesTheOriginalOnce(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"bound", "Flush"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				body := newCloseOnceBody(`{"error":"Reso`)
				log, logs := observed()
				tr := New(stubRT{status: 404, body: func() io.ReadCloser { return body }}, log, WithBodyReadTimeout(time.Second))
				resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
				require.NoError(t, err)
				if how == "Flush" {
					go func() {
						time.Sleep(500 * time.Millisecond) // Close is reading the prefix by then
						tr.Flush()
					}()
				}
				assert.NoError(t, resp.Body.Close(), "Close returned the error of a second close of the base body")
				tr.Flush()
				synctest.Wait()
				assert.Equal(t, 1, logs.Len())
				assert.Equal(t, 1, body.closeCount(), "the base body was closed more than once")
			})
		})
	}
}

// TestFailureBodyFlushWithinTheBound: Flush ends many waiting records within
// one bound, reading the untouched bodies all at once.
func TestFailureBodyFlushWithinTheBound(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const wait = time.Second
		log, logs := observed()
		tr := New(stubRT{status: 404, body: stalledBody(`{"error":"Reso`)}, log, WithBodyReadTimeout(wait), WithLogLimit(-1, 0))
		var resps []*http.Response
		for i := range 40 {
			if i == 20 {
				time.Sleep(900 * time.Millisecond) // the first twenty's bounds end first
			}
			resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
			require.NoError(t, err)
			resps = append(resps, resp)
		}
		start := time.Now()
		tr.Flush()
		assert.LessOrEqual(t, time.Since(start), wait, "Flush blocked longer than the body-read bound")
		assert.Equal(t, 40, logs.Len())
		for _, r := range resps {
			r.Body.Close()
		}
	})
}

// TestFailureBodyCloseWithinTheBound: Close of a stalled body waits for its
// prefix at most one bound, and only for a record something waits for: an
// admitted failure's record ended at the bound, so its Close returns at
// once; a failure counted into a storm summary, with no Recorder, waits for
// nothing either. (Close waited a bound for the second, only so that a
// CheckResponse after it had text; TestCheckResponseClosedFirst.)
func TestFailureBodyCloseWithinTheBound(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const wait = time.Second
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
		time.Sleep(2 * wait) // past the bound of both
		for i, want := range []time.Duration{0, 0} {
			start := time.Now()
			resps[i].Body.Close()
			assert.Equal(t, want, time.Since(start), "call %d", i)
		}
		tr.Flush()
		assert.Equal(t, 2, accounted(logs))
	})
}

// TestFailureBodyCloseAtTheBound: Close on an untouched body once the bound
// has passed but before its timer has run (a busy process; here
// GOMAXPROCS(1) and a spin) ends the record itself: it has the body's text
// when Close returns. When the OS stalls the spin for long enough, the
// runtime preempts it and the timer runs first; that try is not the case
// under test, and the test tries again.
func TestFailureBodyCloseAtTheBound(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const wait = 2 * time.Millisecond
	for try := 1; ; try++ {
		log, logs := observed()
		tr := New(stubRT{status: 404, body: stringBody(notFoundBody)}, log, WithBodyReadTimeout(wait))
		req := mustRequest(t, "GET", recordingURL)
		runtime.GC()
		resp, err := tr.RoundTrip(req)
		returned := time.Now()
		require.NoError(t, err)
		for time.Since(returned) < wait+wait/2 { // spin past the bound without yielding
		}
		b := resp.Body.(*failureBody)
		b.mu.Lock()
		ended := b.done
		b.mu.Unlock()
		if ended {
			resp.Body.Close()
			tr.Flush()
			if try == 10 {
				t.Skip("the timer ran before Close in 10 tries: the machine is too loaded for this case")
			}
			continue
		}
		require.NoError(t, resp.Body.Close())
		n := logs.Len() // before anything yields
		assert.Equal(t, 1, n, "Close returned before the entry was written")
		tr.Flush()
		require.Equal(t, 1, logs.Len())
		assert.Equal(t, "Resource not found", logs.All()[0].ContextMap()[schema.Error], "the entry lost the body's text")
		return
	}
}

// TestFailureBodyFlushWaitsForTheEntryBeingWritten: when the timer ends
// the record of a body nobody reads and its entry's write is under way, a
// Flush returns only once it is written: at shutdown (Flush, logger.Sync,
// exit) it would be lost otherwise, as a review found it was. Real time,
// not a bubble: a Flush that waits blocks on a sync.Once, which is not
// durably blocking.
func TestFailureBodyFlushWaitsForTheEntryBeingWritten(t *testing.T) {
	t.Parallel()
	core := newBlockingCore(schema.Failed)
	tr := New(stubRT{status: 404, body: stringBody(notFoundBody)}, zap.New(core), WithBodyReadTimeout(5*time.Millisecond))
	resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
	require.NoError(t, err)
	defer resp.Body.Close()
	finishes(t, "the timer's entry write", func() { <-core.entered }) // nobody read the body: the bound ends it

	assert.EqualValues(t, 1, core.writtenWhen(tr.Flush), "when Flush returns, the entry the timer is writing is written")
}
