package idcredis

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/identitycall/idctrace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBadStateHeals is the finding: a value in the key that cannot
// be right (a restore, another tool, a key collision) stalled the fleet:
// every Wait with a deadline returned ErrLocalRateLimit, and the key kept
// no TTL. Now the next call overwrites it, so a Wait with a deadline is
// admitted, and the key carries a TTL.
func TestBadStateHeals(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	rdb := srv.client(t)
	now := time.Now()
	tenYears := strconv.FormatInt(now.AddDate(10, 0, 0).UnixMicro(), 10)
	nanos := strconv.FormatInt(now.UnixNano(), 10)
	for _, tc := range []struct{ name, field, value string }{
		{"fresh key", "", ""}, // its TTL is checked too
		{"next not a number", "next", "not a number"},
		{"next inf", "next", "inf"},
		{"next -inf", "next", "-inf"},
		{"next nan", "next", "nan"},
		{"next 1e300", "next", "1e300"},
		{"next negative", "next", "-5"},
		{"next ten years ahead", "next", tenYears},
		{"next in nanoseconds", "next", nanos},
		{"until not a number", "until", "not a number"},
		{"until inf", "until", "inf"},
		{"until nan", "until", "nan"},
		{"until 1e300", "until", "1e300"},
		{"until ten years ahead", "until", tenYears},
		{"until in nanoseconds", "until", nanos},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			key := "quota:bad:" + tc.name
			if tc.field != "" {
				require.NoError(t, rdb.HSet(ctx, key, tc.field, tc.value).Err()) // no TTL, as a restore or a tool leaves it
			}
			l := patient(NewLimiter(rdb, key, 10, time.Second))
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			assert.NoError(t, l.Wait(wctx), "admitted: the value was overwritten")

			ttl, err := rdb.PTTL(ctx, key).Result()
			require.NoError(t, err)
			assert.Positive(t, ttl, "the key carries a TTL")
			assert.LessOrEqual(t, ttl, 2*time.Second, "a second past the next slot")
			fields, err := rdb.HGetAll(ctx, key).Result()
			require.NoError(t, err)
			for _, f := range []string{"next", "until"} {
				if _, ok := fields[f]; !ok {
					continue
				}
				v, err := strconv.ParseInt(fields[f], 10, 64)
				if assert.NoError(t, err, "%s=%q", f, fields[f]) {
					assert.LessOrEqual(t, v, time.Now().Add(time.Second).UnixMicro(), "%s is the one slot taken, or none", f)
					assert.GreaterOrEqual(t, v, int64(0), f)
				}
			}
		})
	}
}

// TestPauseHealsBadState: a pause also overwrites a value that cannot be
// right, and its key carries a TTL.
func TestPauseHealsBadState(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	rdb := srv.client(t)
	ctx := context.Background()
	require.NoError(t, rdb.HSet(ctx, "quota:bad-pause", "next", "inf", "until", "1e300").Err())
	l := patient(NewLimiter(rdb, "quota:bad-pause", 10, time.Second))
	<-l.pause(time.Now().Add(200 * time.Millisecond)).done
	ttl, err := rdb.PTTL(ctx, "quota:bad-pause").Result()
	require.NoError(t, err)
	assert.Positive(t, ttl)
	assert.LessOrEqual(t, ttl, 2*time.Second)
	require.NoError(t, l.Wait(ctx))
}

// TestKeyTakenByAnotherType is the finding: a key holding another
// application's string turned the quota off for good (WRONGTYPE, and the
// Transport failed open). Now the key is never overwritten, Wait returns an
// error that says the key is taken (not ErrLocalRateLimit: a Transport
// sends, paced locally, as TestFailingOpenKeepsAPace shows), and so does
// the next Wait once the store is asked again.
func TestKeyTakenByAnotherType(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	rdb := srv.client(t)
	ctx := context.Background()
	for _, kind := range []string{"string", "list"} {
		key := "quota:taken:" + kind
		if kind == "string" {
			require.NoError(t, rdb.Set(ctx, key, "another application's", 0).Err())
		} else {
			require.NoError(t, rdb.RPush(ctx, key, "another application's").Err())
		}
		l := patient(NewLimiter(rdb, key, 10, time.Second))
		forget := func() { // ask the store again at once
			l.mu.Lock()
			l.down = time.Time{}
			l.mu.Unlock()
		}
		err := l.Wait(ctx)
		assert.ErrorContains(t, err, "taken", kind)
		assert.NotErrorIs(t, err, idctrace.ErrLocalRateLimit, kind)
		forget()
		<-l.pause(time.Now().Add(10 * time.Millisecond)).done
		forget()
		assert.ErrorContains(t, l.Wait(ctx), "taken", kind)

		typ, err := rdb.Type(ctx, key).Result()
		require.NoError(t, err)
		assert.Equal(t, kind, typ, "never overwritten")
		ttl, err := rdb.TTL(ctx, key).Result()
		require.NoError(t, err)
		assert.Equal(t, time.Duration(-1), ttl, "its TTL untouched")
	}
}
