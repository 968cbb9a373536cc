package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/internal/schema"
)

// stepClock is a zapcore.Clock that moves one second at each entry, so
// that a log of real traffic has times a test can name.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func (c *stepClock) NewTicker(d time.Duration) *time.Ticker { return time.NewTicker(d) }

// from returns newLog with entries timed by a stepClock that starts at t.
func from(t time.Time, newLog func(io.Writer) *zap.Logger) func(io.Writer) *zap.Logger {
	clock := &stepClock{t: t}
	return func(w io.Writer) *zap.Logger { return newLog(w).WithOptions(zap.WithClock(clock)) }
}

var t1400 = time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)

// supportLogs writes the logs of a service as an engineer gets them: a zap
// log from 14:00:01, a compressed slog log from 14:10:01, and a zap log of
// storm summaries at 14:20. It returns their paths and the request IDs of
// the 404s, first and last.
func supportLogs(t *testing.T) (paths []string, ids [2]string) {
	zapLog, zapIDs := logFile(t, "service.log", from(t1400, zapProduction))
	slogLog, slogIDs := logFile(t, "service-slog.log", from(t1400.Add(10*time.Minute), slogJSON))
	var buf bytes.Buffer
	logger := from(t1400.Add(20*time.Minute), zapProduction)(&buf)
	at := t1400.Add(20 * time.Minute)
	summaryLine(logger, "/recordings/{id}", 0, "connection_refused", 1234, at.Add(250*time.Millisecond), at.Add(950*time.Millisecond))
	summaryLine(logger, "/projects", 500, "", 7, at.Add(time.Second), at.Add(1900*time.Millisecond))
	storm := filepath.Join(t.TempDir(), "storm.log")
	require.NoError(t, os.WriteFile(storm, buf.Bytes(), 0o600))
	return []string{zapLog, gzipFile(t, slogLog, "service-slog.log.1.gz"), storm}, [2]string{zapIDs[0], slogIDs[0]}
}

func logArgs(paths []string) []string {
	var args []string
	for _, p := range paths {
		args = append(args, "-log", p)
	}
	return args
}

func TestReport(t *testing.T) {
	t.Parallel()
	paths, _ := supportLogs(t)
	code, out, stderr := runCLI(t, nil, "", append([]string{"report"}, logArgs(paths)...)...)
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stderr)
	assert.Equal(t, `METHOD  ENDPOINT          STATUS              FAILURES  FIRST (UTC)          LAST (UTC)           HINT
GET     /recordings/{id}  connection_refused  1238      2026-03-01 14:00:06  2026-03-01 14:20:00  Check the base URL and port, and any proxy: nothing accepted the connection.
GET     /projects         500                 9         2026-03-01 14:00:04  2026-03-01 14:20:01
GET     /recordings       401                 2         2026-03-01 14:00:03  2026-03-01 14:10:03
GET     /recordings/{id}  404                 2         2026-03-01 14:00:02  2026-03-01 14:10:02
Read 16 lines from 3 logs: 10 failure entries, 2 storm summaries; 4 lines skipped (4 not idctrace entries, 0 unreadable, 0 longer than 1 MiB).
`, out)

	// The same log from standard input.
	zapLog, err := os.ReadFile(paths[0])
	require.NoError(t, err)
	code, out, stderr = runCLI(t, nil, string(zapLog), "report")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "GET     /recordings/{id}  connection_refused  2         2026-03-01 14:00:06  2026-03-01 14:00:07  Check the base URL")
	assert.Contains(t, out, "Read 7 lines from 1 log: 5 failure entries, 0 storm summaries; 2 lines skipped")
}

func TestReportJSON(t *testing.T) {
	t.Parallel()
	paths, ids := supportLogs(t)
	code, out, stderr := runCLI(t, nil, "", append([]string{"report", "-json"}, logArgs(paths)...)...)
	require.Equal(t, 0, code, stderr)
	var got struct {
		Failures []row
		Lines    int
		Skipped  int
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	assert.Equal(t, 16, got.Lines)
	assert.Equal(t, 4, got.Skipped)
	require.Len(t, got.Failures, 4)
	refused := got.Failures[0]
	assert.Equal(t, "connection_refused", refused.Cause)
	assert.Equal(t, 1238, refused.Failures)
	assert.Equal(t, 4, refused.Entries)
	assert.Equal(t, 1234, refused.Suppressed)
	assert.Equal(t, "last-/recordings/{id}", refused.LastRequestID, "the summary's last ID is the latest")
	assert.Equal(t, t1400.Add(20*time.Minute+950*time.Millisecond), refused.Last)
	assert.Contains(t, refused.LastError, "connect: connection refused")
	notFound := got.Failures[3]
	assert.Equal(t, 404, notFound.Status)
	assert.Equal(t, ids[0], notFound.FirstRequestID)
	assert.Equal(t, ids[1], notFound.LastRequestID)
	assert.Equal(t, t1400.Add(2*time.Second), notFound.First)
}

func TestReportSince(t *testing.T) {
	t.Parallel()
	paths, _ := supportLogs(t)
	now := func() time.Time { return t1400.Add(25 * time.Minute) }
	tests := []struct {
		since string
		want  []string // the failures of each row, most first
		left  int
	}{
		{"", []string{"1238", "9", "2", "2"}, 0},
		{"26m", []string{"1238", "9", "2", "2"}, 0},
		{"20m", []string{"1236", "8", "1", "1"}, 5},
		{"2026-03-01T14:10:00Z", []string{"1236", "8", "1", "1"}, 5},
		{"2026-03-01T15:10:00+01:00", []string{"1236", "8", "1", "1"}, 5},
		{"2026-03-01 14:15:00", []string{"1234", "7"}, 10},
		{"1m", nil, 1251},
	}
	for _, tt := range tests {
		t.Run(tt.since, func(t *testing.T) {
			t.Parallel()
			code, out, stderr := runSys(t, &system{now: now}, nil, append([]string{"report", "-since", tt.since}, logArgs(paths)...)...)
			require.Equal(t, 0, code, stderr)
			var failures []string
			for _, m := range regexp.MustCompile(`(?m)^GET +\S+ +\S+ +(\d+) `).FindAllStringSubmatch(out, -1) {
				failures = append(failures, m[1])
			}
			assert.Equal(t, tt.want, failures, out)
			if tt.left > 0 {
				assert.Contains(t, out, "; "+plural(tt.left, "failure")+" before -since left out;")
			}
			if tt.want == nil {
				assert.True(t, strings.HasPrefix(out, "No failures.\n"), out)
			}
		})
	}
}

// TestReportRedactsEchoedKeys: a log where a server echoed a key, in the
// escapings redact covers, prints none of it, in the table or in JSON.
func TestReportRedactsEchoedKeys(t *testing.T) {
	t.Parallel()
	secret := "Zq7" + strings.Repeat("k", 25) + "WXYZ"
	key := "idc_" + secret
	var buf bytes.Buffer
	logger := from(t1400, zapProduction)(&buf)
	for _, echo := range []string{key, "idc%5F" + secret, "IDC%255f" + secret, `idc\u005f` + secret, `idc\\u005f` + secret} {
		logger.Warn(schema.Failed, zap.String("request_id", "req-"+echo), zap.String("method", "GET"),
			zap.String("url", "https://api.example.com/api/v1/public/keys/"+echo+"?x=1"),
			zap.Int("status", 401), zap.String("error", "invalid key "+echo), zap.String("body", `{"error":"invalid key `+echo+`"}`),
			zap.String("hint", "Check the key "+echo))
		logger.Error(schema.Failed, zap.String("request_id", "req-"+echo), zap.String("method", "POST"),
			zap.String("route", "/recordings"), zap.String("error", "proxy refused key "+echo))
		logger.Error(schema.Summarized, zap.String("method", "GET"), zap.String("route", "/x/"+echo), zap.String("error", echo),
			zap.Int("suppressed", 2), zap.String("first_request_id", echo), zap.String("last_request_id", echo))
	}
	// The same, written by hand: JSON's own escape of the underscore.
	buf.WriteString(`{"level":"warn","ts":1772373700,"msg":"identitycall request failed","request_id":"idc\u005f` + secret + `","method":"GET","url":"/k/idc\u005f` + secret + `","status":403,"hint":"idc\u005f` + secret + `"}` + "\n")
	path := filepath.Join(t.TempDir(), "echo.log")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))

	leaked := regexp.MustCompile(`(?i)idc(_|%5f|%255f|\\+u005f)[a-z0-9]`)
	for _, args := range [][]string{{"report", "-log", path}, {"report", "-json", "-log", path}} {
		code, out, stderr := runCLI(t, nil, "", args...)
		require.Equal(t, 0, code, stderr)
		assert.Contains(t, out, "idc_****WXYZ", "the mask shows which key it was")
		assert.NotContains(t, out+stderr, secret[:28])
		assert.NotRegexp(t, leaked, out+stderr)
		assert.NotRegexp(t, rawKey, out+stderr)
	}
}

// TestReportOfARealStorm: the Transport's storm limit writes a few entries
// and summaries of the rest; the report counts every failure, each in the
// kind the Transport gave it.
func TestReportOfARealStorm(t *testing.T) {
	t.Parallel()
	refused := "http://" + refusedAddr(t)
	drop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer drop.Close()
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error":"Service unavailable"}`)
	}))
	defer unavailable.Close()

	var buf bytes.Buffer
	logger := zapProduction(zapcore.Lock(zapcore.AddSync(&buf)))
	transport := &http.Transport{}
	// A window of an hour: no summary is written before the flush.
	client := idctrace.WrapClient(&http.Client{Transport: transport}, logger, idctrace.WithLogLimit(3, time.Hour))
	calls := []struct {
		url string
		n   int
	}{
		{refused + "/api/v1/public/recordings", 40},
		{drop.URL + "/api/v1/public/projects", 25},
		{unavailable.URL + "/api/v1/public/recordings/rec_1", 30},
	}
	for _, c := range calls {
		for range c.n {
			resp, err := client.Get(c.url)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}
	client.CloseIdleConnections() // flushes the summaries
	path := filepath.Join(t.TempDir(), "storm.log")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))

	code, out, stderr := runCLI(t, nil, "", "report", "-json", "-log", path)
	require.Equal(t, 0, code, stderr)
	var got struct {
		Failures           []row
		Entries, Summaries int
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	assert.Equal(t, 9, got.Entries, "three of each kind")
	assert.Equal(t, 3, got.Summaries)
	want := []row{
		{Method: "GET", Endpoint: "/recordings", Cause: "connection_refused", Failures: 40, Entries: 3, Suppressed: 37},
		{Method: "GET", Endpoint: "/recordings/{id}", Status: 503, Failures: 30, Entries: 3, Suppressed: 27},
		{Method: "GET", Endpoint: "/projects", Cause: "connection_reset", Failures: 25, Entries: 3, Suppressed: 22},
	}
	require.Len(t, got.Failures, len(want), out)
	for i, w := range want {
		g := got.Failures[i]
		assert.Equal(t, w, row{Method: g.Method, Endpoint: g.Endpoint, Status: g.Status, Cause: g.Cause,
			Failures: g.Failures, Entries: g.Entries, Suppressed: g.Suppressed})
		assert.False(t, g.Last.Before(g.First))
		assert.NotEmpty(t, g.LastRequestID)
	}
}

func TestReportUsage(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing.log")
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"report", "-h"}, 0, "Usage: idctrace report [-log FILE]... [-since DURATION|TIME] [-json]"},
		{[]string{"report", "service.log"}, 2, `idctrace report: unexpected argument "service.log"; logs are given with -log`},
		{[]string{"report", "-since", "yesterday"}, 2, `idctrace report: -since "yesterday": want a duration (90m, 24h) or a time (2026-03-01T14:00:00Z)`},
		{[]string{"report", "-since", "-5m"}, 2, "idctrace report: -since -5m: want a duration back from now, such as 90m"},
		{[]string{"report", "-log", missing}, 1, "idctrace report: open " + missing + ": no such file or directory"},
		{[]string{"report", "-bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"report", "idc_" + strings.Repeat("u", 32)}, 2, "idc_****uuuu"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			code, out, stderr := runCLI(t, nil, "", tt.args...)
			assert.Equal(t, tt.code, code)
			assert.Empty(t, out)
			assert.Contains(t, stderr, tt.want)
			assert.NotRegexp(t, rawKey, stderr)
		})
	}
	code, out, _ := runCLI(t, nil, "no log lines here\n", "report")
	assert.Equal(t, 0, code)
	assert.Equal(t, "No failures.\nRead 1 line from 1 log: 0 failure entries, 0 storm summaries; 1 line skipped (1 not idctrace entries, 0 unreadable, 0 longer than 1 MiB).\n", out)
}

// goodLines writes n failure entries of GET /recordings 503, a second
// apart from t1400.
func goodLines(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"level":"error","ts":%d,"msg":"identitycall request failed","request_id":"r-%d","method":"GET","route":"/recordings","status":503}`+"\n",
			t1400.Unix()+int64(i), i)
	}
	return b.String()
}

// TestReportSkipsABadLine: one implausible line among 1,000 good ones is
// counted as unreadable, in the table and in JSON alike. Before, a "ts" of
// -1e300 made report -json print nothing and exit 1 (Time.MarshalJSON:
// year outside of range).
func TestReportSkipsABadLine(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{
		`{"level":"error","ts":-1e300,"msg":"identitycall request failed","method":"GET","route":"/recordings","status":503}`,
		`{"level":"error","ts":1772373600,"msg":"identitycall request failures summarized","method":"GET","route":"/recordings","status":503,"suppressed":-5}`,
		`{"level":"error","ts":1772373600,"msg":"identitycall request failed","method":"GET","route":"/recordings","status":503,"duration":-1}`,
	} {
		log := goodLines(500) + bad + "\n" + goodLines(500)
		code, out, stderr := runCLI(t, nil, log, "report", "-json")
		require.Equal(t, 0, code, stderr)
		var got struct {
			Failures   []row
			Entries    int
			Unreadable int `json:"skipped_unreadable"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &got), out)
		assert.Equal(t, 1000, got.Entries)
		assert.Equal(t, 1, got.Unreadable)
		require.Len(t, got.Failures, 1)
		assert.Equal(t, 1000, got.Failures[0].Failures)
		assert.Equal(t, t1400, got.Failures[0].First)

		code, out, stderr = runCLI(t, nil, log, "report")
		require.Equal(t, 0, code, stderr)
		assert.Contains(t, out, "GET     /recordings  503     1000      2026-03-01 14:00:00")
		assert.Contains(t, out, "1 line skipped (0 not idctrace entries, 1 unreadable, 0 longer than 1 MiB).")
	}
	_, _, help := runCLI(t, nil, "", "report", "-h")
	assert.Contains(t, help, "So is an entry that cannot be right, counted as\nunreadable, in the table and in JSON alike", "the rule is documented")
}

// TestReportSumsSaturate: counts stop at the largest int64. Before,
// summaries of MaxInt64-1 and 5 failures made a row of
// -9223372036854775806.
func TestReportSumsSaturate(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := from(t1400, zapProduction)(&buf)
	for _, n := range []int{math.MaxInt64 - 1, 5, math.MaxInt64} {
		summaryLine(logger, "/projects", 500, "", n, t1400, t1400.Add(time.Second))
	}
	buf.WriteString(goodLines(2))
	code, out, stderr := runCLI(t, nil, buf.String(), "report", "-json")
	require.Equal(t, 0, code, stderr)
	var got struct{ Failures []row }
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	require.Len(t, got.Failures, 2)
	assert.Equal(t, math.MaxInt64, got.Failures[0].Failures)
	assert.Equal(t, math.MaxInt64, got.Failures[0].Suppressed)
	assert.Equal(t, 2, got.Failures[1].Failures)

	code, out, _ = runSys(t, &system{now: func() time.Time { return t1400.Add(time.Hour) }, stdin: strings.NewReader(buf.String())}, nil, "report", "-since", "1m")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "; 9223372036854775807 failures before -since left out;")
}

// TestReportRowsAreBounded: a path that is no documented endpoint makes
// one row, not one per ID in it (before: 10,000 rows for 10,000 IDs); kinds
// beyond the first maxRows are summed in one last row; a row counts at
// most maxHints hint texts.
func TestReportRowsAreBounded(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	line := func(url, errorType, hint string) {
		fmt.Fprintf(&b, `{"level":"error","ts":1772373600,"msg":"identitycall request failed","method":"GET","url":%q,"error_type":%q,"hint":%q}`+"\n",
			url, errorType, hint)
	}
	for i := range 10000 {
		line(fmt.Sprintf("https://h/api/v1/public/widgets/wid_%d/parts/%x?page=%d", i, i*7919, i), "dns", fmt.Sprintf("hint %d", i%50))
	}
	line("https://h/api/v1/public/widgets/wid_1/parts/a", "dns", "hint 0")
	for i := range maxRows + 50 {
		line("https://h/api/v1/public/widgets", fmt.Sprint("cause-", i), "")
	}
	code, out, stderr := runCLI(t, nil, b.String(), "report", "-json")
	require.Equal(t, 0, code, stderr)
	var got struct{ Failures []row }
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	require.Len(t, got.Failures, maxRows+1)
	first := got.Failures[0]
	assert.Equal(t, "/api/v1/public/widgets/{id}/parts/{id}", first.Endpoint)
	assert.Equal(t, 10000, first.Failures)
	assert.True(t, slices.ContainsFunc(got.Failures, func(r row) bool { return r.Endpoint == "/api/v1/public/widgets/{id}/parts/a" }),
		"a segment without a digit stays")
	other := got.Failures[maxRows]
	assert.True(t, other.Other)
	assert.Equal(t, "(other kinds)", other.Endpoint)
	assert.Equal(t, 52, other.Failures, "the causes read after the 100th kind: the first two kinds are widgets' parts")
	total := 0
	for _, r := range got.Failures {
		total += r.Failures
	}
	assert.Equal(t, 10001+maxRows+50, total, "every failure is in a row")

	r := &report{groups: make(map[groupKey]*group)}
	_, err := readLogs(nil, strings.NewReader(b.String()), r.add)
	require.NoError(t, err)
	for _, g := range r.groups {
		assert.LessOrEqual(t, len(g.hints), maxHints)
	}
	assert.Equal(t, "hint 0", commonest(r.groups[groupKey{method: "GET", endpoint: first.Endpoint, cause: "dns"}].hints))

	code, out, _ = runCLI(t, nil, b.String(), "report")
	require.Equal(t, 0, code)
	assert.Regexp(t, `\n-       \(other kinds\)  +-  +52  `, out)
}

// TestReportMemoryIsBounded: a report keeps a bounded part of each entry,
// in a bounded number of rows: 150 kinds of failure whose lines hold 128
// KiB of fields each grow the heap by less than 10 MiB (1.9 MiB when
// written; before, each row kept its entry's texts whole, 22 MiB). Not
// parallel: it reads the heap.
func TestReportMemoryIsBounded(t *testing.T) {
	heap := heapMiB
	before := heap()
	pr, pw := io.Pipe()
	go func() {
		big := strings.Repeat("x", 32<<10)
		for i := range 150 {
			fmt.Fprintf(pw, `{"level":"error","ts":1772373600,"msg":"identitycall request failed","method":"GET","url":"/w/%s","error_type":"%d%s","hint":"%d%s","error":"%s"}`+"\n",
				big, i, big, i, big, big)
		}
		pw.Close()
	}()
	r := &report{groups: make(map[groupKey]*group)}
	stats, err := readLogs(nil, pr, r.add)
	require.NoError(t, err)
	grew := heap() - before
	t.Logf("the heap grew by %.1f MiB for %d kinds of failure with 128 KiB of fields each", grew, stats.entries)
	assert.Equal(t, 150, stats.entries)
	assert.Len(t, r.groups, maxRows, "a kind for each cause")
	assert.Less(t, grew, 10.0)
	runtime.KeepAlive(r)
}
