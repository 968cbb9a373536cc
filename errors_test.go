package idctrace

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

func TestAPIErrorError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  APIError
		want string
	}{
		{APIError{StatusCode: 404, Message: "Resource not found", RequestID: "r1"},
			"identitycall: 404 Not Found: Resource not found (request_id r1)"},
		{APIError{StatusCode: 422, Errors: []string{"a", "b"}, RequestID: "r2"},
			"identitycall: 422 Unprocessable Entity: a; b (request_id r2)"},
		{APIError{StatusCode: 422, Message: "m", Errors: []string{"a"}},
			"identitycall: 422 Unprocessable Entity: m; a"},
		{APIError{StatusCode: 502, Body: "<html>"}, "identitycall: 502 Bad Gateway"},
		{APIError{StatusCode: 499}, "identitycall: 499"},
		{APIError{StatusCode: 401, Message: "bad key " + testKey},
			"identitycall: 401 Unauthorized: bad key idc_****" + testKey[len(testKey)-4:]},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.err.Error())
	}
}

func TestAPIErrorIs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		route  string
		want   error
	}{
		{400, "", ErrBadRequest}, {401, "", ErrUnauthorized}, {403, "", ErrForbidden}, {404, "", ErrNotFound},
		{422, "", ErrValidation}, {429, "", ErrRateLimited}, {500, "", ErrServer}, {502, "", ErrServer},
		{503, "", ErrServer}, {599, "", ErrServer}, {409, "", nil}, {418, "", nil},
		{422, "/recordings", ErrValidation}, {422, "/recordings/{id}", ErrValidation},
		{422, "/recordings/{id}/transcription", ErrNotReady}, {422, "/recordings/{id}/results", ErrNotReady},
		{422, "/recordings/{id}/summary", ErrNotReady}, {404, "/recordings/{id}/summary", ErrNotFound},
	}
	for _, tt := range tests {
		err := fmt.Errorf("listing recordings: %w", &APIError{StatusCode: tt.status, Route: tt.route})
		for _, s := range allSentinels {
			assert.Equal(t, s == tt.want, errors.Is(err, s), "status %d %s, errors.Is(err, %v)", tt.status, tt.route, s)
		}
	}
}

func TestCheckResponseWithoutTransport(t *testing.T) {
	t.Parallel()
	body := `{"error":"Rate limit exceeded","retry_after":30}`
	srv := newScripted(t, reply(429, body))
	req, err := http.NewRequest("GET", srv.URL+"/recordings?api_key=abc12345", nil)
	require.NoError(t, err)
	req.Header.Set(DefaultRequestIDHeader, "caller-7")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)

	err = CheckResponse(resp)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.ErrorIs(t, err, ErrRateLimited)
	assert.Equal(t, "Rate limit exceeded", apiErr.Message)
	assert.Equal(t, 30*time.Second, apiErr.RetryAfter)
	assert.Equal(t, "caller-7", apiErr.RequestID)
	assert.Equal(t, srv.URL+"/recordings?api_key=REDACTED", apiErr.URL)
	assert.Equal(t, time.UTC, apiErr.Time.Location())
	assert.Zero(t, apiErr.Attempt)

	again := CheckResponse(resp)
	assert.Equal(t, err, again, "a second call reuses the first decode")
	assert.Equal(t, body, readAll(t, resp))
}

func TestCheckResponseEdgeCases(t *testing.T) {
	t.Parallel()
	assert.EqualError(t, CheckResponse(nil), "idctrace: CheckResponse: nil response")
	assert.NoError(t, CheckResponse(&http.Response{StatusCode: 399}))

	err := CheckResponse(&http.Response{StatusCode: 500, Body: http.NoBody})
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 500, apiErr.StatusCode)
	assert.Empty(t, apiErr.URL)
}

// bodyWrapper stands for a middleware above the Transport that wraps the
// response body, as otelhttp does.
type bodyWrapper struct{ next http.RoundTripper }

type wrappedBody struct{ io.ReadCloser }

func (w bodyWrapper) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := w.next.RoundTrip(req)
	if err == nil {
		resp.Body = wrappedBody{resp.Body}
	}
	return resp, err
}

func TestCheckResponseUnderWrappingMiddleware(t *testing.T) {
	t.Parallel()
	body := `{"error":"Resource not found"}`
	srv := newScripted(t, reply(404, body))
	tr := New(srv.Client().Transport, zap.NewNop())
	client := &http.Client{Transport: bodyWrapper{tr}}

	resp, err := client.Get(srv.URL + "/recordings/9")
	require.NoError(t, err)
	var apiErr *APIError
	require.ErrorAs(t, CheckResponse(resp), &apiErr)
	assert.Equal(t, 1, apiErr.Attempt, "the Transport's record is found through the request")
	assert.Equal(t, srv.seenIDs()[0], apiErr.RequestID)
	assert.Equal(t, "Resource not found", apiErr.Message)
	assert.Equal(t, body, readAll(t, resp))
}

// TestErrNotReadyWhilePolling: the documented not-ready answer, as the
// transcription workflow's polling meets it, is ErrNotReady and not
// ErrValidation; the Recorder does not keep it by default.
func TestErrNotReadyWhilePolling(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(422, `{"error":"Transcription not available"}`))
	rec := NewRecorder(0)
	client := WrapClient(srv.Client(), nil, WithRecorder(rec))
	resp, err := client.Get(srv.URL + "/api/v1/public/recordings/018f3a2b-7c4d-7e8f-9a0b-1c2d3e4f5a6b/transcription")
	require.NoError(t, err)
	readAll(t, resp)
	err = CheckResponse(resp)
	assert.ErrorIs(t, err, ErrNotReady)
	assert.NotErrorIs(t, err, ErrValidation)
	assert.Zero(t, rec.Len())
}

func TestRequestIDFromError(t *testing.T) {
	t.Parallel()
	apiErr := &APIError{StatusCode: 404, RequestID: "api-1"}
	te := &TransportError{RequestID: "tr-1", Err: io.EOF}
	for _, tt := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("plain"), ""},
		{apiErr, "api-1"},
		{&url.Error{Op: "Get", URL: "u", Err: te}, "tr-1"},
		{&url.Error{Op: "Get", URL: "u", Err: errors.New(te.Error() + " (Client.Timeout exceeded while awaiting headers)")}, "tr-1"},
		{errors.New(`Get "u": identitycall: GET u: x (request_id a b)`), ""},
		{errors.New("(request_id first) then (request_id)"), "first"},
	} {
		assert.Equal(t, tt.want, RequestIDFromError(tt.err), "%v", tt.err)
	}
}

// TestTransportErrorHandBuiltTextHoldsNoKey: the text of a hand-built
// TransportError holds no key, as its ticket and a hand-built APIError's
// text do not.
func TestTransportErrorHandBuiltTextHoldsNoKey(t *testing.T) {
	t.Parallel()
	e := &TransportError{Method: "GET", URL: DefaultBaseURL + "/recordings?api_key=" + testKey,
		Err: errors.New("connection refused"), RequestID: "req-1"}
	assert.NotContains(t, e.Error(), testKey[4:len(testKey)-4])
	assert.NotContains(t, e.SupportTicket(""), testKey[4:len(testKey)-4], "as its ticket does")
}
