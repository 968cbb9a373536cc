package idctrace

// Failing tests from an adversarial review of the round-3 change
// (git diff 2967b0d..HEAD). Each test names the defect it proves.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// TestReviewRetryWithoutSlotAfterTransportError: a retry that gets no
// rate-limit slot before the deadline is "not sent: the call returns the
// last response" (README, Quotas; WithLimiter's doc), with retry_skipped:
// deadline. When the attempt that failed was a transport error, there is
// no kept response, and call.notSent only sets retry_skipped when c.kept
// != nil: the call returns ErrLocalRateLimit ("not sent ... the server
// never saw it") in place of the connection refused that the server's
// outage caused, and the entry carries no retry_skipped.
func TestReviewRetryWithoutSlotAfterTransportError(t *testing.T) {
	t.Parallel()
	ln := listen(t)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens: connection refused

	log, logs := observed()
	var seen recordAttempts
	var waits atomic.Int32
	tr := New(nil, log, WithObserver(seen.observe),
		WithRetry(RetryPolicy{MaxRetries: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}),
		WithLimiter(limiterFunc(func(ctx context.Context) error {
			if waits.Add(1) > 1 {
				return ErrLocalRateLimit // the retry's slot is past the deadline
			}
			return nil
		})))
	defer tr.Flush()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/api/v1/public/recordings", nil)
	require.NoError(t, err)
	_, err = tr.RoundTrip(req)
	require.Error(t, err)

	assert.ErrorIs(t, err, syscall.ECONNREFUSED, "the call's outcome is the refused connection it met")
	assert.NotErrorIs(t, err, ErrLocalRateLimit, "the request was sent: it must not read as held back by the client")
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "connection_refused", te.ErrorType)

	entries := logs.FilterMessage(LogMessage).All()
	require.NotEmpty(t, entries)
	last := entries[len(entries)-1].ContextMap()
	assert.Equal(t, "deadline", last[FieldRetrySkipped], "the entry says why the refused connection was not retried")
}

// TestReviewWaitCutShortClosesCallerBodyOnce: when the first attempt
// failed and the retry wait is cut short by the context, call.end closes
// the caller's body again (c.n is still 1), although the base got it with
// the first attempt and closed it. A body is closed once on every path
// (TestRetryClosesEachRequestBodyOnce), and the base may still be reading
// it in its own goroutine (net/http writes bodies in writeLoop).
func TestReviewWaitCutShortClosesCallerBodyOnce(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(503, `{"error":"down"}`))
	tr, _, _ := retrying(srv.Client().Transport, testPolicy)
	ctx, cancel := context.WithCancel(context.Background())
	tr.sleep = func(context.Context, time.Duration) error {
		cancel() // the caller gives up during the wait
		return context.Canceled
	}
	body := &closeCounter{Reader: strings.NewReader("payload")}
	req, err := http.NewRequestWithContext(ctx, "PUT", srv.URL+"/api/v1/public/recordings/1", body)
	require.NoError(t, err)
	req.ContentLength = 7
	req.GetBody = func() (io.ReadCloser, error) { return &closeCounter{Reader: strings.NewReader("payload")}, nil }

	_, err = tr.RoundTrip(req)
	require.ErrorIs(t, err, context.Canceled)
	tr.CloseIdleConnections()
	assert.Equal(t, 1, body.count(), "the caller's body is closed once, by the base that sent it")
}

// TestReviewFailOpenWarningRedactsURLPassword: the fail-open warning's
// error field is the Limiter's error text through redact.Text with no
// secrets, and redact.Text does not know URL passwords in free text. A
// store error naming its URL (a client's dial error, a proxy's) puts the
// store's password in the log.
func TestReviewFailOpenWarningRedactsURLPassword(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(200, "ok"))
	log, logs := observed()
	const password = "Sup3rS3cretRedisPass"
	tr := New(srv.Client().Transport, log, WithLimiter(&fakeLimiter{
		err: errors.New("dial redis://default:" + password + "@cache.internal:6379: connection refused")}))
	resp, err := tr.RoundTrip(newRequest(t, "GET", srv.URL+"/api/v1/public/recordings"))
	require.NoError(t, err)
	readAll(t, resp)
	warnings := logs.FilterMessage(LimiterMessage).All()
	require.Len(t, warnings, 1)
	assert.NotContains(t, warnings[0].ContextMap()[FieldError], password)
}

// TestReviewNotSentRedactsURLPassword: the same text path for a limiter
// error that wraps ErrLocalRateLimit: the "not sent: ..." entry, the
// error's text and the ticket carry the store's password.
func TestReviewNotSentRedactsURLPassword(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(200, "ok"))
	log, logs := observed()
	const password = "Sup3rS3cretRedisPass"
	tr := New(srv.Client().Transport, log, WithLimiter(&fakeLimiter{
		err: errors.Join(errors.New("quota store redis://default:"+password+"@cache.internal:6379"), ErrLocalRateLimit)}))
	defer tr.Flush()
	_, err := tr.RoundTrip(newRequest(t, "GET", srv.URL+"/api/v1/public/recordings"))
	require.ErrorIs(t, err, ErrLocalRateLimit)
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.NotContains(t, te.Error(), password)
	assert.NotContains(t, te.SupportTicket(""), password)
	entries := logs.FilterMessage(LogMessage).All()
	require.Len(t, entries, 1)
	assert.NotContains(t, entries[0].ContextMap()[FieldError], password)
}

// TestReviewLearnLimiterForgetsIdleHistory: a Transport with WithRetry and
// no WithLimiter learns its pace from the "cycle" that overflowed, and a
// cycle runs from the first answer after the last pause (or after the
// Transport was made) to the 429: it is not bounded by any window. A
// service that made one call at startup and overflows a 20-a-second quota
// with a batch a day later learns a pace of 21 requests a day, 1 every 72
// minutes, for ever ("nothing teaches a faster one"): from then on every
// call with a deadline under an hour waits or fails with ErrLocalRateLimit.
func TestReviewLearnLimiterForgetsIdleHistory(t *testing.T) {
	t.Parallel()
	l := newPauser()
	var now time.Duration
	l.clock = func() time.Duration { return now }
	at := func(d time.Duration) time.Time { return l.base.Add(d) }

	l.answered(http.StatusOK, at(0)) // the service's first call
	day := 24 * time.Hour
	for i := range 20 { // a day later, a batch fills the window of a second
		l.answered(http.StatusOK, at(day+time.Duration(i)*time.Millisecond))
	}
	now = day + 30*time.Millisecond
	l.answered(http.StatusTooManyRequests, at(now))
	l.Pause(at(day + time.Second)) // the window reopens

	t.Logf("learned a slot every %v", l.interval)
	assert.LessOrEqual(t, l.interval, 2*spacing(20, time.Second),
		"the pace comes from the window that overflowed, not from a day of idle history")
	now = day + time.Second
	deadline := now + 5*time.Second
	for i := range 10 {
		_, err := l.take(now, deadline)
		require.NoError(t, err, "request %d after the pause, 5 s before its deadline, against a quota of 20 a second", i+1)
	}
}

// blockingSummaries is a core that records entries and holds every
// summary's write until release is closed.
type blockingSummaries struct {
	zapcore.LevelEnabler
	entered chan struct{} // closed when a summary's write begins
	release chan struct{}
	once    sync.Once
	written atomic.Int32 // summaries written
}

func (c *blockingSummaries) With([]zapcore.Field) zapcore.Core { return c }
func (c *blockingSummaries) Sync() error                       { return nil }
func (c *blockingSummaries) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	return ce.AddCore(e, c)
}

func (c *blockingSummaries) Write(e zapcore.Entry, _ []zapcore.Field) error {
	if e.Message == SummaryMessage {
		c.once.Do(func() { close(c.entered) })
		<-c.release
		c.written.Add(1)
	}
	return nil
}

// TestReviewFlushWaitsForTheTimersSummary: the timer's take writes the
// summaries it took after it unlocks; a Flush meanwhile finds nothing
// pending and returns before they are written. At shutdown (Flush, then
// logger.Sync, then exit) that summary is lost; with zaptest's logger it
// lands after the test, where write's recover drops it. It also makes
// TestLogLimitManyCallersAtOnce flaky: go test -run
// TestLogLimitManyCallersAtOnce -count=1000 fails about 40 times (5 with
// -race), counting e.g. 433 of 600 right after Flush and 600 50 ms later.
func TestReviewFlushWaitsForTheTimersSummary(t *testing.T) {
	t.Parallel()
	core := &blockingSummaries{LevelEnabler: zapcore.DebugLevel, entered: make(chan struct{}), release: make(chan struct{})}
	tr := New(stubRT{status: 503, body: stringBody(`{"error":"down"}`)}, zap.New(core), WithLogLimit(1, 5*time.Millisecond))
	stormCalls(t, tr, 3, "GET", "/recordings") // one entry, two counted: the timer writes their summary
	finishes(t, "the timer's summary write", func() { <-core.entered })

	flushed := make(chan struct{})
	released := make(chan struct{})
	go func() {
		defer close(released)
		select { // a correct Flush blocks until the write ends: let it end
		case <-flushed:
		case <-time.After(time.Second):
		}
		close(core.release)
	}()
	tr.Flush()
	written := core.written.Load()
	close(flushed)
	<-released
	assert.EqualValues(t, 1, written, "when Flush returns, the summary the timer took is written")
	finishes(t, "the summary write", func() {
		for core.written.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
	})
}

// TestReviewObserverPanicClosesTheRetrysBody: call.attempt gets the
// retry's body from GetBody (c.request) before c.retried tells the
// observers of the kept attempt; when one panics there, the new body is
// never sent and never closed: RoundTrip must close the request body on
// every path (TestObserverPanicReachesTheCaller checks responses only).
func TestReviewObserverPanicClosesTheRetrysBody(t *testing.T) {
	t.Parallel()
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Body != nil {
			r.Body.Close()
		}
		return &http.Response{StatusCode: 503, Body: io.NopCloser(strings.NewReader(`{"error":"down"}`)), Header: http.Header{}, Request: r}, nil
	})
	tr, _, _ := retrying(base, RetryPolicy{MaxRetries: 1, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond})
	WithObserver(func(Attempt) { panic("observer bug") }).apply(tr)
	var mu sync.Mutex
	var bodies []*closeCounter
	newBody := func() (io.ReadCloser, error) {
		mu.Lock()
		defer mu.Unlock()
		b := &closeCounter{Reader: strings.NewReader("payload")}
		bodies = append(bodies, b)
		return b, nil
	}
	first, _ := newBody()
	req, err := http.NewRequest("PUT", "http://h/api/v1/public/recordings/1", first)
	require.NoError(t, err)
	req.ContentLength, req.GetBody = 7, newBody
	assert.PanicsWithValue(t, "observer bug", func() { tr.RoundTrip(req) })
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, bodies, 2, "the first body, and the retry's from GetBody")
	for i, b := range bodies {
		assert.Equal(t, 1, b.count(), "body of attempt %d is closed once", i+1)
	}
}

// TestReviewFailureBodyGivesWhatArrived: a failure body's first Read waits
// for the prefix read to end (16 KiB or the end of the body), however long
// that takes, even past the body-read bound. A server that sends a whole
// JSON error and keeps the stream open (a proxy holding a chunked body, a
// streaming endpoint) then hangs a caller that decodes one object with
// json.Decoder: bare net/http gives it the bytes that arrived at once.
// STYLE: "never hold the response back waiting for a slow body".
func TestReviewFailureBodyGivesWhatArrived(t *testing.T) {
	t.Parallel()
	srv := newServer(t, "HTTP/1.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(503)
		io.WriteString(w, `{"error":"Service unavailable"}`)
		http.NewResponseController(w).Flush()
		<-r.Context().Done() // the stream stays open
	}))
	for _, wrapped := range []bool{false, true} {
		client := srv.Client()
		if wrapped {
			client = WrapClient(client, zap.NewNop(), WithBodyReadTimeout(20*time.Millisecond))
		}
		resp, err := client.Get(srv.URL + "/api/v1/public/recordings")
		require.NoError(t, err)
		decoded := make(chan error, 1)
		go func() {
			var v struct{ Error string }
			decoded <- json.NewDecoder(resp.Body).Decode(&v)
		}()
		select {
		case err := <-decoded:
			assert.NoError(t, err, "wrapped: %v", wrapped)
			resp.Body.Close()
		case <-time.After(3 * time.Second): // bare net/http decodes in microseconds
			t.Errorf("wrapped: %v: the caller's Read still waits for bytes that already arrived", wrapped)
			resp.Body.Close()
			<-decoded
		}
	}
}

// TestReviewPageRequestIDIsRedacted: the debug page redacts ?email= (its
// account) but shows ?request_id= as given, in its title, a hidden input
// and the "not held" notice: a key pasted in the wrong box, or sent in a
// link, is on the page whole. Everything on the page is to be redacted.
func TestReviewPageRequestIDIsRedacted(t *testing.T) {
	t.Parallel()
	rec := NewRecorder(0)
	standardFailures(t, rec)
	page := readAll(t, get(rec, "GET", "/debug/identitycall?request_id="+testKey))
	assertNoKey(t, page)
}

// TestReviewLearnLimiterNeverLearnsFaster: "A later overflow ... teaches a
// slower pace; nothing teaches a faster one." After a pace is learned, a
// 429 that opens a new pause with no success before it (cur.ok == 0: the
// account's quota was spent by another client) keeps the old cycle as
// l.last, and every success answered during the new pause is added to
// that old cycle (count's second branch), whose learn() then paces faster
// and faster, from answers that have nothing to do with that cycle.
func TestReviewLearnLimiterNeverLearnsFaster(t *testing.T) {
	t.Parallel()
	l := newPauser()
	var now time.Duration
	l.clock = func() time.Duration { return now }
	ms := func(n int) time.Time { return l.base.Add(time.Duration(n) * time.Millisecond) }
	for i := range 10 {
		l.answered(http.StatusOK, ms(i))
	}
	l.answered(http.StatusTooManyRequests, ms(20))
	l.Pause(ms(1000))
	learned := l.interval
	require.Equal(t, spacing(10, time.Second), learned)

	// After the pause, the first answer is a 429: another client spent the
	// quota. A new pause; requests in flight are answered during it.
	l.answered(http.StatusTooManyRequests, ms(1000))
	l.Pause(ms(2000))
	for i := range 30 {
		l.answered(http.StatusOK, ms(1100+i))
	}
	assert.GreaterOrEqual(t, l.interval, learned, "no pace faster than the one learned")
}
