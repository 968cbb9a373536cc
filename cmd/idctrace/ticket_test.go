package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/identitycall/idctrace/internal/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// golden is the whole of a ticket in testdata/ticket, as a regular expression.
func golden(t *testing.T, name string) string {
	want, err := os.ReadFile(filepath.Join("testdata", "ticket", name))
	require.NoError(t, err)
	return "^" + regexp.QuoteMeta(string(want)) + "$"
}

// v7At is a UUID version 7 made at t.
func v7At(t time.Time) string {
	return fmt.Sprintf("%08x-%04x-7000-8000-000000000000", t.UnixMilli()>>16, t.UnixMilli()&0xffff)
}

func TestTicketFromLogs(t *testing.T) {
	t.Parallel()
	paths, ids := supportLogs(t)
	byStatus := map[int]string{}
	entries, _ := readAllEntries(t, paths[:1], nil)
	for _, e := range entries {
		byStatus[e.status] = e.requestID
	}
	zapLog, err := os.ReadFile(paths[0])
	require.NoError(t, err)
	notFound := func(id, made string) string {
		return `idctrace ticket: request ID "` + id + `"` + made + ` not found in 3 logs (10 failure entries, 2 storm summaries)`
	}
	ticket404 := func(id string) string {
		return `^IdentityCall support request
Time:        2026-\d\d-\d\dT\d\d:\d\d:\d\dZ
Request ID:  ` + regexp.QuoteMeta(id) + `
Request:     GET http://127\.0\.0\.1:\d+/api/v1/public/recordings/rec_nope
Endpoint:    GET /recordings/\{id\}
Status:      404 Not Found
Error:       Resource not found
Waited:      \d\S*s
$`
	}
	tests := []struct {
		name        string
		args        []string // after the logs
		stdin       string   // read when set, instead of the logs
		code        int
		out, stderr string // out: a regular expression
	}{
		{"a 404 from zap", []string{ids[0]}, "", 0, ticket404(ids[0]), emailNote},
		{"a 404 from slog, gzipped", []string{ids[1]}, "", 0, ticket404(ids[1]), emailNote},
		{"the same from standard input", []string{ids[0]}, string(zapLog), 0, ticket404(ids[0]), emailNote},
		{"a 500 retried into a success", []string{byStatus[500]}, "", 0, `(?m)^Status:      500 Internal Server Error$`,
			"idctrace ticket: attempt 1 of the call that started at 20"},
		{"a storm summary's first ID", []string{"first-/recordings/{id}"}, "", 0, golden(t, "summary-first.txt"), emailNote},
		{"a storm summary's last ID", []string{"-email", "ops@example.com", "last-/projects"}, "", 0, golden(t, "summary-last.txt"), ""},
		{"not found", []string{"nope"}, "", 1, "^$", notFound("nope", "") +
			"; storm summaries in these logs counted 1241 failures of which it may be one: " +
			"1234 GET /recordings/{id} connection_refused from 2026-03-01T14:20:00.250Z to 2026-03-01T14:20:00.950Z, " +
			"7 GET /projects 500 from 2026-03-01T14:20:01.000Z to 2026-03-01T14:20:01.900Z\n"},
		{"not found, a UUID of a time with a storm", []string{v7At(t1400.Add(20*time.Minute + 1500*time.Millisecond))}, "", 1, "^$",
			notFound(v7At(t1400.Add(20*time.Minute+1500*time.Millisecond)), " (made 2026-03-01T14:20:01.500Z)") +
				"; storm summaries of that time counted 7 failures of which it may be one: " +
				"7 GET /projects 500 from 2026-03-01T14:20:01.000Z to 2026-03-01T14:20:01.900Z\n"},
		{"not found, a UUID of a time without one", []string{v7At(t1400)}, "", 1, "^$",
			notFound(v7At(t1400), " (made 2026-03-01T14:00:00.000Z)") + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"ticket"}, logArgs(paths)...)
			if tt.stdin != "" {
				args = []string{"ticket"}
			}
			code, out, stderr := runCLI(t, nil, tt.stdin, append(args, tt.args...)...)
			assert.Equal(t, tt.code, code, stderr)
			assert.Regexp(t, tt.out, out)
			assert.True(t, strings.HasPrefix(stderr, tt.stderr), "stderr: %q", stderr)
			if tt.code != 0 {
				assert.Equal(t, tt.stderr, stderr)
			}
		})
	}
}

// TestTicketRedactsEchoedKeys: a log where a server echoed a key, in the
// escapings redact covers, in any field, prints none of it.
func TestTicketRedactsEchoedKeys(t *testing.T) {
	t.Parallel()
	secret := "Zq7" + strings.Repeat("k", 25) + "WXYZ"
	key := "idc_" + secret
	echoes := []string{key, "idc%5F" + secret, "IDC%255f" + secret, `idc\u005f` + secret, `idc\\u005f` + secret}
	var buf bytes.Buffer
	logger := from(t1400, zapProduction)(&buf)
	for i, echo := range echoes {
		for attempt := 1; attempt <= 2; attempt++ {
			logger.Error(schema.Failed, zap.String("request_id", "req-"+strconv.Itoa(i)), zap.String("method", "GET"),
				zap.String("url", "https://api.example.com/api/v1/public/keys/"+echo+"?x="+echo+"&y=%69dc_"+secret),
				zap.Int("attempt", attempt), zap.String("error", "upstream refused key "+echo), zap.String("error_type", echo),
				zap.Strings("errors", []string{"key " + echo}), zap.String("body", `{"error":"invalid key `+echo+`"}`),
				zap.String("hint", "Check the key "+echo), zap.Duration("retry_in", time.Duration(2-attempt)*time.Second))
		}
	}
	logger.Error(schema.Summarized, zap.String("method", "GET"), zap.String("route", "/x/"+key), zap.String("error", key),
		zap.Int("suppressed", 2), zap.String("first_request_id", key), zap.String("last_request_id", "idc%5F"+secret))
	// JSON's own escape of the underscore, written by hand.
	buf.WriteString(`{"level":"warn","ts":1772373700,"msg":"identitycall request failed","request_id":"req-json","method":"GET","url":"/k/idc\u005f` +
		secret + `","status":403,"error":"idc\u005f` + secret + `","hint":"idc\u005f` + secret + `"}` + "\n")
	path := filepath.Join(t.TempDir(), "echo.log")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))

	leaked := regexp.MustCompile(`(?i)idc(_|%5f|%255f|\\+u005f)[a-z0-9]`)
	for _, id := range []string{"req-0", "req-1", "req-2", "req-3", "req-4", "req-json", key, "idc%5F" + secret, "nope " + key} {
		code, out, stderr := runCLI(t, map[string]string{"IDENTITYCALL_EMAIL": "ops+" + key + "@example.com"}, "", "ticket", "-log", path, id)
		assert.Equal(t, map[bool]int{true: 1, false: 0}[strings.HasPrefix(id, "nope")], code, stderr)
		assert.Contains(t, out+stderr, "idc_****WXYZ", "the mask shows which key it was")
		assert.NotContains(t, out+stderr, secret[:28], id)
		assert.NotRegexp(t, leaked, out+stderr, id)
		assert.NotRegexp(t, rawKey, out+stderr, id)
	}
}

func TestTicketUsage(t *testing.T) {
	t.Parallel()
	paths, ids := supportLogs(t)
	missing := filepath.Join(t.TempDir(), "missing.log")
	tests := []struct {
		env         map[string]string
		args        []string
		code        int
		out, stderr string // contained
	}{
		{nil, []string{"-h"}, 0, "", "Usage: idctrace ticket [-log FILE]... [-email you@example.com] REQUEST_ID"},
		{nil, []string{}, 2, "", "idctrace ticket: want one request ID, got 0 arguments"},
		{nil, []string{"a", "b"}, 2, "", "idctrace ticket: want one request ID, got 2 arguments"},
		{nil, []string{"-log", missing, "a"}, 1, "", "idctrace ticket: open " + missing + ": no such file or directory"},
		{nil, []string{"-log", paths[0], ids[0]}, 0, "\nRequest ID:  " + ids[0] + "\n", emailNote},
		{nil, []string{ids[0], "-log", paths[0]}, 0, "\nRequest ID:  " + ids[0] + "\n", emailNote},
		{map[string]string{"IDENTITYCALL_EMAIL": "env@example.com"}, []string{"-log", paths[0], ids[0]}, 0, "\nAccount:     env@example.com\n", ""},
		{map[string]string{"IDENTITYCALL_EMAIL": "env@example.com"}, []string{"-log", paths[0], "-email", "a@b.c\nInjected: x", ids[0]}, 0,
			"\nAccount:     a@b.c Injected: x\n", ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			code, out, stderr := runCLI(t, tt.env, "", append([]string{"ticket"}, tt.args...)...)
			assert.Equal(t, tt.code, code, stderr)
			assert.Contains(t, out, tt.out)
			assert.Contains(t, stderr, tt.stderr)
			if tt.stderr == "" {
				assert.Empty(t, stderr)
			}
		})
	}
}

// TestTicketRedactsTheLogsURL: a log written by an older version (a value
// after ';' logged in clear) or another tool gets its URL redacted as the
// Transport redacts one.
func TestTicketRedactsTheLogsURL(t *testing.T) {
	t.Parallel()
	const secret = "PlainSecretValue1234"
	line := `{"level":"warn","ts":1764463430.5,"msg":"identitycall request failed","request_id":"rid-review-1",` +
		`"method":"GET","url":"https://api.identitycall.ai/api/v1/public/recordings?page=1;api_key=` + secret +
		`&access_token=` + secret + `","route":"/recordings","status":404,"duration":0.01,` +
		`"started_at":1764463430.49,"attempt":1,"error":"Resource not found"}` + "\n"
	code, out, stderr := runCLI(t, nil, line, "ticket", "-email", "ops@example.com", "rid-review-1")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "rid-review-1")
	assert.NotContains(t, out, secret)
}
