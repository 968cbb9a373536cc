package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identitycall/idctrace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
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

// queueFirst holds the first attempt for d, as a limiter with no slot free
// would, and admits every attempt after it at once.
type queueFirst struct {
	d time.Duration
	n atomic.Int32
}

func (l *queueFirst) Wait(context.Context) error {
	if l.n.Add(1) == 1 {
		time.Sleep(l.d)
	}
	return nil
}

func (l *queueFirst) Pause(time.Time) {}

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
		queue   bool  // the first attempt waits 20 ms for a rate-limit slot
	}{
		{"zap production: 503, 503, 404", zapProduction, []int{503, 503, 404}, 0, false, false},
		{"slog JSON: 503, 503, 404", slogJSON, []int{503, 503, 404}, 0, true, false},
		{"zap production: 404", zapProduction, []int{404}, 0, false, false},
		{"zap production: 502 page, 429", zapProduction, []int{502, 502, 429}, 0, false, false},
		{"zap production: 503, then canceled", zapProduction, []int{503}, 1, false, false},
		{"slog JSON: 503, then no slot", slogJSON, []int{503}, 2, true, false},
		{"zap production: refused three times", zapProduction, nil, 0, false, false},
		{"slog JSON: refused three times", slogJSON, nil, 0, true, false},
		{"slog JSON: queued, 503, 404", slogJSON, []int{503, 404}, 0, true, true},
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
				base = "http://" + refusedAddr(t)
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
			if tt.queue {
				opts = append(opts, idctrace.WithLimiter(&queueFirst{d: 20 * time.Millisecond}))
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
	f := &finder{}
	assert.Equal(t, [][]*logEntry{{a1, a2, a3}, {b1, b2}}, f.calls(f.recent([]*logEntry{a3, b2, a2, b1, a1})))
}

// oneIDEntries returns n entries of request ID "svc-42": calls of three
// attempts each, 10 ms apart, as a service that sends a constant ID logs
// them.
func oneIDEntries(n int) []*logEntry {
	out := make([]*logEntry, n)
	for i := range out {
		at := t1400.Add(time.Duration(i) * 10 * time.Millisecond)
		out[i] = &logEntry{requestID: "svc-42", method: "GET", url: "/api/v1/public/recordings", status: 503, attempt: 1 + i%3,
			startedAt: at, time: at.Add(2 * time.Millisecond), duration: 2 * time.Millisecond, retryIn: 2 * time.Millisecond}
	}
	return out
}

// TestTicketIsLinearInOneIDsEntries counts the comparisons of entries
// that ticket makes for one ID's entries: a constant per entry (about 4.5
// now), and twice the entries cost about twice the comparisons. Before,
// each entry was matched against every call found so far: for calls of
// three attempts n²/6, 16.7 million comparisons for 10,000 entries, 66.7
// for 20,000, 267 for 40,000.
func TestTicketIsLinearInOneIDsEntries(t *testing.T) {
	t.Parallel()
	compared := map[int]int{}
	for _, n := range []int{10000, 20000, 40000} {
		f := newFinder("svc-42")
		most := 0
		for _, e := range oneIDEntries(n) {
			f.add(e)
			most = max(most, len(f.entries))
		}
		tickets, notes := f.tickets("")
		compared[n] = f.compared
		t.Logf("%d entries: %d comparisons, %.1f an entry", n, f.compared, float64(f.compared)/float64(n))
		assert.Less(t, f.compared, 30*n)
		assert.LessOrEqual(t, most, 2*maxKept, "the entries kept")
		require.Len(t, tickets, maxTickets)
		lastCall := (n - 1) - (n-1)%3 // the index of the last first attempt
		assert.Equal(t, t1400.Add(time.Duration(lastCall)*10*time.Millisecond), tickets[maxTickets-1].Time, "the most recent call last")
		assert.Equal(t, fmt.Sprintf(`request ID "svc-42" names %d failure entries in these logs: tickets for the %d most recent calls among its latest %d entries, oldest first`,
			n, maxTickets, maxKept), notes[0])
	}
	assert.Less(t, float64(compared[40000])/float64(compared[20000]), 2.5)
	assert.Less(t, float64(compared[20000])/float64(compared[10000]), 2.5)
}

// TestTicketOfAConstantID: an ID given to many calls gets the tickets of
// its most recent maxTickets, and a note that says so.
func TestTicketOfAConstantID(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for _, e := range oneIDEntries(60) { // 20 calls
		fmt.Fprintf(&b, `{"level":"error","ts":%.6f,"msg":"identitycall request failed","request_id":"svc-42","method":"GET","url":"%s","status":503,"duration":0.002,"started_at":%.6f,"attempt":%d,"retry_in":0.002}`+"\n",
			float64(e.time.UnixMicro())/1e6, e.url, float64(e.startedAt.UnixMicro())/1e6, e.attempt)
	}
	code, out, stderr := runCLI(t, nil, b.String(), "ticket", "-email", "ops@example.com", "svc-42")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, maxTickets, strings.Count(out, "IdentityCall support request\n"))
	assert.True(t, strings.HasPrefix(stderr, `idctrace ticket: request ID "svc-42" names 20 calls in these logs: tickets for the 10 most recent, oldest first`+"\n"), stderr)
	assert.Contains(t, out, "Time:        2026-03-01T14:00:00Z\n", "the 11th call, 300 ms after the first")
	assert.Equal(t, 1, strings.Count(out, "  1. 14:00:00.300  "), "the first call shown")
	assert.NotContains(t, out, "  1. 14:00:00.270  ", "the 10th, not shown")
}

// TestTicketMemoryIsBounded: ticket keeps a bounded part of each entry of
// the ID, and a bounded number of them: 250 entries of one ID with 96 KiB
// of fields each grow the heap by less than 10 MiB (2.8 MiB when written;
// before, every entry whole, 24 MiB). Not parallel: it reads the heap.
func TestTicketMemoryIsBounded(t *testing.T) {
	heap := heapMiB
	before := heap()
	pr, pw := io.Pipe()
	go func() {
		big := strings.Repeat("x", 24<<10)
		for i, e := range oneIDEntries(250) {
			fmt.Fprintf(pw, `{"level":"error","ts":%d,"msg":"identitycall request failed","request_id":"svc-42","method":"GET","url":"/x/%d?q=%s","status":503,"attempt":%d,"hint":"%s","error":"%s","body":"%s"}`+"\n",
				e.time.Unix(), i, big, e.attempt, big, big, big)
		}
		pw.Close()
	}()
	f := newFinder("svc-42")
	stats, err := readLogs(nil, pr, f.add)
	require.NoError(t, err)
	grew := heap() - before
	t.Logf("the heap grew by %.1f MiB for %d entries of one ID with 96 KiB of fields each", grew, stats.entries)
	assert.Equal(t, 250, stats.entries)
	assert.Less(t, grew, 10.0)
	runtime.KeepAlive(f)
}

// TestTicketNotFoundIsBounded: the storm summaries that may hold an ID
// not found are counted in at most maxKinds kinds, and the rest in one
// sum, which stops at the largest int64.
func TestTicketNotFoundIsBounded(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := from(t1400, zapProduction)(&buf)
	for i := range maxKinds + 20 {
		summaryLine(logger, fmt.Sprint("/r", i), 500, "", 2, t1400, t1400.Add(time.Second))
	}
	summaryLine(logger, "/r0", 500, "", math.MaxInt64, t1400, t1400.Add(time.Second))
	f := newFinder("nope")
	stats, err := readLogs(nil, &buf, f.add)
	require.NoError(t, err)
	assert.Len(t, f.counted, maxKinds)
	assert.Equal(t, 40, f.beyond)
	assert.Equal(t, `request ID "nope" not found in 1 log (0 failure entries, 121 storm summaries); storm summaries in these logs counted 9223372036854775807 failures of which it may be one: `+
		`9223372036854775807 GET /r0 500 from 2026-03-01T14:00:00.000Z to 2026-03-01T14:00:01.000Z, `+
		`2 GET /r1 500 from 2026-03-01T14:00:00.000Z to 2026-03-01T14:00:01.000Z, `+
		`2 GET /r2 500 from 2026-03-01T14:00:00.000Z to 2026-03-01T14:00:01.000Z, `+
		`2 GET /r3 500 from 2026-03-01T14:00:00.000Z to 2026-03-01T14:00:01.000Z, `+
		`2 GET /r4 500 from 2026-03-01T14:00:00.000Z to 2026-03-01T14:00:01.000Z, and 95 more kinds, and 40 failures of kinds read after 100 others`,
		f.notFound(&stats))
}
