package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/idctest"
	"github.com/identitycall/idctrace/internal/schema"
)

// The service log the docs read (testdata/docs/service.log) is real
// idctrace output: a service's calls through idctrace.New to the
// simulator, logged by zap's production JSON encoder with readable times.
// What would change from run to run is made fixed:
//   - request IDs come from a seeded generator;
//   - each call starts at a time the scenario names (virtual time, which
//     the simulator's clock and the logger's follow), and the entries'
//     started_at, duration, retry_in and ts, which the Transport measures
//     on the real clock, are rewritten from those (see normalizeLog);
//   - the two loopback ports are replaced by fixed ones.

// Fixed values of the service log.
var (
	logStart   = time.Date(2026, 3, 2, 9, 14, 0, 0, time.UTC)
	simPort    = "41873" // the simulator's
	downPort   = "41874" // where nothing listens
	docsPolicy = idctrace.RetryPolicy{MaxRetries: 2, BaseDelay: 200 * time.Millisecond, MaxDelay: time.Minute}
)

// Durations the normalised log gives the attempts: a response took
// respTook, a refused connection refusedTook.
const (
	respTook    = 38 * time.Millisecond
	refusedTook = time.Millisecond
)

// virtualClock is the scenario's time: it moves only when the scenario
// says. It is a zapcore.Clock, and the simulator's clock.
type virtualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *virtualClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *virtualClock) NewTicker(d time.Duration) *time.Ticker { return time.NewTicker(d) }

// serviceLog is what the scenario logged, and what normalizeLog needs to
// rewrite it.
type serviceLog struct {
	raw     []byte
	starts  map[string]time.Time // each request ID's call start, in virtual time
	ports   *strings.Replacer    // the real ports by the fixed ones, in one pass
	ticket  string               // the request ID of the call the docs' ticket shows (503, 503, 404)
	limited string               // the request ID of the call that got a 429
}

// runService makes the calls of a service's bad day through idctrace and
// returns its log, as written:
//   - GET /recordings?status=completed: a 503, retried into a success;
//   - GET /recordings/{id}: 503, 503, then 404 (retries spent);
//   - an upload job while the API is unreachable: 40 refused connections,
//     3 entries and a storm summary;
//   - a paging job without a limiter: the Free plan's 429, returned at once
//     to a call with a 30 s timeout.
func runService(t *testing.T) *serviceLog {
	t.Helper()
	clock := &virtualClock{t: logStart}
	srv := idctest.NewServer(idctest.WithServiceDefaults(), idctest.WithClock(clock.Now))
	defer srv.Close()
	key := srv.NewKey(idctest.Read, idctest.Write)
	down := "http://" + refusedAddr(t) + idctest.BasePath

	out := &serviceLog{starts: map[string]time.Time{}, ports: strings.NewReplacer(
		"127.0.0.1:"+portOf(srv.URL), "127.0.0.1:"+simPort, "127.0.0.1:"+portOf(down), "127.0.0.1:"+downPort)}
	ids := rand.NewChaCha8([32]byte{'i', 'd', 'c', 't', 'r', 'a', 'c', 'e'})
	var mu sync.Mutex
	newID := func() string {
		mu.Lock()
		defer mu.Unlock()
		id := uuid.Must(uuid.NewRandomFromReader(ids)).String()
		out.starts[id] = clock.Now()
		return id
	}

	var buf bytes.Buffer
	cfg := zap.NewProductionEncoderConfig()
	cfg.EncodeTime = zapcore.ISO8601TimeEncoder
	cfg.EncodeDuration = zapcore.StringDurationEncoder
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(cfg), zapcore.Lock(zapcore.AddSync(&buf)), zapcore.InfoLevel),
		zap.WithClock(clock))
	transport := &http.Transport{}
	client := &http.Client{Timeout: 30 * time.Second, Transport: idctrace.New(transport, logger,
		idctrace.WithRetry(docsPolicy), idctrace.WithIDGenerator(newID), idctrace.WithLogLimit(3, time.Minute))}
	defer transport.CloseIdleConnections()

	// call makes one call and returns its request ID and status (0: an error).
	call := func(method, url string, body io.Reader, contentType string) (string, int) {
		req, err := http.NewRequestWithContext(context.Background(), method, url, body)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := client.Do(req)
		if err != nil {
			id := idctrace.RequestIDFromError(err)
			require.NotEmpty(t, id, "%v", err)
			return id, 0
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		require.NoError(t, err)
		return idctrace.RequestID(resp), resp.StatusCode
	}

	clock.advance(1200 * time.Millisecond)
	logger.Info("service started", zap.String("version", "2.4.1"))

	clock.advance(3 * time.Second)
	srv.Inject(1, idctest.Fault{Route: "GET /recordings", Status: http.StatusServiceUnavailable})
	_, status := call(http.MethodGet, srv.URL+"/recordings?status=completed", nil, "")
	require.Equal(t, http.StatusOK, status, "the 503 was retried")

	clock.advance(2*time.Second + 417*time.Millisecond)
	srv.Inject(2, idctest.Fault{Route: "GET /recordings/{id}", Status: http.StatusServiceUnavailable})
	out.ticket, status = call(http.MethodGet, srv.URL+"/recordings/4815", nil, "")
	require.Equal(t, http.StatusNotFound, status)

	clock.advance(1*time.Minute + 13*time.Second)
	logger.Info("upload job started", zap.Int("files", 40), zap.String("base_url", down))
	for i := range 40 {
		clock.advance(25 * time.Millisecond)
		body, contentType := uploadBody(t, fmt.Sprintf("call-%02d.wav", i+1))
		_, status := call(http.MethodPost, down+"/recordings", body, contentType)
		require.Equal(t, 0, status, "nothing listens at %s", down)
	}

	clock.advance(12 * time.Second)
	for page := 1; ; page++ {
		clock.advance(150 * time.Millisecond)
		id, status := call(http.MethodGet, fmt.Sprintf("%s/recordings?page=%d", srv.URL, page), nil, "")
		if status == http.StatusTooManyRequests {
			out.limited = id
			break
		}
		require.Equal(t, http.StatusOK, status)
		require.LessOrEqual(t, page, 61, "the Free plan's quota is 60 a minute")
	}

	clock.advance(2 * time.Second)
	logger.Info("service stopping")
	client.CloseIdleConnections() // writes the storm's summary
	require.NoError(t, logger.Sync())
	out.raw = buf.Bytes()
	return out
}

// portOf is the port of a base URL such as http://127.0.0.1:41873/api/v1/public.
func portOf(base string) string {
	host := strings.TrimPrefix(base, "http://")
	host, _, _ = strings.Cut(host, "/")
	_, port, _ := net.SplitHostPort(host)
	return port
}

// uploadBody is the multipart body of a recording's upload.
func uploadBody(t *testing.T, name string) (io.Reader, string) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	require.NoError(t, w.WriteField("project_id", "1"))
	part, err := w.CreateFormFile("file", name)
	require.NoError(t, err)
	_, err = part.Write([]byte("RIFF....WAVE"))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return bytes.NewReader(body.Bytes()), w.FormDataContentType()
}

// normalizeLog rewrites what the Transport measured on the real clock:
// each call's first attempt starts when the scenario made the call; a
// response took respTook, a transport error refusedTook; a backoff
// (retry_in, when the real one is within the policy's jittered range) is
// the one a jitter of 7/10 gives; a retry starts when the wait before it
// ends; an entry is written (ts) when its attempt ends; a summary's
// first_at and last_at are when its calls started. The ports become fixed
// ones. Nothing else changes (see checkOnlyTimesChanged).
func normalizeLog(t *testing.T, l *serviceLog) string {
	t.Helper()
	raw := l.ports.Replace(string(l.raw))
	next := map[string]time.Time{} // when the next attempt of a call starts
	var out strings.Builder
	for line := range strings.Lines(raw) {
		var e struct {
			Msg            string `json:"msg"`
			RequestID      string `json:"request_id"`
			Attempt        int    `json:"attempt"`
			Status         int    `json:"status"`
			RetryIn        string `json:"retry_in"`
			RetryAfter     string `json:"retry_after"`
			FirstRequestID string `json:"first_request_id"`
			LastRequestID  string `json:"last_request_id"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &e), line)
		switch e.Msg {
		case schema.Failed:
			started, ok := next[e.RequestID]
			if e.Attempt == 1 {
				started, ok = l.starts[e.RequestID]
			}
			require.True(t, ok, "the start of attempt %d of %s", e.Attempt, e.RequestID)
			took := respTook
			if e.Status == 0 {
				took = refusedTook
			}
			// The log's Transport has no quota limiter: a queued of a
			// millisecond or more is a loaded machine's scheduling, not a wait.
			line = regexp.MustCompile(`"`+schema.Queued+`":"[^"]*",`).ReplaceAllLiteralString(line, "")
			line = setField(t, line, schema.StartedAt, started.Format(zapTime))
			line = setField(t, line, schema.Duration, took.String())
			line = setField(t, line, "ts", started.Add(took).Format(zapTime))
			var wait time.Duration
			if e.RetryIn != "" {
				wait = backoff(t, e.Attempt, e.RetryIn)
				if e.RetryAfter != "" && e.RetryIn == e.RetryAfter {
					wait = mustDuration(t, e.RetryIn) // the server's, not a backoff
				}
				line = setField(t, line, schema.RetryIn, wait.String())
			}
			next[e.RequestID] = started.Add(took + wait)
		case schema.Summarized:
			first, ok1 := l.starts[e.FirstRequestID]
			last, ok2 := l.starts[e.LastRequestID]
			require.True(t, ok1 && ok2, line)
			line = setField(t, line, schema.FirstAt, first.Format(zapTime))
			line = setField(t, line, schema.LastAt, last.Format(zapTime))
		}
		out.WriteString(line)
	}
	return out.String()
}

// zapTime is the layout of zapcore.ISO8601TimeEncoder.
const zapTime = "2006-01-02T15:04:05.000Z0700"

// backoff checks that retry_in, before the given attempt's retry, is a
// backoff of docsPolicy, jittered in [d/2, d], and returns the one a
// jitter of 7/10 gives, as the root package's golden ticket does.
func backoff(t *testing.T, attempt int, retryIn string) time.Duration {
	t.Helper()
	d := min(docsPolicy.BaseDelay<<(attempt-1), docsPolicy.MaxDelay)
	got := mustDuration(t, retryIn)
	require.True(t, d/2 <= got && got <= d, "retry_in %v after attempt %d: want a backoff in [%v, %v]", got, attempt, d/2, d)
	return d/2 + (d-d/2)*7/10
}

func mustDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	require.NoError(t, err)
	return d
}

// setField replaces the string value of key in a JSON line.
func setField(t *testing.T, line, key, value string) string {
	t.Helper()
	re := regexp.MustCompile(`"` + regexp.QuoteMeta(key) + `":"[^"]*"`)
	require.Len(t, re.FindAllString(line, -1), 1, "%s in %s", key, line)
	return re.ReplaceAllLiteralString(line, `"`+key+`":"`+value+`"`)
}
