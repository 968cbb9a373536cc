package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files: testdata/demo.golden and testdata/docs")

// demoRuns are the demo's variants the tests run: the default, the tour,
// and the tour in JSON lines.
var demoRuns = map[string][]string{
	"default": nil,
	"tour":    {"-tour", "-serve-for", "0"},
	"json":    {"-json", "-email", "ops@example.com", "-serve-for", "0"},
}

// TestDemo runs each variant of the demo at once (they mostly wait on
// timers and on the simulator), then checks each.
func TestDemo(t *testing.T) {
	t.Parallel()
	type result struct {
		code        int
		out, stderr string
	}
	results := make(map[string]*result, len(demoRuns))
	var wg sync.WaitGroup
	for name, args := range demoRuns {
		r := new(result)
		results[name] = r
		wg.Go(func() { r.code, r.out, r.stderr = runCLI(t, nil, "", args...) })
	}
	wg.Wait()
	checks := map[string]func(*testing.T, string){"default": checkDefault, "tour": checkTour, "json": checkJSON}
	for name, r := range results {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, 0, r.code, r.stderr)
			checks[name](t, r.out)
		})
	}
}

// checkDefault checks the demo as 'go run ./cmd/idctrace' runs it, and
// compares its output, normalised, with testdata/demo.golden: docs/cli.md
// quotes that file.
func checkDefault(t *testing.T, out string) {
	assert.LessOrEqual(t, strings.Count(out, "\n"), 80, "the demo fits a screen")
	assert.NotRegexp(t, rawKey, out, "no key in the demo's output")
	checkStorm(t, out)

	got := normalize(out)
	golden := filepath.Join("testdata", "demo.golden")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run 'go test ./cmd/idctrace -run TestDemo -update' to write it")
	assert.Equal(t, string(want), got, "the demo's output changed: check it, then rewrite the golden file with -update")
}

// checkStorm checks the storm's figures, which the golden file cannot:
// they depend on timing.
func checkStorm(t *testing.T, out string) {
	t.Helper()
	m := regexp.MustCompile(`(\d+) failed attempts, not 800.*\n.* (\d+) log lines: (\d+) entries, then summaries counting the other (\d+) `).
		FindStringSubmatch(out)
	require.Len(t, m, 5, out)
	var n [5]int
	for i, s := range m[1:] {
		n[i+1], _ = strconv.Atoi(s)
	}
	attempts, lines, entries, suppressed := n[1], n[2], n[3], n[4]
	assert.Less(t, attempts, 400, "the retry budget held the storm's retries")
	// 11 a second: a slow machine may spread the storm over a few seconds.
	assert.Less(t, lines, attempts/4, "the storm limit held the lines")
	assert.Greater(t, lines, entries, "a summary follows the entries")
	assert.Equal(t, attempts, entries+suppressed, "entries and the summaries' counts add up to the failures")
}

// normalize replaces what varies from run to run: request IDs (each by a
// fixed one, the same ID by the same), ports, times, durations, and the
// counts that depend on timing.
func normalize(out string) string {
	ids := map[string]string{}
	out = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`).ReplaceAllStringFunc(out, func(id string) string {
		if ids[id] == "" {
			ids[id] = fmt.Sprintf("00000000-0000-0000-0000-%012d", len(ids)+1)
		}
		return ids[id]
	})
	for _, r := range []struct{ re, with string }{
		{`127\.0\.0\.1:\d+`, "127.0.0.1:<port>"},
		{`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`, "<time>"},
		{`\b(\d+(\.\d+)?(h|m|s|ms|µs|ns))+\b`, "<duration>"},
		{`\d+ failed attempts, not`, "<n> failed attempts, not"},
		{`\d+ log lines: \d+ entries, then summaries counting the other \d+`,
			"<n> log lines: <n> entries, then summaries counting the other <n>"},
		{`\d+ answered 429`, "<n> answered 429"},
	} {
		out = regexp.MustCompile(r.re).ReplaceAllString(out, r.with)
	}
	return out
}

func checkTour(t *testing.T, out string) {
	for _, want := range []string{
		"=> 201 Created", "=> 200 OK",
		"401 Unauthorized: Invalid or expired API key", "the request had no Authorization header",
		"403 Forbidden: Delete permission required", "Use an API key with delete permission",
		"403 Forbidden: Project-scoped API keys cannot create or destroy projects",
		"404 Not Found: Resource not found", "Check the base URL",
		"422 Unprocessable Entity: file is required",
		"422 Unprocessable Entity: External id is too long (maximum is 255 characters); Language is not supported",
		"422 Unprocessable Entity: phone_number is required",
		"DEBUG  client  identitycall request failed", "422 Unprocessable Entity: Transcription not available",
		"429 Too Many Requests: Rate limit exceeded", `"status": 429`, `"retry_in": "1s"`,
		`"status": 503`, `"status": 500`, "400 Bad Request: per_page must be between 1 and 100",
		"identitycall request failures summarized", "failed attempts, not 800",
		"-- debug page (Recorder is an http.Handler): http://127.0.0.1:", "=> 40 created, ", "failed attempts on it, up for 0s",
		"context deadline exceeded", "Hint:        No response within",
		"IdentityCall support request", "Account:     you@example.com", "Endpoint:    GET /recordings/{id}",
		"Cause:       context deadline exceeded",
		`"bundle":"identitycall-failures"`,
		"GET    /recordings                              429  2", "GET    /projects                                transport error  1",
	} {
		assert.Contains(t, out, want)
	}
	assert.NotRegexp(t, rawKey, out, "no key in the demo's output")
	assert.NotContains(t, out, `Get "http`, "errors are printed as idctrace's, without http.Client's raw URL")
	checkStorm(t, out)

	// Every failure's request ID shows on both sides, but for the storm's,
	// which no server answered.
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "identitycall request failed") && !strings.Contains(line, "connection_refused") {
			id := regexp.MustCompile(`"request_id": "([^"]+)"`).FindStringSubmatch(line)
			require.Len(t, id, 2, line)
			assert.Contains(t, out, `server  request  {"request_id": "`+id[1]+`"`)
		}
	}
}

func checkJSON(t *testing.T, out string) {
	var entries int
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, `{"level"`) {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &m), line)
			entries++
		}
	}
	assert.Greater(t, entries, 20, "-json shows the tour's entries")
	assert.Contains(t, out, "Account:     ops@example.com")
}
