package idctrace

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCheckResponseDecodesSuppressedOnDemand: a failure counted into a storm
// summary, with no Recorder, is not decoded unless CheckResponse asks; then
// it is, whether the body was read or not.
func TestCheckResponseDecodesSuppressedOnDemand(t *testing.T) {
	t.Parallel()
	log, logs := observed()
	tr := New(stubRT{status: 404, body: stringBody(teeErrorBody)}, log, WithLogLimit(1, time.Hour))
	t.Cleanup(tr.Flush)
	for i, read := range []bool{true, true, false} {
		resp, err := tr.RoundTrip(mustRequest(t, "GET", "http://h/x"))
		require.NoError(t, err)
		if read {
			assert.Equal(t, teeErrorBody, readAll(t, resp))
		}
		var apiErr *APIError
		require.ErrorAs(t, CheckResponse(resp), &apiErr, "call %d", i)
		assert.Equal(t, "Resource not found", apiErr.Message, "call %d", i)
		assert.Equal(t, "http://h/x", apiErr.URL)
		if !read {
			assert.Equal(t, teeErrorBody, readAll(t, resp))
		}
	}
	tr.Flush()
	require.Equal(t, 2, logs.Len(), "one entry and one summary")
	assert.EqualValues(t, 2, logs.All()[1].ContextMap()[FieldSuppressed])
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
	tr := New(stubRT{status: 404, body: stringBody(teeErrorBody)}, log)
	resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
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

// TestCheckResponseAfterTheBound: once the bound or Flush has ended
// the record of a body nobody has read, CheckResponse still reads the
// prefix and returns its message; the entry stays as written (review: the
// APIError had no message).
func TestCheckResponseAfterTheBound(t *testing.T) {
	for _, how := range []string{"bound", "Flush"} {
		t.Run(how, func(t *testing.T) {
			log, logs := observed()
			wait := time.Hour
			if how == "bound" {
				wait = 10 * time.Millisecond
			}
			tr := New(stubRT{status: 404, body: stringBody(teeErrorBody)}, log, WithBodyReadTimeout(wait))
			resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
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

// TestCheckResponseSuppressedClosedFirst: a failure counted into a storm
// summary, closed unread, then checked, has its message, as an admitted one
// does: Close reads the prefix of every record (review: only of those
// something waited for).
func TestCheckResponseSuppressedClosedFirst(t *testing.T) {
	log, _ := observed()
	tr := New(stubRT{status: 404, body: stringBody(teeErrorBody)}, log, WithLogLimit(1, time.Hour))
	defer tr.Flush()
	for i, admitted := range []bool{true, false} {
		resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		var apiErr *APIError
		require.ErrorAs(t, CheckResponse(resp), &apiErr)
		assert.Equal(t, "Resource not found", apiErr.Message, "call %d (entry admitted: %v)", i+1, admitted)
	}
}
