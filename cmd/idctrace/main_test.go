package main

import (
	"context"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

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
	return runSys(t, &system{stdin: strings.NewReader(stdin)}, env, args...)
}

// runSys runs the command with sys, whose getenv, stdout and stderr it
// sets: env is the environment; stdin, when nil, is empty.
func runSys(t *testing.T, sys *system, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut strings.Builder
	sys.getenv = func(k string) string { return env[k] }
	sys.stdout, sys.stderr = &out, &errOut
	if sys.stdin == nil {
		sys.stdin = strings.NewReader("")
	}
	code = run(context.Background(), args, sys)
	return code, out.String(), errOut.String()
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, flag := range []string{"-h", "-help", "--help"} {
		code, out, stderr := runCLI(t, nil, "", flag)
		assert.Equal(t, 0, code, flag)
		assert.Empty(t, out)
		assert.Contains(t, stderr, "idctrace [flags] METHOD PATH [BODY]")
		assert.Contains(t, stderr, "-F value")
		assert.Contains(t, stderr, "idctrace report [-log FILE]... [-since DURATION|TIME] [-json]")
		assert.Contains(t, stderr, "idctrace sim [-addr HOST:PORT] [-rate N/DURATION]")
		assert.Contains(t, stderr, "-progress")
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
		{"blank key", map[string]string{"IDENTITYCALL_API_KEY": " \n"}, []string{"GET", "/recordings"}, "IDENTITYCALL_API_KEY is not set"},
		{"malformed key", map[string]string{"IDENTITYCALL_API_KEY": "idc_" + strings.Repeat("c", 31)}, []string{"GET", "/recordings"},
			"IDENTITYCALL_API_KEY is not an IdentityCall API key: want idc_ followed by 32 letters and digits"},
		{"a key of another service", map[string]string{"IDENTITYCALL_API_KEY": "sk_live_4eC39HqLyjWDarjtT1zdp7dc"}, []string{"GET", "/recordings"},
			"IDENTITYCALL_API_KEY is not an IdentityCall API key"},
		{"bad base URL", key, []string{"-base-url", "::", "GET", "/recordings"}, "invalid base URL"},
		{"negative retries", key, []string{"-retries", "-1", "GET", "/recordings"}, "-retries must not be negative"},
		{"unknown flag", key, []string{"-key", "idc_x", "GET", "/x"}, "flag provided but not defined: -key"},
		{"missing body file", key, []string{"POST", "/recordings", "@/nonexistent.json"}, "BODY: stat /nonexistent.json: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, stderr := runCLI(t, tt.env, "", tt.args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, out)
			assert.Contains(t, stderr, tt.want)
			if k := tt.env["IDENTITYCALL_API_KEY"]; strings.TrimSpace(k) != "" {
				assert.NotContains(t, stderr, strings.TrimSpace(k)[4:], "the value is never printed")
			}
		})
	}
}

// TestEverythingPrintedIsRedacted: the command prints no key or password,
// whatever the input it failed to use.
func TestEverythingPrintedIsRedacted(t *testing.T) {
	t.Parallel()
	key := "idc_" + strings.Repeat("k", 28) + "WXYZ"
	other := "idc_" + strings.Repeat("o", 28) + "ABCD"
	tests := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"a key in a path that does not parse", map[string]string{"IDENTITYCALL_API_KEY": key},
			[]string{"GET", "/keys/" + other + "/%zz"}},
		{"a password in a base URL that does not parse", map[string]string{"IDENTITYCALL_API_KEY": key,
			"IDENTITYCALL_BASE_URL": "https://bob:hunter2-secret@api.example.com:bad/api/v1/public"}, []string{"GET", "/recordings"}},
		{"a password in a base URL that parses, with a path that does not", map[string]string{"IDENTITYCALL_API_KEY": key,
			"IDENTITYCALL_BASE_URL": "https://bob:hunter2-secret@api.example.com/api/v1/public"}, []string{"GET", "/x/%zz"}},
		{"the key in a path, sent nowhere", map[string]string{"IDENTITYCALL_API_KEY": key,
			"IDENTITYCALL_BASE_URL": "http://bob:hunter2-secret@127.0.0.1:1/api/v1/public"}, []string{"-retries", "0", "GET", "/keys/" + key}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, out, stderr := runCLI(t, tt.env, "", tt.args...)
			for _, secret := range []string{strings.Repeat("k", 28), strings.Repeat("o", 28), "hunter2-secret", "bob:"} {
				assert.NotContains(t, out+stderr, secret)
			}
			assert.NotRegexp(t, rawKey, out+stderr)
			assert.NotEmpty(t, stderr)
		})
	}
}

func TestCallAgainstSimulator(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	key := srv.NewKey(idctest.Read, idctest.Write)
	env := map[string]string{"IDENTITYCALL_API_KEY": " " + key + "\n", "IDENTITYCALL_BASE_URL": srv.URL, "IDENTITYCALL_EMAIL": "ops@example.com"}

	code, out, stderr := runCLI(t, env, "", "GET", "/recordings?per_page=5")
	assert.Equal(t, 0, code, stderr)
	assert.JSONEq(t, `{"data":[],"meta":{"current_page":1,"total_pages":0,"total_count":0,"per_page":5}}`, out)
	assert.Empty(t, stderr, "the key was trimmed of its surrounding white space")

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
	assert.Contains(t, stderr, "Endpoint:    PATCH /recordings/{id}")

	code, _, stderr = runCLI(t, env, "", "-timeout", "0", "GET", "/recordings")
	assert.Equal(t, 0, code, "-timeout 0 means no timeout, not an expired one: %s", stderr)

	srv.FailNext(1)
	code, _, stderr = runCLI(t, env, "", "-retries", "1", "GET", "/recordings")
	assert.Equal(t, 0, code, "a 500 retried to success")
	assert.Contains(t, stderr, `"retry_in"`)
}

func TestCallTransportError(t *testing.T) {
	t.Parallel()
	addr := refusedAddr(t)
	env := map[string]string{"IDENTITYCALL_API_KEY": "idc_" + strings.Repeat("b", 32)}
	code, out, stderr := runCLI(t, env, "", "-retries", "0", "-base-url", "http://"+addr+"/api/v1/public", "GET", "/recordings")
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Contains(t, stderr, "identitycall request failed", "the entry")
	assert.Contains(t, stderr, "IdentityCall support request")
	assert.Regexp(t, `Request ID:  [0-9a-f-]{36}\n`, stderr)
	assert.Contains(t, stderr, "Cause:       dial tcp "+addr+": connect: connection refused")
	assert.Contains(t, stderr, "Hint:        Check the base URL and port")
	assert.True(t, strings.HasSuffix(stderr, "or set IDENTITYCALL_EMAIL.)\n"), "a ticket without an email says how to add it: %s", stderr)
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
}

func TestCallTimeout(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	key := srv.NewKey(idctest.Read)
	srv.Inject(1, idctest.Fault{Delay: time.Minute})
	env := map[string]string{"IDENTITYCALL_API_KEY": key, "IDENTITYCALL_BASE_URL": srv.URL, "IDENTITYCALL_EMAIL": "ops@example.com"}
	code, _, stderr := runCLI(t, env, "", "-timeout", "100ms", "-retries", "0", "GET", "/projects")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "Endpoint:    GET /projects")
	assert.Contains(t, stderr, "Cause:       context deadline exceeded")
	assert.Contains(t, stderr, "Hint:        No response within")
	assert.Regexp(t, `Request ID:  [0-9a-f-]{36}\n`, stderr)
	assert.NotContains(t, stderr, "IDENTITYCALL_EMAIL.)", "the email was given")
}

// heapMiB returns the heap in use after a collection, in MiB.
func heapMiB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// TestBadFlagSaysWhereTheUsageIs: a bad flag prints the problem and where
// the usage is, not the whole usage, which would bury the problem.
func TestBadFlagSaysWhereTheUsageIs(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args          []string
		problem, help string
	}{
		{[]string{"-key", "idc_x", "GET", "/x"}, "flag provided but not defined: -key", "Run 'idctrace -h' for usage."},
		{[]string{"-retries", "many", "GET", "/x"}, `invalid value "many" for flag -retries`, "Run 'idctrace -h' for usage."},
		{[]string{"report", "-bogus"}, "flag provided but not defined: -bogus", "Run 'idctrace report -h' for usage."},
		{[]string{"ticket", "ID", "-bogus"}, "flag provided but not defined: -bogus", "Run 'idctrace ticket -h' for usage."},
		{[]string{"sim", "-port", "1"}, "flag provided but not defined: -port", "Run 'idctrace sim -h' for usage."},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			code, out, stderr := runCLI(t, nil, "", tt.args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, out)
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			require.Len(t, lines, 2, stderr)
			assert.Contains(t, lines[0], tt.problem)
			assert.Equal(t, tt.help, lines[1])
		})
	}
}
