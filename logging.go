package idctrace

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// LogMessage is the message of the entry written for every failed call.
// Everything that varies goes in fields, where the encoder escapes it.
const LogMessage = "identitycall request failed"

// Field keys of the failure entry.
const (
	FieldRequestID  = "request_id"
	FieldMethod     = "method"
	FieldURL        = "url"
	FieldStatus     = "status"
	FieldDuration   = "duration"
	FieldStartedAt  = "started_at"
	FieldAttempt    = "attempt"
	FieldError      = "error"
	FieldErrors     = "errors"
	FieldRetryAfter = "retry_after"
	FieldBody       = "body"
	FieldRetryIn    = "retry_in"
)

// logFailure writes the entry for one failed attempt: at Warn for a 4xx, at
// Error for a 5xx or a transport error. Fields are built only when the
// logger will write the entry.
func (t *Transport) logFailure(f *failure) {
	if t.logger == nil {
		return
	}
	lvl := zapcore.WarnLevel
	if f.status == 0 || f.status >= 500 {
		lvl = zapcore.ErrorLevel
	}
	ce := check(t.logger, lvl)
	if ce == nil {
		return
	}
	fields := []zap.Field{
		zap.String(FieldRequestID, f.requestID),
		zap.String(FieldMethod, f.method),
		zap.String(FieldURL, f.url),
	}
	if f.status != 0 {
		fields = append(fields, zap.Int(FieldStatus, f.status))
	}
	fields = append(fields,
		zap.Duration(FieldDuration, f.duration),
		zap.Time(FieldStartedAt, f.started.UTC()),
		zap.Int(FieldAttempt, f.attempt),
	)
	if f.message != "" {
		fields = append(fields, zap.String(FieldError, f.message))
	}
	if len(f.errs) > 0 {
		fields = append(fields, zap.Strings(FieldErrors, f.errs))
	}
	if f.showsRetryAfter() {
		fields = append(fields, zap.Duration(FieldRetryAfter, f.retryAfter))
	}
	if f.body != "" {
		fields = append(fields, zap.String(FieldBody, f.body))
	}
	if f.retrying {
		fields = append(fields, zap.Duration(FieldRetryIn, f.retryIn))
	}
	for _, fn := range t.fieldFuncs {
		fields = append(fields, fn(f.sent)...)
	}
	write(ce, fields)
}

// check and write call the logger's cores, which are the caller's code: a
// core that panics must not turn a response into a crash, since the HTTP
// result never depends on the log. The recover covers those calls only, so
// that a bug of idctrace's own still shows.
func check(l *zap.Logger, lvl zapcore.Level) (ce *zapcore.CheckedEntry) {
	defer func() {
		if recover() != nil {
			ce = nil
		}
	}()
	return l.Check(lvl, LogMessage)
}

func write(ce *zapcore.CheckedEntry, fields []zap.Field) {
	defer func() { _ = recover() }()
	ce.Write(fields...)
}
