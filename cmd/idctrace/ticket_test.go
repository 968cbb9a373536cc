package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/identitycall/idctrace"
)

// refuseSecond is a Limiter that lets the first attempt go and not the
// second: it gives no slot before the deadline, or with cancel set, ends
// the call's context. Either way the retry is not sent.
type refuseSecond struct {
	cancel context.CancelFunc
	n      atomic.Int32
}

func (l *refuseSecond) Wait(ctx context.Context) error {
	if l.n.Add(1) == 1 {
		return nil
	} else if l.cancel == nil {
		return idctrace.ErrLocalRateLimit
	}
	l.cancel()
	return ctx.Err()
}

func (l *refuseSecond) Pause(time.Time) {}

// TestTicketIsSupportTicket: the ticket `idctrace ticket` writes from the
// log of a real call is the SupportTicket of the error the call returned.
func TestTicketIsSupportTicket(t *testing.T) {
	t.Parallel()
	bodies := map[int]string{404: `{"error":"Resource not found"}`, 429: `{"error":"Rate limit exceeded","retry_after":30}`,
		503: `{"error":"Service unavailable"}`, 502: "<html>Bad Gateway</html>"}
	tests := []struct {
		name    string
		newLog  func(io.Writer) *zap.Logger
		replies []int // the server's, in order; none: the connection is refused
		notSent int   // the second attempt is not sent: 1, the context ends; 2, no rate-limit slot
		exact   bool  // the log keeps times to the nanosecond
	}{
		{"zap production: 503, 503, 404", zapProduction, []int{503, 503, 404}, 0, false},
		{"slog JSON: 503, 503, 404", slogJSON, []int{503, 503, 404}, 0, true},
		{"zap production: 404", zapProduction, []int{404}, 0, false},
		{"zap production: 502 page, 429", zapProduction, []int{502, 502, 429}, 0, false},
		{"zap production: 503, then canceled", zapProduction, []int{503}, 1, false},
		{"slog JSON: 503, then no slot", slogJSON, []int{503}, 2, true},
		{"zap production: refused three times", zapProduction, nil, 0, false},
		{"slog JSON: refused three times", slogJSON, nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				status := tt.replies[min(int(n.Add(1)), len(tt.replies))-1]
				w.WriteHeader(status)
				io.WriteString(w, bodies[status])
			}))
			defer srv.Close()
			base := srv.URL
			if tt.replies == nil {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				require.NoError(t, err)
				base = "http://" + ln.Addr().String()
				ln.Close()
			}
			path := filepath.Join(t.TempDir(), "service.log")
			f, err := os.Create(path)
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var spans []span // the observer runs on the call's goroutine
			opts := []idctrace.Option{
				idctrace.WithRetry(idctrace.RetryPolicy{MaxRetries: 2, BaseDelay: 2 * time.Millisecond, MaxDelay: 50 * time.Millisecond}),
				idctrace.WithObserver(func(a idctrace.Attempt) { spans = append(spans, span{a.Start, a.Duration, a.RetryIn}) }),
			}
			if refuse := (&refuseSecond{cancel: cancel}); tt.notSent > 0 {
				refuse.cancel = map[int]context.CancelFunc{1: cancel}[tt.notSent]
				opts = append(opts, idctrace.WithLimiter(refuse))
			}
			tr := idctrace.New(srv.Client().Transport, tt.newLog(f), opts...)
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/public/recordings/rec_1?page=2", nil)
			require.NoError(t, err)
			resp, err := tr.RoundTrip(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				err = idctrace.CheckResponse(resp)
			}
			require.NoError(t, f.Close())
			var apiErr *idctrace.APIError
			var te *idctrace.TransportError
			var failed interface{ SupportTicket(string) string }
			if errors.As(err, &te) {
				failed = te
				if te.Attempt > len(spans) {
					spans = append(spans, span{te.Time, te.Duration, 0}) // not sent: not observed
				}
			} else {
				require.ErrorAs(t, err, &apiErr)
				failed = apiErr
			}
			code, out, stderr := runCLI(t, nil, "", "ticket", "-email", "ops@example.com", "-log", path, idctrace.RequestIDFromError(err))
			require.Equal(t, 0, code, stderr)
			assert.Empty(t, stderr)
			want := failed.SupportTicket("ops@example.com")
			if tt.notSent == 2 {
				// The call returns the 503 it could not retry. Its ticket stops
				// there; the log's goes on to the attempt that was not sent.
				attempts := regexp.MustCompile(`(?m)^(Attempts:|  \d\. .*|Waited: .*)\n`)
				assert.Equal(t, attempts.ReplaceAllString(want, ""), attempts.ReplaceAllString(out, ""))
				assert.Regexp(t, `\n  1\. .+  503 Service Unavailable  .+, retried after .+\n  2\. .+  local_rate_limit  took 0s.*\nWaited: `, out)
			} else if tt.exact {
				assert.Equal(t, want, out)
			} else {
				sameTicket(t, want, out, spans)
			}
			if len(spans) > 1 {
				assert.Contains(t, out, "\nAttempts:\n  1. ")
			}
		})
	}
}

// span is an attempt as the Transport measured it.
type span struct {
	start             time.Time
	duration, retryIn time.Duration
}

// timing finds the times and durations of a ticket.
var timing = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ|\d\d:\d\d:\d\d\.\d{3}|(\d+(\.\d+)?(h|ms|µs|ns|m|s))+`)

// sameTicket asserts that got, the ticket from a zap production log, is
// want, the SupportTicket, but for what that log cannot keep: it writes
// times as float seconds since 1970, which keep about a microsecond, so a
// time (truncated to the second or the millisecond) or a duration computed
// from two of them (rounded to the millisecond) may show one unit apart.
// Each such difference must be explained: an exact value, as the
// Transport measured it, lies within 2µs (2ns for a duration shown in
// microseconds) of where the shown value changes.
func sameTicket(t *testing.T, want, got string, spans []span) {
	t.Helper()
	require.Equal(t, timing.ReplaceAllString(want, "#"), timing.ReplaceAllString(got, "#"), "all but times and durations")
	first, last := spans[0], spans[len(spans)-1]
	times := map[string][]time.Time{time.RFC3339: {first.start}}                 // by the layout that shows them
	durations := []time.Duration{last.start.Add(last.duration).Sub(first.start)} // Waited
	for _, s := range spans {
		times["15:04:05.000"] = append(times["15:04:05.000"], time.Date(0, 1, 1, s.start.Hour(), s.start.Minute(), s.start.Second(), s.start.Nanosecond(), time.UTC))
		durations = append(durations, s.duration, s.retryIn)
	}
	near := func(d, unit time.Duration) bool { return d.Abs() < unit/500 }
	wantTokens, gotTokens := timing.FindAllString(want, -1), timing.FindAllString(got, -1)
	for i, w := range wantTokens {
		g, explained := gotTokens[i], false
		if w == g {
			continue
		}
		for layout, exact := range times {
			a, errA := time.Parse(layout, w)
			b, errB := time.Parse(layout, g)
			if errA != nil || errB != nil {
				continue
			}
			unit, edge := time.Second, a // a value from edge on shows as the later of the two
			if b.After(a) {
				edge = b
			}
			if layout != time.RFC3339 {
				unit = time.Millisecond
			}
			for _, x := range exact {
				explained = explained || a.Sub(b).Abs() == unit && near(x.Sub(edge), time.Millisecond)
			}
		}
		if a, err := time.ParseDuration(w); err == nil {
			b, err := time.ParseDuration(g)
			require.NoError(t, err)
			unit := time.Millisecond
			if min(a, b) < time.Millisecond {
				unit = time.Microsecond
			}
			for _, d := range durations {
				explained = explained || (a-b).Abs() == unit && near(d-(a+b)/2, unit)
			}
		}
		assert.True(t, explained, "%s in the ticket from the log, %s in SupportTicket: not the log's precision\nwant\n%s\ngot\n%s", g, w, want, got)
		t.Logf("%s in the ticket from the log, %s in SupportTicket: an exact value is that near where they change", g, w)
	}
}

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
			logger.Error(idctrace.LogMessage, zap.String("request_id", "req-"+strconv.Itoa(i)), zap.String("method", "GET"),
				zap.String("url", "https://api.example.com/api/v1/public/keys/"+echo+"?x="+echo+"&y=%69dc_"+secret),
				zap.Int("attempt", attempt), zap.String("error", "upstream refused key "+echo), zap.String("error_type", echo),
				zap.Strings("errors", []string{"key " + echo}), zap.String("body", `{"error":"invalid key `+echo+`"}`),
				zap.String("hint", "Check the key "+echo), zap.Duration("retry_in", time.Duration(2-attempt)*time.Second))
		}
	}
	logger.Error(idctrace.SummaryMessage, zap.String("method", "GET"), zap.String("route", "/x/"+key), zap.String("error", key),
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

// TestTicketOfSharedID: a service that gives its own request ID to several
// calls gets a ticket for each, even when their attempts interleave; a log
// given twice counts once.
func TestTicketOfSharedID(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader([]int{503, 404, 404}[min(n.Add(1), 3)-1]) // 503: the first call's first attempt
	}))
	defer srv.Close()
	var buf bytes.Buffer
	client := idctrace.WrapClient(srv.Client(), zapProduction(&buf), idctrace.WithRetry(idctrace.RetryPolicy{MaxRetries: 1, BaseDelay: time.Millisecond, MaxDelay: time.Second}))
	ctx := idctrace.ContextWithRequestID(context.Background(), "svc-42")
	for _, path := range []string{"/recordings/rec_1", "/projects"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/public"+path, nil)
		require.NoError(t, err)
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
	}
	path := filepath.Join(t.TempDir(), "service.log")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
	code, out, stderr := runCLI(t, nil, "", "ticket", "-log", path, "-log", path, "-email", "ops@example.com", "svc-42")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "idctrace ticket: request ID \"svc-42\" names 2 calls in these logs: a ticket for each, oldest first\n", stderr)
	assert.Regexp(t, `^IdentityCall support request\n(.+\n)+Endpoint:    GET /recordings/\{id\}\n(.+\n)+Attempts:\n  1\. .+  503 Service Unavailable  .+\n  2\. .+  404 Not Found  .+\n(.+\n)+`+
		`\nIdentityCall support request\n(.+\n)+Endpoint:    GET /projects\nStatus:      404 Not Found\nWaited: .+\n$`, out)

	// Two calls of one ID at once, their attempts interleaved: each retry
	// joins the call it follows, by its time.
	at := func(ms int) time.Time { return t1400.Add(time.Duration(ms) * time.Millisecond) }
	entry := func(attempt, start, took, retryIn int) *logEntry {
		return &logEntry{requestID: "svc-42", method: "GET", url: "/x", attempt: attempt, startedAt: at(start),
			duration: time.Duration(took) * time.Millisecond, retryIn: time.Duration(retryIn) * time.Millisecond}
	}
	a1, b1, b2, a2, a3 := entry(1, 0, 10, 100), entry(1, 5, 10, 20), entry(2, 35, 10, 0), entry(2, 110, 10, 200), entry(3, 320, 10, 0)
	assert.Equal(t, [][]*logEntry{{a1, a2, a3}, {b1, b2}}, calls([]*logEntry{a3, b2, a2, b1, a1}))
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
