package idctrace

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLearnLimiterAgainstFixedWindows: without a quota, the first window
// overflows; after the first pause, the limiter paces to what it learned,
// so few requests get 429 and most of the quota gets through.
func TestLearnLimiterAgainstFixedWindows(t *testing.T) {
	t.Parallel()
	for _, s := range []simulation{
		// The case: idctest at 20 a second, 16 workers, 5 s.
		{quota: 20, window: time.Second, workers: 16, length: 5 * time.Second, latency: 5 * time.Millisecond, maxWait: time.Minute},
		{quota: 20, window: time.Second, workers: 16, length: 5 * time.Second, latency: 40 * time.Millisecond, maxWait: time.Minute},
		{quota: 20, window: time.Second, workers: 2, length: 10 * time.Second, latency: 5 * time.Millisecond, maxWait: time.Minute},
		// The plans: Free and Pro, with Internet latencies.
		{quota: 60, window: time.Minute, workers: 16, length: 10 * time.Minute, latency: time.Second, maxWait: time.Minute},
		{quota: 300, window: time.Minute, workers: 8, length: 10 * time.Minute, latency: 300 * time.Millisecond, maxWait: time.Minute},
		// A window shorter than a second: retry_after is exact.
		{quota: 5, window: 100 * time.Millisecond, workers: 32, length: 3 * time.Second, latency: 4 * time.Millisecond, maxWait: time.Minute},
		// The Transport reads a 429's body before it pauses: answers come in between.
		{quota: 20, window: time.Second, workers: 16, length: 5 * time.Second, latency: 5 * time.Millisecond, maxWait: time.Minute, bodyRead: 3 * time.Millisecond},
		{quota: 20, window: time.Second, workers: 16, length: 5 * time.Second, latency: 2 * time.Millisecond, maxWait: time.Minute, bodyRead: 20 * time.Millisecond},
		{quota: 60, window: time.Minute, workers: 16, length: 10 * time.Minute, latency: 300 * time.Millisecond, maxWait: time.Minute, bodyRead: time.Second},
		// Told the time each request was sent rather than answered.
		{quota: 20, window: time.Second, workers: 16, length: 5 * time.Second, latency: 40 * time.Millisecond, maxWait: time.Minute, bySent: true},
		{quota: 60, window: time.Minute, workers: 16, length: 10 * time.Minute, latency: time.Second, maxWait: time.Minute, bySent: true},
		// A pause capped below the window's rest: requests meet a closed window again.
		{quota: 60, window: time.Minute, workers: 16, length: 10 * time.Minute, latency: 100 * time.Millisecond, maxWait: 10 * time.Second},
	} {
		l := newPauser()
		res := s.run(&l.limiter, l, l)
		quota := float64(s.quota) * s.length.Seconds() / s.window.Seconds()
		t.Logf("%d per %v, %d workers, latency ≤ %v, body read in %v, pause ≤ %v, by send time %v: %d sent, %d ok (%.1f %% of the quota), %d answered 429; after the first pause %d sent, %d answered 429; learned a slot every %v",
			s.quota, s.window, s.workers, s.latency, s.bodyRead, s.maxWait, s.bySent, res.sent, res.ok, 100*float64(res.ok)/quota, res.tooMany, res.after, res.after429, l.interval)
		require.Positive(t, res.after, "%+v", s)
		assert.LessOrEqual(t, float64(res.after429), 0.10*float64(res.after), "%+v", s)
		assert.GreaterOrEqual(t, float64(res.ok), 0.5*quota, "%+v", s)
	}
}

func TestLearnLimiterAdmitsAllUntilTheFirst429(t *testing.T) {
	t.Parallel()
	l := newPauser()
	now := time.Second
	l.clock = func() time.Duration { return now }
	for range 1000 {
		slot, err := l.take(now, noDeadline)
		require.NoError(t, err)
		require.Equal(t, now, slot, "no quota known: every request goes at once")
		l.answered(http.StatusOK, l.base.Add(slot))
	}
	assert.Zero(t, l.interval)
}

// TestLearnLimiterLearnsFromTheOverflow follows one overflow step by step:
// answers in the window, a 429 asking for the rest of it, answers that
// arrive after the 429, and another 429 of the same window.
func TestLearnLimiterLearnsFromTheOverflow(t *testing.T) {
	t.Parallel()
	l := newPauser()
	var now time.Duration
	l.clock = func() time.Duration { return now }
	ms := func(n int) time.Time { return l.base.Add(time.Duration(n) * time.Millisecond) }

	for i := range 8 {
		l.answered(http.StatusOK, ms(100+i))
	}
	now = 150 * time.Millisecond
	l.answered(http.StatusTooManyRequests, ms(150))
	l.answered(http.StatusOK, ms(152)) // while the Transport reads the 429's body
	l.Pause(ms(1100))                  // the window opened at 100 ms, and retry_after rounds up
	now = 160 * time.Millisecond
	l.answered(http.StatusOK, ms(155))
	l.answered(http.StatusInternalServerError, ms(158)) // the server counted it too
	l.answered(http.StatusTooManyRequests, ms(160))     // in the same pause: nothing new
	l.Pause(ms(1101))
	assert.Equal(t, spacing(11, time.Second), l.interval, "11 answers from 100 ms to 1100 ms")

	slot, err := l.take(now, noDeadline)
	require.NoError(t, err)
	assert.Equal(t, 1101*time.Millisecond, slot, "nothing before the pause's end")
	next, _ := l.take(now, noDeadline)
	assert.Equal(t, spacing(11, time.Second), next-slot)

	// A later overflow, another client spending the account: 4 answers
	// between 1101 ms and the end of a pause at 2101 ms.
	for i := range 4 {
		l.answered(http.StatusOK, ms(1101+100*i))
	}
	now = 1600 * time.Millisecond
	l.answered(http.StatusTooManyRequests, ms(1550))
	l.Pause(ms(2101))
	assert.Equal(t, spacing(4, time.Second), l.interval, "slower, never faster")
}

func TestLearnLimiterIgnoresACycleWithoutAnswers(t *testing.T) {
	t.Parallel()
	l := newPauser()
	var now time.Duration
	l.clock = func() time.Duration { return now }
	t0 := l.base
	for i := range 5 {
		l.answered(http.StatusOK, t0.Add(time.Duration(i)*time.Millisecond))
	}
	l.answered(http.StatusTooManyRequests, t0.Add(10*time.Millisecond))
	l.Pause(t0.Add(time.Second))
	learned := l.interval
	require.Equal(t, spacing(5, time.Second), learned)

	// The pause was capped below the server's: the first request after it
	// meets the same closed window and learns nothing new.
	now = time.Second
	l.answered(http.StatusTooManyRequests, t0.Add(now))
	l.Pause(t0.Add(2 * time.Second))
	assert.Equal(t, learned, l.interval)
}

// TestLearnLimiterForgetsIdleHistory: a Transport with WithRetry and
// no WithLimiter learns its pace from the "cycle" that overflowed, and a
// cycle runs from the first answer after the last pause (or after the
// Transport was made) to the 429: it is not bounded by any window. A
// service that made one call at startup and overflows a 20-a-second quota
// with a batch a day later learns a pace of 21 requests a day, 1 every 72
// minutes, for ever ("nothing teaches a faster one"): from then on every
// call with a deadline under an hour waits or fails with ErrLocalRateLimit.
func TestLearnLimiterForgetsIdleHistory(t *testing.T) {
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

// TestLearnLimiterNeverLearnsFaster: "A later overflow ... teaches a
// slower pace; nothing teaches a faster one." After a pace is learned, a
// 429 that opens a new pause with no success before it (cur.ok == 0: the
// account's quota was spent by another client) keeps the old cycle as
// l.last, and every success answered during the new pause is added to
// that old cycle (count's second branch), whose learn() then paces faster
// and faster, from answers that have nothing to do with that cycle.
func TestLearnLimiterNeverLearnsFaster(t *testing.T) {
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
