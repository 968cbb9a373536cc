package idctrace

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/identitycall/idctrace/internal/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHints: each cause the caller can fix alone gets its hint, in the
// error, the entry and the ticket; every other failure gets none.
func TestHints(t *testing.T) {
	t.Parallel()
	const base = "/api/v1/public"
	tests := []struct {
		name   string
		method string
		path   string
		auth   string // the Authorization header; "-" for none
		status int
		body   string
		want   string // a part of the hint; "" for no hint
	}{
		{"401, no key sent", "GET", base + "/recordings", "-", 401, `{"error":"Invalid or expired API key"}`, "the request had no Authorization header"},
		{"401, no key sent, redirects mentioned", "GET", base + "/recordings", "-", 401, `{}`, "redirect"},
		{"401, empty header", "GET", base + "/recordings", " ", 401, `{}`, "the request had no Authorization header"},
		{"401, short key", "GET", base + "/recordings", "Bearer idc_short", 401, `{}`, "idc_ and 32 letters and digits"},
		{"401, no scheme", "GET", base + "/recordings", testKey, 401, `{}`, "idc_ and 32 letters and digits"},
		{"401, other scheme", "GET", base + "/recordings", "Token " + testKey, 401, `{}`, "idc_ and 32 letters and digits"},
		{"401, trailing space", "GET", base + "/recordings", "Bearer " + testKey + " ", 401, `{}`, "with nothing around them"},
		{"401, well-formed key: revoked or expired, not local", "GET", base + "/recordings", "Bearer " + testKey, 401, `{}`, ""},
		{"404, no base path", "GET", "/recordings/7", "Bearer " + testKey, 404, `{"error":"Resource not found"}`, "Check the base URL"},
		{"404, wrong version", "GET", "/api/v2/public/recordings/7", "Bearer " + testKey, 404, `{}`, "Check the base URL"},
		{"404 under the base path: the resource is missing", "GET", base + "/recordings/7", "Bearer " + testKey, 404, `{}`, ""},
		{"403, read", "GET", base + "/recordings", "Bearer " + testKey, 403, `{"error":"Read permission required"}`, "Use an API key with read permission: GET needs it"},
		{"403, write", "PATCH", base + "/recordings/7", "Bearer " + testKey, 403, `{"error":"Write permission required"}`, "with write permission"},
		{"403, delete", "DELETE", base + "/recordings/7", "Bearer " + testKey, 403, `{"error":"Delete permission required"}`, "with delete permission"},
		{"403, an operator's delete needs write, as documented", "DELETE", base + "/operators/7", "Bearer " + testKey, 403, `{"error":"Write permission required"}`, "with write permission"},
		{"403 for a project-scoped key: not a permission", "POST", base + "/projects", "Bearer " + testKey, 403,
			`{"error":"Project-scoped API keys cannot create or destroy projects"}`, ""},
		{"400", "GET", base + "/recordings?per_page=500", "Bearer " + testKey, 400, `{"error":"per_page must be between 1 and 100"}`, ""},
		{"422", "GET", base + "/recordings/7/transcription", "Bearer " + testKey, 422, `{"error":"Transcription not available"}`, ""},
		{"500", "GET", base + "/recordings", "Bearer " + testKey, 500, `{"error":"Internal server error"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newScripted(t, reply(tt.status, tt.body))
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			require.NoError(t, err)
			if tt.auth != "-" {
				req.Header.Set("Authorization", tt.auth)
			}
			log, logs := observed()
			resp, err := New(srv.Client().Transport, log).RoundTrip(req)
			require.NoError(t, err)
			readAll(t, resp)
			var apiErr *APIError
			require.ErrorAs(t, CheckResponse(resp), &apiErr)
			f := logs.All()[0].ContextMap()
			if tt.want == "" {
				assert.Empty(t, apiErr.Hint)
				assert.NotContains(t, f, schema.Hint)
				assert.NotContains(t, apiErr.SupportTicket(""), "Hint:")
				return
			}
			assert.Contains(t, apiErr.Hint, tt.want)
			assert.Equal(t, apiErr.Hint, f[schema.Hint])
			assert.Contains(t, apiErr.SupportTicket(""), "Hint:        "+apiErr.Hint)
			assert.NotContains(t, apiErr.Hint, testKey[4:], "a hint never repeats the key")
		})
	}
}

func TestTransportHints(t *testing.T) {
	t.Parallel()
	refused := func() string {
		return "http://" + refusedAddr(t) + "/api/v1/public/recordings"
	}()
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake failure is the point
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	slow := newScripted(t, hang)

	tests := []struct {
		name    string
		base    http.RoundTripper
		url     string
		timeout time.Duration
		want    string
	}{
		{"DNS", roundTripFunc(func(*http.Request) (*http.Response, error) {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "api.identitycall.example", IsNotFound: true}}
		}), "https://api.identitycall.example/api/v1/public/recordings", 0, "did not resolve in DNS"},
		{"refused", &http.Transport{}, refused, 0, "nothing accepted the connection"},
		{"certificate", &http.Transport{}, tlsSrv.URL + "/api/v1/public/recordings", 0, "certificate did not verify"},
		{"timeout", slow.Client().Transport, slow.URL + "/api/v1/public/recordings", 30 * time.Millisecond, "No response within"},
		{"other", roundTripFunc(func(*http.Request) (*http.Response, error) {
			return nil, fmt.Errorf("proxy said no")
		}), "https://h/api/v1/public/recordings", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			req, _ := http.NewRequestWithContext(ctx, "GET", tt.url, nil)
			log, logs := observed()
			_, err := New(tt.base, log).RoundTrip(req)
			if c, ok := tt.base.(interface{ CloseIdleConnections() }); ok {
				c.CloseIdleConnections()
			}
			var te *TransportError
			require.ErrorAs(t, err, &te)
			if tt.want == "" {
				assert.Empty(t, te.Hint)
				return
			}
			assert.Contains(t, te.Hint, tt.want)
			assert.Equal(t, te.Hint, logs.All()[0].ContextMap()[schema.Hint])
			assert.Contains(t, te.SupportTicket(""), "Hint:        "+te.Hint)
			if tt.name == "timeout" {
				assert.Contains(t, te.Hint, te.Duration.Round(time.Millisecond).String(), "the hint says how long it waited")
			}
		})
	}
}

// TestHintWhenAuthIsAddedBelow: the API key is often set by a
// RoundTripper below the Transport (oauth2.Transport's shape: it clones the
// request and sets Authorization), as WrapClient over such a client builds.
// The hint reads the request as sent (resp.Request), which carries the key:
// no "the request had no Authorization header", a wrong hint, worse than
// none.
func TestHintWhenAuthIsAddedBelow(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(401, `{"error":"Invalid or expired API key"}`))
	base := srv.Client().Transport
	withKey := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		out := req.Clone(req.Context())
		out.Header.Set("Authorization", "Bearer "+testKey)
		return base.RoundTrip(out)
	})
	log, logs := observed()
	client := WrapClient(&http.Client{Transport: withKey}, log)
	resp, err := client.Get(srv.URL + "/api/v1/public/recordings")
	require.NoError(t, err)
	readAll(t, resp)
	require.Equal(t, "Bearer "+testKey, srv.got()[0].header.Get("Authorization"), "the key was sent")
	var apiErr *APIError
	require.ErrorAs(t, CheckResponse(resp), &apiErr)
	assert.Empty(t, apiErr.Hint, "a hint about a header that was sent")
	require.Equal(t, 1, logs.Len())
	assert.NotContains(t, logs.All()[0].ContextMap(), schema.Hint)
}
