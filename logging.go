package idctrace

import (
	"github.com/identitycall/idctrace/internal/schema"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// write writes r's entry at lvl, with the fields of WithLogFields.
func (t *Transport) write(r *record, lvl zapcore.Level) {
	if ce := check(t.logger, lvl, schema.Failed); ce != nil {
		write(ce, append(r.fields(), r.extra...))
	}
}

// fields is the record as entry fields: the one projection of it that the
// log entry, the Recorder's bundle line and its debug page share.
func (r *record) fields() []zap.Field {
	fields := append(make([]zap.Field, 0, 16),
		zap.String(schema.RequestID, r.requestID),
		zap.String(schema.Method, r.method),
		zap.String(schema.URL, r.url),
	)
	add := func(ok bool, f zap.Field) {
		if ok {
			fields = append(fields, f)
		}
	}
	add(r.route != "", zap.String(schema.Route, r.route))
	add(r.status != 0, zap.Int(schema.Status, r.status))
	fields = append(fields,
		zap.Duration(schema.Duration, r.duration),
		zap.Time(schema.StartedAt, r.started.UTC()),
		zap.Int(schema.Attempt, r.attempt),
	)
	add(r.queued > 0, zap.Duration(schema.Queued, r.queued))
	add(r.message != "", zap.String(schema.Error, r.message))
	add(r.status == 0 && r.errType != "", zap.String(schema.ErrorType, r.errType))
	add(len(r.errs) > 0, zap.Strings(schema.Errors, r.errs))
	add(r.showsRetryAfter(), zap.Duration(schema.RetryAfter, r.retryAfter))
	add(r.body != "", zap.String(schema.Body, r.body))
	add(r.retrying, zap.Duration(schema.RetryIn, r.retryIn))
	add(r.retrySkipped != "", zap.String(schema.RetrySkipped, r.retrySkipped))
	add(r.hint != "", zap.String(schema.Hint, r.hint))
	return fields
}

// enabled, check and write call the logger's cores, which are the caller's
// code: a core that panics must not turn a response into a crash. The
// recover covers those calls only, so that a bug of idctrace's own shows.
func enabled(l *zap.Logger, lvl zapcore.Level) (ok bool) {
	defer func() { _ = recover() }() // a panic leaves ok false
	return l.Core().Enabled(lvl)
}

func check(l *zap.Logger, lvl zapcore.Level, msg string) (ce *zapcore.CheckedEntry) {
	defer func() { _ = recover() }() // a panic leaves ce nil
	return l.Check(lvl, msg)
}

func write(ce *zapcore.CheckedEntry, fields []zap.Field) {
	defer func() { _ = recover() }()
	ce.Write(fields...)
}
