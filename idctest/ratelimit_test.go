package idctest_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identitycall/idctrace/idctest"
)

func TestRateLimit(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t, idctest.WithRateLimit(2, time.Minute))
	key, other := srv.NewKey(idctest.Read), srv.NewKey(idctest.Read)

	assert.Equal(t, 200, call(t, srv, key, "GET", "/recordings", nil).status)
	assert.Equal(t, 200, call(t, srv, key, "GET", "/recordings", nil).status)
	r := call(t, srv, key, "GET", "/recordings", nil)
	require.Equal(t, 429, r.status)
	assert.Equal(t, "Rate limit exceeded", r.json(t)["error"])
	wait := r.json(t)["retry_after"].(float64)
	assert.True(t, wait >= 1 && wait <= 60, "retry_after %v", wait)
	assert.Equal(t, fmt.Sprint(wait), r.header.Get("Retry-After"))
	assert.Equal(t, 200, call(t, srv, other, "GET", "/recordings", nil).status, "limits are per key")
}

// TestRateLimitAsksForTheTimeUntilTheWindowEnds: a 429 asks for the time
// left in the window, in whole seconds rounded up for windows of a second
// or more, exactly below that; a request after that wait is admitted.
func TestRateLimitAsksForTheTimeUntilTheWindowEnds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n     int
		per   time.Duration
		after time.Duration // since the window's first request
		asks  string
		exact bool // a request 1 ns before the wait ends is still refused
	}{
		{1, 100 * time.Millisecond, 60 * time.Millisecond, "0.04", true},
		{1, 100 * time.Millisecond, 0, "0.1", true},
		{3, 10 * time.Millisecond, 9999 * time.Microsecond, "0.000001", true},
		{1, 999 * time.Millisecond, time.Millisecond, "0.998", true},
		{1, time.Second, 0, "1", true},
		{1, time.Second, 400 * time.Millisecond, "1", false},
		{1, 1500 * time.Millisecond, 200 * time.Millisecond, "2", false},
		{1, time.Minute, 59*time.Second + time.Millisecond, "1", false},
		{1, time.Minute, 0, "60", true},
		{2, time.Hour, 30 * time.Minute, "1800", true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d per %v, after %v", tt.n, tt.per, tt.after), func(t *testing.T) {
			t.Parallel()
			var clock fakeClock
			srv := idctest.Start(t, idctest.WithRateLimit(tt.n, tt.per), idctest.WithClock(clock.now))
			key := srv.NewKey(idctest.Read)
			for range tt.n {
				require.Equal(t, 200, call(t, srv, key, "GET", "/recordings", nil).status)
			}
			clock.advance(tt.after)
			r := call(t, srv, key, "GET", "/recordings", nil)
			require.Equal(t, 429, r.status)
			assert.Equal(t, tt.asks, r.header.Get("Retry-After"))
			assert.JSONEq(t, `{"error":"Rate limit exceeded","retry_after":`+tt.asks+`}`, r.body)

			secs, err := strconv.ParseFloat(tt.asks, 64)
			require.NoError(t, err)
			wait := time.Duration(secs * float64(time.Second))
			if tt.exact {
				clock.advance(wait - time.Nanosecond)
				assert.Equal(t, 429, call(t, srv, key, "GET", "/recordings", nil).status, "1 ns early")
				clock.advance(time.Nanosecond)
			} else {
				clock.advance(wait)
			}
			assert.Equal(t, 200, call(t, srv, key, "GET", "/recordings", nil).status, "after the wait asked for")
		})
	}
}

// TestRateLimitOnTheRealClock: the wait a 429 asks for, slept on the real
// clock, is enough.
func TestRateLimitOnTheRealClock(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t, idctest.WithRateLimit(2, 100*time.Millisecond))
	key := srv.NewKey(idctest.Read)
	for round := range 3 {
		r := call(t, srv, key, "GET", "/recordings", nil)
		for sent := 1; r.status == 200 && sent < 100; sent++ {
			r = call(t, srv, key, "GET", "/recordings", nil)
		}
		require.Equal(t, 429, r.status, "round %d", round)
		secs, err := strconv.ParseFloat(r.header.Get("Retry-After"), 64)
		require.NoError(t, err)
		wait := time.Duration(secs * float64(time.Second))
		require.True(t, wait > 0 && wait <= 100*time.Millisecond, "%v", wait)
		time.Sleep(wait)
		require.Equal(t, 200, call(t, srv, key, "GET", "/recordings", nil).status, "round %d, after %v", round, wait)
	}
}
