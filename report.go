package idctrace

import (
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/identitycall/idctrace/internal/redact"
	"github.com/identitycall/idctrace/internal/schema"
)

// report hands the record of a failed attempt, or of a call's end, to the
// Recorder and the log. Whether its entry is written is decided now, in the
// caller's RoundTrip; a record whose body the caller reads is reported when
// the body ends it.
func (t *Transport) report(r *record) {
	lvl := t.levelOf(r)
	entry := t.shouldLog(r, lvl)
	if !entry && t.recorder == nil {
		return // nothing waits for it: decoded only if CheckResponse asks
	}
	publish := func() { t.publish(r, lvl, entry) }
	if r.respBody == nil || !r.respBody.watch(publish, &t.pending) {
		publish()
	}
}

// publish hands the ended record r to the Recorder and, when its entry is
// due, to the log, and drops what only they needed.
func (t *Transport) publish(r *record, lvl zapcore.Level, entry bool) {
	t.recorder.add(r, lvl)
	if entry {
		t.write(r, lvl)
	}
	r.sent, r.secrets = nil, nil
}

// levelOf is the level of r's entry: as WithLevel sets it, between Debug
// and Error, or by default, where a call the limiter held back is at Warn,
// as the 429 it spares.
func (t *Transport) levelOf(r *record) zapcore.Level {
	switch {
	case t.level != nil:
		return max(min(t.level(r.status, r.route), zapcore.ErrorLevel), zapcore.DebugLevel)
	case r.errType == "local_rate_limit":
		return zapcore.WarnLevel
	case r.status == 0 || r.status >= 500:
		return zapcore.ErrorLevel
	case notReady(r.status, r.route):
		return zapcore.DebugLevel
	}
	return zapcore.WarnLevel
}

// notReady reports whether status and route are the documented not-ready
// answer: 422 "Transcription not available" from a recording's
// transcription, results or summary, until its transcription is done.
func notReady(status int, route string) bool {
	pages := []string{"/recordings/{id}/transcription", "/recordings/{id}/results", "/recordings/{id}/summary"}
	return status == http.StatusUnprocessableEntity && slices.Contains(pages, route)
}

// shouldLog decides whether r's entry is written at lvl, or counted into its
// kind's storm summary; the fields of WithLogFields are computed now, in
// the caller's RoundTrip. Nothing is built for an entry the logger would
// not write.
func (t *Transport) shouldLog(r *record, lvl zapcore.Level) bool {
	if t.logger == nil || !enabled(t.logger, lvl) || !t.storm.allow(r, lvl) {
		return false
	}
	if len(t.fieldFuncs) > 0 {
		// The caller's own context, with the request ID: never the
		// Transport's, which holds the record.
		req := r.sent.WithContext(ContextWithRequestID(r.ctx, r.requestID))
		for _, fn := range t.fieldFuncs {
			r.extra = append(r.extra, fn(req)...)
		}
	}
	return true
}

// failOpen lets an attempt of req go when the limiter could not decide, and
// warns once a minute while that lasts.
func (t *Transport) failOpen(req *http.Request, err error) {
	now := t.now() // with its monotonic reading: a wall clock stepped back silences nothing
	last := t.warnedAt.Load()
	if t.logger == nil || last != nil && now.Sub(*last) < time.Minute || !t.warnedAt.CompareAndSwap(last, &now) {
		return
	}
	if ce := check(t.logger, zapcore.WarnLevel, schema.LimiterDown); ce != nil {
		// The store's error may quote its URL, or what the request sent.
		write(ce, []zap.Field{zap.String(schema.Error, redact.Text(err.Error(), redact.AppendSecrets(nil, req), false))})
	}
}
