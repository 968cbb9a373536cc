// Package interop tests idctrace inside the client stacks Go users already
// run: under go-retryablehttp, resty and an oauth2 transport. It is a module
// of its own so that the library never depends on them.
package interop

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/oauth2"

	"github.com/identitycall/idctrace"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// server answers with the statuses in order (the last repeats) and records
// each request's headers.
type server struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	headers  []http.Header
}

func newServer(t *testing.T, statuses ...int) *server {
	s := &server{statuses: statuses}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		n := len(s.headers)
		s.headers = append(s.headers, r.Header.Clone())
		status := s.statuses[min(n, len(s.statuses)-1)]
		s.mu.Unlock()
		w.WriteHeader(status)
		if status >= 400 {
			// Echo the credential, as a careless server might.
			fmt.Fprintf(w, `{"error":"denied for %s"}`, r.Header.Get("Authorization"))
			return
		}
		io.WriteString(w, `{"data":[]}`)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) header(i int) http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.headers[i]
}

func (s *server) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, h := range s.headers {
		out = append(out, h.Get("X-Request-ID"))
	}
	return out
}

func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

func TestUnderRetryablehttp(t *testing.T) {
	t.Parallel()
	for _, sameID := range []bool{false, true} {
		t.Run(fmt.Sprint("context ID ", sameID), func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, 503, 500, 200)
			log, logs := observed()
			c := retryablehttp.NewClient()
			c.HTTPClient = &http.Client{Transport: idctrace.New(srv.Client().Transport, log)}
			c.Logger = nil
			c.RetryWaitMin, c.RetryWaitMax = time.Millisecond, 5*time.Millisecond

			ctx := context.Background()
			if sameID {
				ctx = idctrace.ContextWithRequestID(ctx, "job-42")
			}
			req, err := retryablehttp.NewRequestWithContext(ctx, "GET", srv.URL+"/recordings", nil)
			require.NoError(t, err)
			resp, err := c.Do(req)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, `{"data":[]}`, string(body))
			assert.Empty(t, req.Header.Get("X-Request-ID"), "the caller's request is never tagged")

			ids := srv.ids()
			require.Len(t, ids, 3)
			if sameID {
				assert.Equal(t, []string{"job-42", "job-42", "job-42"}, ids, "one ID for retryablehttp's attempts")
			} else {
				assert.NotEqual(t, ids[0], ids[1], "each of retryablehttp's attempts is a new call")
			}
			entries := logs.All()
			require.Len(t, entries, 2, "the 503 and the 500")
			assert.Equal(t, ids[0], entries[0].ContextMap()["request_id"])
		})
	}
}

func TestUnderResty(t *testing.T) {
	t.Parallel()
	srv := newServer(t, 404)
	log, logs := observed()
	client := resty.New().SetTransport(idctrace.New(srv.Client().Transport, log)).SetAuthToken("idc_Q7mK2xV9pL4sT8wB3nR6yH1cF5jD0gZa")

	resp, err := client.R().Get(srv.URL + "/recordings/rec_1")
	require.NoError(t, err)
	assert.Equal(t, 404, resp.StatusCode())
	assert.Equal(t, `{"error":"denied for Bearer idc_Q7mK2xV9pL4sT8wB3nR6yH1cF5jD0gZa"}`, string(resp.Body()), "resty reads every byte")

	var apiErr *idctrace.APIError
	require.ErrorAs(t, idctrace.CheckResponse(resp.RawResponse), &apiErr, "the record survives resty reading the body")
	assert.Equal(t, srv.ids()[0], apiErr.RequestID)
	assert.Equal(t, "denied for Bearer idc_****0gZa", apiErr.Message)
	require.Equal(t, 1, logs.Len())
	assert.Equal(t, "denied for Bearer idc_****0gZa", logs.All()[0].ContextMap()["error"])
}

func TestUnderOAuth2(t *testing.T) {
	t.Parallel()
	srv := newServer(t, 401)
	log, logs := observed()
	const token = "ya29.a0AfH6SMBx-opaque-access-token"
	client := &http.Client{Transport: &oauth2.Transport{
		Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}),
		Base:   idctrace.New(srv.Client().Transport, log),
	}}

	resp, err := client.Get(srv.URL + "/recordings")
	require.NoError(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	assert.Equal(t, "Bearer "+token, srv.header(0).Get("Authorization"), "oauth2's header reaches the server")
	require.Equal(t, 1, logs.Len())
	f := logs.All()[0].ContextMap()
	assert.Equal(t, "denied for Bearer REDACTED", f["error"], "a non-idc token echoed back is still redacted")
	assert.Equal(t, srv.ids()[0], f["request_id"])
}

// TestUnderRetryablehttpCertificateError: go-retryablehttp does not retry
// a certificate error, which it finds by a type assertion on url.Error.Err.
// idctrace keeps net/http's type outermost, so the call fails at once, and
// errors.As still reaches the TransportError, whose request ID and hint
// the entry and the Recorder keep.
func TestUnderRetryablehttpCertificateError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the client's rejections
	t.Cleanup(srv.Close)
	logger, logs := observed()
	rec := idctrace.NewRecorder(0)
	var attempts atomic.Int32
	base := &http.Transport{} // the system's roots: the test server's certificate does not verify
	t.Cleanup(base.CloseIdleConnections)
	c := retryablehttp.NewClient()
	c.HTTPClient = &http.Client{Transport: idctrace.New(base, logger, idctrace.WithRecorder(rec),
		idctrace.WithObserver(func(idctrace.Attempt) { attempts.Add(1) }))}
	c.Logger = nil
	c.RetryMax, c.RetryWaitMin, c.RetryWaitMax = 4, time.Millisecond, time.Millisecond

	_, err := c.Get(srv.URL + "/api/v1/public/recordings")
	require.Error(t, err)
	assert.EqualValues(t, 1, attempts.Load(), "not retried")
	var te *idctrace.TransportError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "tls", te.ErrorType)
	assert.NotEmpty(t, te.RequestID)
	assert.Contains(t, te.Hint, "certificate")
	require.Equal(t, 1, logs.Len())
	assert.Equal(t, te.RequestID, logs.All()[0].ContextMap()["request_id"])
	assert.Equal(t, 1, rec.Len())
	var certErr *tls.CertificateVerificationError
	assert.ErrorAs(t, err, &certErr)
}
