package idctrace

import (
	"errors"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReview4CloseAtTheBoundEndsTheRecord: Close on an untouched body at
// the bound (time.Now() at or past deadAt) before the deadline timer's
// goroutine has run returns with the record not ended: Close neither
// drains (drain needs time.Now().Before(deadAt), tee.go:163) nor ends the
// record, leaving it to the timer. Close's contract ("the record has ended
// by then, unless a Read under way in another goroutine ends it"; README:
// "a test that reads the logs after a failed call closes the body first")
// is broken, and the timer then finds the body closed and ends the record
// with an empty prefix: the whole error body, which was there to read, is
// lost from the entry. GOMAXPROCS(1) keeps the timer's goroutine from
// running while this goroutine spins past the bound, as a busy process
// delays it.
func TestReview4CloseAtTheBoundEndsTheRecord(t *testing.T) {
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
	assert.Equal(t, "Resource not found", logs.All()[0].ContextMap()[FieldError], "the entry lost the body's text")
}

// endlessBody yields bytes as fast as they are asked for, until closed: a
// server streaming a large error body over a fast link.
type endlessBody struct {
	closed chan struct{}
	once   sync.Once
}

func (b *endlessBody) Read(p []byte) (int, error) {
	select {
	case <-b.closed:
		return 0, errors.New("closed")
	default:
	}
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func (b *endlessBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// TestReview4CheckResponseBoundOnAFastStream: CheckResponse on an untouched
// body that streams fast, with a large WithMaxBodyBytes, blocks well past
// the body-read bound it documents (check.go: "for at most the Transport's
// body-read bound"). The swap's fill goroutine (prefix.go:50) appends to
// fb.prefix under fb.mu, reallocating a slice of tens of MB, and keeps
// doing so after awaitPrefix's timer fired; awaitPrefix then waits for
// that lock and copies the whole prefix (prefix.go:37-39), and the end
// closure decodes and redacts it: work proportional to what arrived, not
// bounded. The existing TestCheckResponseWithinTheBound fails at HEAD for
// the same reason whenever -race does not slow the fill down.
func TestReview4CheckResponseBoundOnAFastStream(t *testing.T) {
	const wait = 200 * time.Millisecond
	body := &endlessBody{closed: make(chan struct{})}
	tr := New(stubRT{status: 404, body: func() io.ReadCloser { return body }}, nil,
		WithMaxBodyBytes(64<<20), WithBodyReadTimeout(wait))
	resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
	require.NoError(t, err)
	defer resp.Body.Close()
	start := time.Now()
	finishes(t, "CheckResponse", func() { CheckResponse(resp) })
	took := time.Since(start)
	assert.Less(t, took, wait+wait/2, "CheckResponse blocked far longer than the body-read bound")
}
