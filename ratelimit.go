package idctrace

import (
	"net/http"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/identitycall/idctrace/internal/redact"
	"github.com/identitycall/idctrace/internal/schema"
)

// pause stops the limiter until the end of the wait the 429 r records asks
// for: its retry_after, or the documented minute when it says
// nothing, capped at the retry policy's MaxDelay, or a minute without one.
func (t *Transport) pause(r *record) {
	if t.limiter == nil {
		return
	}
	d := defaultRateLimitWait
	if r.hasRetry {
		d = r.waitHint
	}
	maxDelay := t.retry.MaxDelay
	if maxDelay <= 0 {
		maxDelay = time.Minute
	}
	t.limiter.Pause(time.Now().Add(min(d, maxDelay))) // the limiter's clock, not the Transport's seam
}

// failOpen lets an attempt of req go when the limiter could not decide, and
// warns once a minute while that lasts.
func (t *Transport) failOpen(req *http.Request, err error) {
	now := t.now().UnixNano()
	last := t.warnedAt.Load()
	if t.logger == nil || now-last < int64(time.Minute) || !t.warnedAt.CompareAndSwap(last, now) {
		return
	}
	if ce := check(t.logger, zapcore.WarnLevel, schema.LimiterDown); ce != nil {
		// The store's error may quote its URL, or what the request sent.
		write(ce, []zap.Field{zap.String(schema.Error, redact.Text(err.Error(), redact.AppendSecrets(nil, req), false))})
	}
}
