package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/identitycall/idctrace/idctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRedirectLeavingTLSIsRefused: net/http would follow an https base
// URL's redirect to http on the same host with the Authorization header.
// The command refuses it, and the plain-HTTP server never hears from it.
func TestRedirectLeavingTLSIsRefused(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var plainAuth []string // the Authorization header of every request the plain server got
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		plainAuth = append(plainAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		fmt.Fprint(w, `{"data":[]}`)
	}))
	defer plain.Close()
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var status int
		fmt.Sscan(r.URL.Query().Get("status"), &status)
		if strings.HasPrefix(r.URL.Path, "/moved") {
			fmt.Fprint(w, `{"data":"over TLS"}`)
			return
		}
		to := plain.URL
		if r.URL.Query().Get("to") == "tls" {
			to = "https://" + r.Host + "/moved"
		}
		// A key in the target's query must not show in the message.
		http.Redirect(w, r, to+r.URL.Path+"?api_key=idc_"+strings.Repeat("q", 32), status)
	}))
	defer secure.Close()
	key := "idc_" + strings.Repeat("r", 32)
	env := map[string]string{"IDENTITYCALL_API_KEY": key, "IDENTITYCALL_BASE_URL": secure.URL + "/api/v1/public"}

	tests := []struct {
		method string
		status int
		body   []string
	}{
		{"GET", http.StatusMovedPermanently, nil},
		{"GET", http.StatusFound, nil},
		{"POST", http.StatusSeeOther, []string{`{"name":"x"}`}},
		{"POST", http.StatusTemporaryRedirect, []string{`{"name":"x"}`}},
		{"PUT", http.StatusPermanentRedirect, []string{`{"name":"x"}`}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.method, tt.status), func(t *testing.T) {
			args := append([]string{"-retries", "0", tt.method, fmt.Sprintf("/recordings?status=%d", tt.status)}, tt.body...)
			code, out, stderr := runSys(t, &system{base: secure.Client().Transport}, env, args...)
			assert.Equal(t, 1, code)
			assert.Empty(t, out)
			assert.Regexp(t, `^idctrace: refused the redirect from https://127\.0\.0\.1:\d+/api/v1/public/recordings\?status=\d+ to http://127\.0\.0\.1:\d+/api/v1/public/recordings\?api_key=REDACTED: it leaves TLS and would send the API key in clear; check the base URL\n$`, stderr)
			assert.NotContains(t, stderr, strings.Repeat("q", 32))
			assert.NotContains(t, stderr, strings.Repeat("r", 32))
		})
	}
	mu.Lock()
	assert.Empty(t, plainAuth, "no request reached the plain-HTTP server, with or without the key")
	mu.Unlock()

	// A redirect that stays on TLS is followed, with the key.
	code, out, stderr := runSys(t, &system{base: secure.Client().Transport}, env, "GET", "/recordings?status=307&to=tls")
	assert.Equal(t, 0, code, stderr)
	assert.JSONEq(t, `{"data":"over TLS"}`, out)
}

// TestCallNotReady: polling a transcription that is not ready yet gets a
// one-line answer, not a support ticket: it is the documented, expected
// answer (the library logs it at Debug).
func TestCallNotReady(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t, idctest.WithProcessingTime(time.Hour))
	env := map[string]string{"IDENTITYCALL_API_KEY": srv.NewKey(idctest.Read, idctest.Write), "IDENTITYCALL_BASE_URL": srv.URL}
	path, _ := audioFile(t)
	code, out, stderr := runCLI(t, env, `{"name":"P","language":"en"}`, "POST", "/projects", "-")
	require.Equal(t, 0, code, stderr)
	project := regexp.MustCompile(`"id":(\d+)`).FindStringSubmatch(out)
	require.Len(t, project, 2, out)
	code, out, stderr = runCLI(t, env, "", "-F", "file=@"+path, "-F", "project_id="+project[1], "POST", "/recordings")
	require.Equal(t, 0, code, stderr)
	id := regexp.MustCompile(`"public_id":"([^"]+)"`).FindStringSubmatch(out)
	require.Len(t, id, 2, out)

	code, _, stderr = runCLI(t, env, "", "GET", "/recordings/"+id[1]+"/transcription")
	assert.Equal(t, 1, code)
	assert.Equal(t, "idctrace: not ready yet: the transcription is still being processed; ask again in a few seconds\n", stderr)
}
