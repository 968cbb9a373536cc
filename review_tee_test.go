package idctrace

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const reviewURL = "https://api.identitycall.ai/api/v1/public/recordings/7"

// TestReviewCheckResponseTwice proves that a second CheckResponse on the
// same response no longer finds the Transport's record: the first one's
// teeBody.await replaces resp.Body with a failureBody whose record is nil
// (tee.go, await: fb.asBody() without fb.record = b.record), and recordOf
// (check.go) returns that nil without falling back to the context. The
// second CheckResponse builds a fresh record from the body, which the
// caller has read and closed meanwhile: no message, Attempt 0, another
// Time. Before the change both calls returned the Transport's record.
func TestReviewCheckResponseTwice(t *testing.T) {
	log, _ := observed()
	tr := New(stubRT{status: 404, body: stringBody(teeErrorBody)}, log)
	resp, err := tr.RoundTrip(mustRequest(t, "GET", reviewURL))
	require.NoError(t, err)

	var first, second *APIError
	require.ErrorAs(t, CheckResponse(resp), &first)
	assert.Equal(t, teeErrorBody, readAll(t, resp)) // read and closed
	require.ErrorAs(t, CheckResponse(resp), &second)
	assert.Equal(t, "Resource not found", first.Message)
	assert.Equal(t, first.Message, second.Message, "the second CheckResponse lost the Transport's record")
	assert.Equal(t, first.Attempt, second.Attempt, "the second CheckResponse lost the Transport's record")
	assert.Equal(t, first.Time, second.Time, "the second CheckResponse lost the Transport's record")
	tr.Flush()
}

// TestReviewCheckResponseAfterTheBound proves that CheckResponse on a
// body nobody has read returns an APIError without the body's message once
// the body-read bound (1 s by default) or Flush has ended the record:
// await (tee.go) sees done and returns the record as ended, with an empty
// prefix, instead of reading the prefix as CheckResponse's doc promises
// ("when the caller has not read the body's prefix yet, it reads it
// first"). The body is intact: the message is one Read away. Before the
// change RoundTrip had decoded it.
func TestReviewCheckResponseAfterTheBound(t *testing.T) {
	for _, how := range []string{"bound", "Flush"} {
		t.Run(how, func(t *testing.T) {
			log, logs := observed()
			wait := time.Hour
			if how == "bound" {
				wait = 10 * time.Millisecond
			}
			tr := New(stubRT{status: 404, body: stringBody(teeErrorBody)}, log, WithBodyReadTimeout(wait))
			resp, err := tr.RoundTrip(mustRequest(t, "GET", reviewURL))
			require.NoError(t, err)
			if how == "Flush" {
				tr.Flush()
			}
			require.Eventually(t, func() bool { return logs.Len() == 1 }, 10*time.Second, time.Millisecond)
			var apiErr *APIError
			require.ErrorAs(t, CheckResponse(resp), &apiErr)
			assert.Equal(t, teeErrorBody, readAll(t, resp), "the body is intact")
			assert.Equal(t, "Resource not found", apiErr.Message, "CheckResponse did not read the unread body")
		})
	}
}

// TestReviewSuppressedClosedThenChecked proves that a failure counted into
// a storm summary (no Recorder: no deadline, so Close does not drain it,
// tee.go Close: drain requires b.waited) loses its decoded error when the
// caller closes the body before CheckResponse: await then reads a closed
// body and decodes nothing. The same call admitted to the log gets its
// message, so APIError.Message depends on the storm limit.
func TestReviewSuppressedClosedThenChecked(t *testing.T) {
	log, _ := observed()
	tr := New(stubRT{status: 404, body: stringBody(teeErrorBody)}, log, WithLogLimit(1, time.Hour))
	defer tr.Flush()
	for i, admitted := range []bool{true, false} {
		resp, err := tr.RoundTrip(mustRequest(t, "GET", reviewURL))
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		var apiErr *APIError
		require.ErrorAs(t, CheckResponse(resp), &apiErr)
		assert.Equal(t, "Resource not found", apiErr.Message, "call %d (entry admitted: %v)", i+1, admitted)
	}
}

// TestReviewRecorderKeepsTheBody proves that the Recorder's copy of a tee
// record keeps its teeBody (record.tee), hence the response body, the raw,
// unredacted prefix and the original record with its context alive in the
// ring: Recorder.add (recorder.go) clears sent, err, secrets and ctx but
// not the new tee field, against its doc ("without the references that
// would keep a request, a response body ... alive").
func TestReviewRecorderKeepsTheBody(t *testing.T) {
	rec := NewRecorder(10)
	log, _ := observed()
	tr := New(stubRT{status: 404, body: stringBody(`{"error":"idc_abcdefghijklmnopqrstuvwxyz012345 is bad"}`)}, log, WithRecorder(rec))
	req := mustRequest(t, "GET", reviewURL)
	req.Header.Set("Authorization", "Bearer idc_abcdefghijklmnopqrstuvwxyz012345")
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	readAll(t, resp)
	tr.Flush()
	held := rec.snapshot()
	require.Len(t, held, 1)
	assert.Nil(t, held[0].tee, "the Recorder holds the response body and its raw prefix")
}

// reviewTrickle yields one byte per Read, as fast as it is asked, until
// stall is set: from then on a Read blocks until the body is closed, as a
// server that stops sending does. Close unblocks it with an error.
type reviewTrickle struct {
	stall  *atomic.Bool
	closed chan struct{}
	once   sync.Once
}

func (b *reviewTrickle) Read(p []byte) (int, error) {
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
	p[0] = 'x'
	return 1, nil
}

func (b *reviewTrickle) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// TestReviewCloseHangsAfterExpire proves that Close can block forever on a
// body that stalls once the bound (or Flush) has ended the record: drain
// (tee.go) clears draining in take and sets it again afterwards without
// checking done. An expire that runs between the two ends the record
// without closing the body (draining is false), and drain then goes on to
// read the body, which nothing will ever close: the bound no longer cuts
// Close short. Flush plays the deadline here, as both call expire.
func TestReviewCloseHangsAfterExpire(t *testing.T) {
	for i := range 300 {
		var stall atomic.Bool
		body := &reviewTrickle{stall: &stall, closed: make(chan struct{})}
		log, _ := observed()
		tr := New(stubRT{status: 404, body: func() io.ReadCloser { return body }}, log,
			WithMaxBodyBytes(1<<30), WithBodyReadTimeout(time.Hour))
		resp, err := tr.RoundTrip(mustRequest(t, "GET", reviewURL))
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

// TestReviewSuppressedRedactedAfterReuse proves that a failure counted into
// a storm summary (no Recorder) is redacted only when CheckResponse asks
// (transport.go report: redactRequest inside end), from the request as it
// is then: the attempt's request shares the caller's *url.URL
// (call.go request: req.WithContext), and net/http lets the caller reuse
// the request once the body is closed. The APIError then names a URL that
// never failed.
func TestReviewSuppressedRedactedAfterReuse(t *testing.T) {
	log, _ := observed()
	tr := New(stubRT{status: 404, body: stringBody(teeErrorBody)}, log, WithLogLimit(1, time.Hour))
	defer tr.Flush()
	first, err := tr.RoundTrip(mustRequest(t, "GET", reviewURL))
	require.NoError(t, err)
	readAll(t, first) // the kind's one entry

	req := mustRequest(t, "GET", reviewURL) // counted into the summary
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	readAll(t, resp)                             // read to the end and closed:
	req.URL.Path = "/api/v1/public/recordings/8" // the caller may reuse its request
	var apiErr *APIError
	require.ErrorAs(t, CheckResponse(resp), &apiErr)
	assert.Equal(t, reviewURL, apiErr.URL, "the APIError names the reused request's URL")
}
