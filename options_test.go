package idctrace

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestWithRetryDelayDefaults(t *testing.T) {
	t.Parallel()
	def := DefaultRetryPolicy()
	for _, tc := range []struct{ base, max, wantBase, wantMax time.Duration }{
		{0, 0, def.BaseDelay, def.MaxDelay},
		{-time.Second, -time.Minute, def.BaseDelay, def.MaxDelay},
		{time.Millisecond, 2 * time.Second, time.Millisecond, 2 * time.Second},
	} {
		tr := New(nil, nil, WithRetry(RetryPolicy{MaxRetries: 1, BaseDelay: tc.base, MaxDelay: tc.max}))
		assert.Equal(t, tc.wantBase, tr.retry.BaseDelay, "BaseDelay %v", tc.base)
		assert.Equal(t, tc.wantMax, tr.retry.MaxDelay, "MaxDelay %v", tc.max)
	}
	assert.Equal(t, RetryPolicy{}, New(nil, nil, WithRetry(RetryPolicy{MaxRetries: 0, BaseDelay: time.Second})).retry)
}
