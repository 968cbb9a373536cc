package idctrace

// How a Transport's errors meet http.Client, as users call it: timeouts,
// cancellation, redirects and the client's own special cases.

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestClientTimeoutKeepsTheRequestID: when Client.Timeout fires, net/http
// replaces the error by a new one holding only its text (client.go, "Client.
// Timeout exceeded while awaiting headers"), so errors.As finds nothing.
// RequestIDFromError still reads the ID from that text, and the timeout
// still reads as one.
func TestClientTimeoutKeepsTheRequestID(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, hang)
	log, logs := observed()
	client := WrapClient(srv.Client(), log)
	client.Timeout = 50 * time.Millisecond

	_, err := client.Get(srv.URL + "/api/v1/public/recordings")
	require.Error(t, err)
	var ue *url.Error
	require.ErrorAs(t, err, &ue)
	assert.True(t, ue.Timeout(), "(*url.Error).Timeout")
	assert.True(t, os.IsTimeout(err), "os.IsTimeout")

	// Whether the client's timer or the request's deadline ended the call
	// first is a race inside net/http: the text may or may not have been
	// replaced. The ID is found either way. (On a loaded machine the
	// request may not even reach the server in time: the entry has the ID.)
	require.Equal(t, 1, logs.Len())
	f := logs.All()[0].ContextMap()
	assert.Equal(t, f[FieldRequestID], RequestIDFromError(err), "read back from the text: %v", err)
	assert.Contains(t, f[FieldHint], "No response within")
}

// TestClientTimeoutTextOnly forces the replaced error: a base that only
// listens to the request's Cancel channel returns after the client's timer
// has fired, so the client always replaces the error by its text.
func TestClientTimeoutTextOnly(t *testing.T) {
	t.Parallel()
	base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		//lint:ignore SA1019 Cancel is what http.Client closes when its timer fires
		<-req.Cancel
		return nil, errors.New("net/http: request canceled")
	})
	client := &http.Client{Transport: New(base, nil), Timeout: 20 * time.Millisecond}
	_, err := client.Get("http://api.identitycall.invalid/api/v1/public/recordings")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Client.Timeout exceeded while awaiting headers")
	var te *TransportError
	assert.False(t, errors.As(err, &te), "the client kept only the text")
	assert.True(t, os.IsTimeout(err))
	assert.Regexp(t, `^[0-9a-f-]{36}$`, RequestIDFromError(err))
}

func TestClientContextCancelAndDeadline(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, hang)
	client := WrapClient(srv.Client(), nil)
	for _, tt := range []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		is      error
		timeout bool
	}{
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(20*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled, false},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 20*time.Millisecond)
		}, context.DeadlineExceeded, true},
	} {
		ctx, cancel := tt.ctx()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
		_, err := client.Do(req)
		cancel()
		assert.ErrorIs(t, err, tt.is, tt.name)
		var te *TransportError
		require.ErrorAs(t, err, &te, tt.name)
		assert.Equal(t, tt.timeout, te.Timeout(), tt.name)
		assert.Equal(t, tt.timeout, os.IsTimeout(err), tt.name)
		assert.NotEmpty(t, RequestIDFromError(err))
	}
}

func TestClientRedirects(t *testing.T) {
	t.Parallel()
	target := newScripted(t, reply(404, `{"error":"Resource not found"}`))
	origin := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		// Another host name for the same server: the client treats it as
		// another host.
		http.Redirect(w, r, strings.Replace(target.URL, "127.0.0.1", "localhost", 1)+"/api/v1/public/recordings/9", http.StatusFound)
	})
	log, logs := observed()
	client := WrapClient(origin.Client(), log)
	req, _ := http.NewRequest("GET", origin.URL+"/api/v1/public/recordings/9", nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := client.Do(req)
	require.NoError(t, err)
	assert.Equal(t, `{"error":"Resource not found"}`, readAll(t, resp))

	var apiErr *APIError
	require.ErrorAs(t, CheckResponse(resp), &apiErr)
	assert.Equal(t, target.seenIDs()[0], apiErr.RequestID, "the error is the last hop's")
	assert.Equal(t, []string{""}, target.seen("Authorization"), "the client dropped the key on the way to another host")
	require.Equal(t, 1, logs.Len(), "a redirect is no failure")
	assert.Equal(t, origin.seenIDs()[0], apiErr.RequestID, "every hop of one call carries its ID")
}

// TestClientSchemeMismatch: an HTTPS request answered in plain HTTP gets the
// client's own message, which it finds by a type assertion our
// TransportError would defeat.
func TestClientSchemeMismatch(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(200, "plain"))
	client := WrapClient(&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}, nil)
	defer client.CloseIdleConnections()
	_, err := client.Get("https" + srv.URL[len("http"):])
	require.Error(t, err)
	assert.ErrorIs(t, err, http.ErrSchemeMismatch)
	var recordErr tls.RecordHeaderError
	assert.ErrorAs(t, err, &recordErr)
	assert.Contains(t, err.Error(), "server gave HTTP response to HTTPS client")
	assert.NotEmpty(t, RequestIDFromError(err))
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
