package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
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
