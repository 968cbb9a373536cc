package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/identitycall/idctrace/idctest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var rawKey = regexp.MustCompile(`idc_[A-Za-z0-9]{32}`)

func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut strings.Builder
	code = run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestDemo(t *testing.T) {
	t.Parallel()
	code, out, stderr := runCLI(t, nil, "")
	require.Equal(t, 0, code, stderr)
	for _, want := range []string{
		"=> 201 Created", "=> 200 OK",
		"401 Unauthorized: Invalid or expired API key",
		"403 Forbidden: Delete permission required",
		"404 Not Found: Resource not found",
		"422 Unprocessable Entity: file is required",
		"422 Unprocessable Entity: Project must be a positive integer; Language is not supported",
		"422 Unprocessable Entity: Transcription not available",
		`"status": 429`, `"retry_in": "1s"`,
		`"status": 500`,
		"IdentityCall support request", "Account:     you@example.com",
		`"bundle":"identitycall-failures"`,
	} {
		assert.Contains(t, out, want)
	}
	assert.NotRegexp(t, rawKey, out, "no key in the demo's output")

	// Every failure's request ID shows on both sides.
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "identitycall request failed") {
			id := regexp.MustCompile(`"request_id": "([^"]+)"`).FindStringSubmatch(line)
			require.Len(t, id, 2, line)
			assert.Contains(t, out, `server  request  {"request_id": "`+id[1]+`"`)
		}
	}
}

func TestDemoJSON(t *testing.T) {
	t.Parallel()
	code, out, stderr := runCLI(t, nil, "", "-json", "-email", "ops@example.com")
	require.Equal(t, 0, code, stderr)
	var entries int
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, `{"level"`) {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &m), line)
			entries++
		}
	}
	assert.Greater(t, entries, 20)
	assert.Contains(t, out, "Account:     ops@example.com")
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, flag := range []string{"-h", "-help", "--help"} {
		code, out, stderr := runCLI(t, nil, "", flag)
		assert.Equal(t, 0, code, flag)
		assert.Empty(t, out)
		assert.Contains(t, stderr, "idctrace [flags] METHOD PATH [BODY]")
		assert.Contains(t, stderr, "-F value")
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	key := map[string]string{"IDENTITYCALL_API_KEY": "idc_" + strings.Repeat("a", 32)}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"one argument", key, []string{"GET"}, "want METHOD PATH [BODY]"},
		{"too many", key, []string{"GET", "/a", "{}", "x"}, "want METHOD PATH [BODY]"},
		{"bad method", key, []string{"FETCH", "/recordings"}, `unsupported method "FETCH"`},
		{"relative path", key, []string{"GET", "recordings"}, "must start with /"},
		{"no key", nil, []string{"GET", "/recordings"}, "IDENTITYCALL_API_KEY is not set"},
		{"bad base URL", key, []string{"-base-url", "::", "GET", "/recordings"}, "invalid base URL"},
		{"negative retries", key, []string{"-retries", "-1", "GET", "/recordings"}, "-retries must not be negative"},
		{"unknown flag", key, []string{"-key", "idc_x", "GET", "/x"}, "flag provided but not defined: -key"},
		{"missing body file", key, []string{"POST", "/recordings", "@/nonexistent.json"}, "reading BODY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, stderr := runCLI(t, tt.env, "", tt.args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, out)
			assert.Contains(t, stderr, tt.want)
		})
	}
}

func TestCallAgainstSimulator(t *testing.T) {
	t.Parallel()
	srv := idctest.NewServer()
	defer srv.Close()
	key := srv.NewKey(idctest.Read, idctest.Write)
	env := map[string]string{"IDENTITYCALL_API_KEY": key, "IDENTITYCALL_BASE_URL": srv.URL, "IDENTITYCALL_EMAIL": "ops@example.com"}

	code, out, stderr := runCLI(t, env, "", "GET", "/recordings?per_page=5")
	assert.Equal(t, 0, code, stderr)
	assert.JSONEq(t, `{"data":[],"meta":{"current_page":1,"total_pages":0,"total_count":0,"per_page":5}}`, out)
	assert.Empty(t, stderr)

	code, out, stderr = runCLI(t, env, "", "get", "/recordings/rec_nope")
	assert.Equal(t, 1, code)
	assert.JSONEq(t, `{"error":"Resource not found"}`, out, "the body still goes to stdout")
	assert.Contains(t, stderr, "identitycall request failed")
	assert.Contains(t, stderr, "IdentityCall support request")
	assert.Contains(t, stderr, "Account:     ops@example.com")
	assert.Contains(t, stderr, "Status:      404 Not Found")
	assert.Contains(t, stderr, "Request ID:  "+srv.RequestIDs()[1])
	assert.NotContains(t, stderr, key[4:32])

	code, _, stderr = runCLI(t, env, `{"name":"x"}`, "PATCH", "/recordings/rec_nope", "-")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "Request:     PATCH "+srv.URL+"/recordings/rec_nope")

	code, _, stderr = runCLI(t, env, "", "-timeout", "0", "GET", "/recordings")
	assert.Equal(t, 0, code, "-timeout 0 means no timeout, not an expired one: %s", stderr)

	srv.FailNext(1)
	code, _, stderr = runCLI(t, env, "", "-retries", "1", "GET", "/recordings")
	assert.Equal(t, 0, code, "a 500 retried to success")
	assert.Contains(t, stderr, `"retry_in"`)
}

func TestCallTransportError(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	env := map[string]string{"IDENTITYCALL_API_KEY": "idc_" + strings.Repeat("b", 32)}
	code, out, stderr := runCLI(t, env, "", "-retries", "0", "-base-url", "http://"+addr+"/api/v1/public", "GET", "/recordings")
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Contains(t, stderr, "request failed")
	assert.Contains(t, stderr, "connection refused")
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
}
