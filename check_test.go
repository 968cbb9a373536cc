package idctrace

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/identitycall/idctrace/internal/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCheckResponseDecodesSuppressedOnDemand: a failure counted into a storm
// summary, with no Recorder, is not decoded unless CheckResponse asks; then
// it is, whether the body was read or not.
func TestCheckResponseDecodesSuppressedOnDemand(t *testing.T) {
	t.Parallel()
	log, logs := observed()
	tr := New(stubRT{status: 404, body: stringBody(notFoundBody)}, log, WithLogLimit(1, time.Hour))
	t.Cleanup(tr.Flush)
	for i, read := range []bool{true, true, false} {
		resp, err := tr.RoundTrip(mustRequest(t, "GET", "http://h/x"))
		require.NoError(t, err)
		if read {
			assert.Equal(t, notFoundBody, readAll(t, resp))
		}
		var apiErr *APIError
		require.ErrorAs(t, CheckResponse(resp), &apiErr, "call %d", i)
		assert.Equal(t, "Resource not found", apiErr.Message, "call %d", i)
		assert.Equal(t, "http://h/x", apiErr.URL)
		if !read {
			assert.Equal(t, notFoundBody, readAll(t, resp))
		}
	}
	tr.Flush()
	require.Equal(t, 2, logs.Len(), "one entry and one summary")
	assert.EqualValues(t, 2, logs.All()[1].ContextMap()[schema.Suppressed])
}

// TestCheckResponseUnderMiddleware: CheckResponse finds the record through the
// request's context when a middleware above the Transport wrapped the body,
// and reads the prefix through that body.
func TestCheckResponseUnderMiddleware(t *testing.T) {
	t.Parallel()
	log, logs := observed()
	tr := New(stubRT{status: 403, body: stringBody(`{"error":"permission required"}`)}, log)
	resp, err := tr.RoundTrip(mustRequest(t, "DELETE", "https://api.identitycall.ai/api/v1/public/recordings/7"))
	require.NoError(t, err)
	resp.Body = struct{ io.ReadCloser }{resp.Body} // a middleware's own body
	var apiErr *APIError
	require.ErrorAs(t, CheckResponse(resp), &apiErr)
	assert.Equal(t, "permission required", apiErr.Message)
	assert.Contains(t, apiErr.Hint, "delete permission", "the hint reads the decoded message")
	assert.Equal(t, `{"error":"permission required"}`, readAll(t, resp))
	assert.Equal(t, 1, logs.Len())
}

// TestCheckResponseTwice: a second CheckResponse on the same
// response finds the Transport's record again, on the body the first one
// put back (review: that body had lost it).
func TestCheckResponseTwice(t *testing.T) {
	log, _ := observed()
	tr := New(stubRT{status: 404, body: stringBody(notFoundBody)}, log)
	resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
	require.NoError(t, err)

	var first, second *APIError
	require.ErrorAs(t, CheckResponse(resp), &first)
	assert.Equal(t, notFoundBody, readAll(t, resp)) // read and closed
	require.ErrorAs(t, CheckResponse(resp), &second)
	assert.Equal(t, "Resource not found", first.Message)
	assert.Equal(t, first.Message, second.Message, "the second CheckResponse lost the Transport's record")
	assert.Equal(t, first.Attempt, second.Attempt, "the second CheckResponse lost the Transport's record")
	assert.Equal(t, first.Time, second.Time, "the second CheckResponse lost the Transport's record")
	tr.Flush()
}

// TestCheckResponseAfterTheRecordEnded: once Flush has ended the record of
// a body nobody has read, CheckResponse returns its message, which Flush
// read; once the bound has, with nothing read, CheckResponse reports the
// record as the entry has it, without text. Either way the body is intact.
func TestCheckResponseAfterTheRecordEnded(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ how, message string }{{"Flush", "Resource not found"}, {"bound", ""}} {
		t.Run(tt.how, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				log, logs := observed()
				tr := New(stubRT{status: 404, body: stringBody(notFoundBody)}, log, WithBodyReadTimeout(time.Second))
				resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
				require.NoError(t, err)
				if tt.how == "Flush" {
					tr.Flush()
				} else {
					time.Sleep(2 * time.Second)
				}
				require.Equal(t, 1, logs.Len())
				var apiErr *APIError
				require.ErrorAs(t, CheckResponse(resp), &apiErr)
				assert.Equal(t, notFoundBody, readAll(t, resp), "the body is intact")
				assert.Equal(t, tt.message, apiErr.Message)
				assert.Equal(t, logs.All()[0].ContextMap()[schema.Error] != nil, tt.message != "", "as the entry has it")
			})
		})
	}
}

// TestCheckResponseClosedFirst: closed unread, then checked, a failure
// whose entry was written has its message (Close read the prefix for the
// entry); one counted into a storm summary, with no Recorder, has none:
// nothing waited for its text, so Close did not wait for its body (with a
// stalled body it would have for a second), and CheckResponse after Close
// has nothing left to read. Checked before Close, it would have its message
// (TestCheckResponseDecodesSuppressedOnDemand).
func TestCheckResponseClosedFirst(t *testing.T) {
	log, _ := observed()
	tr := New(stubRT{status: 404, body: stringBody(notFoundBody)}, log, WithLogLimit(1, time.Hour))
	defer tr.Flush()
	for i, want := range []string{"Resource not found", ""} {
		resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		var apiErr *APIError
		require.ErrorAs(t, CheckResponse(resp), &apiErr)
		assert.Equal(t, want, apiErr.Message, "call %d", i+1)
	}
}

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

// TestCheckResponseTwiceOnACutPrefix: a second CheckResponse on a body
// whose prefix was cut reports the same record, its prefix once (review:
// it decoded the prefix twice).
func TestCheckResponseTwiceOnACutPrefix(t *testing.T) {
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

// TestCheckResponseWithinTheBound: CheckResponse on a body that keeps
// streaming, a byte every 100 µs, returns within the bound.
func TestCheckResponseWithinTheBound(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const wait = 300 * time.Millisecond
		var stall atomic.Bool
		body := &trickleBody{stall: &stall, closed: make(chan struct{}), pause: 100 * time.Microsecond}
		log, _ := observed()
		tr := New(stubRT{status: 404, body: func() io.ReadCloser { return body }}, log,
			WithMaxBodyBytes(1<<30), WithBodyReadTimeout(wait))
		resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
		require.NoError(t, err)
		start := time.Now()
		CheckResponse(resp)
		assert.LessOrEqual(t, time.Since(start), wait, "CheckResponse blocked longer than the body-read bound")
		resp.Body.Close()
		tr.Flush()
		time.Sleep(body.pause) // the read ahead notices the Close and ends
	})
}

// TestCheckResponseWithoutBody: without a Transport, a response with no
// body (nil or http.NoBody) gets the APIError of one whose body is empty:
// its status, Retry-After and hint, nothing decoded.
func TestCheckResponseWithoutBody(t *testing.T) {
	t.Parallel()
	for _, status := range []int{400, 401, 403, 404, 422, 429, 500, 503} {
		for _, body := range []io.ReadCloser{nil, http.NoBody} {
			newResp := func(b io.ReadCloser) *http.Response {
				req := httptest.NewRequest(http.MethodDelete, "https://api.identitycall.ai/api/v1/public/recordings/7", nil)
				req.Header.Set(DefaultRequestIDHeader, "req-1")
				return &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {"3"}}, Body: b, Request: req}
			}
			var want, got *APIError
			require.ErrorAs(t, CheckResponse(newResp(io.NopCloser(strings.NewReader("")))), &want)
			require.ErrorAs(t, CheckResponse(newResp(body)), &got)
			want.record, got.record = nil, nil
			want.Time, got.Time = time.Time{}, time.Time{}
			assert.Equal(t, want, got, "status %d, body %v", status, body)
		}
	}
}
