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
	FieldRoute      = "route"
	FieldStatus     = "status"
	FieldDuration   = "duration"
	FieldStartedAt  = "started_at"
	FieldAttempt    = "attempt"
	FieldError      = "error"
	FieldErrors     = "errors"
	FieldRetryAfter = "retry_after"
	FieldBody       = "body"
	FieldRetryIn    = "retry_in"
	FieldHint       = "hint"
)

// WithLevel sets the level of each failure entry; status is 0 for a
// transport error and route is as [Route]. The default: Debug for the
// documented not-ready answers (422 from a recording's transcription,
// results or summary, which polling meets until the transcription is done),
// Warn for other 4xx, Error for 5xx and transport errors. Levels above
// Error count as Error, so that a failed call never panics or exits the
// program; nil keeps the default.
func WithLevel(fn func(status int, route string) zapcore.Level) Option {
	return optionFunc(func(t *Transport) {
		if fn != nil {
			t.level = fn
		}
	})
}

func defaultLevel(status int, route string) zapcore.Level {
	switch {
	case status == 0 || status >= 500:
		return zapcore.ErrorLevel
	case status == 422 && notReadyRoute(route):
		return zapcore.DebugLevel
	}
	return zapcore.WarnLevel
}

// notReadyRoute reports whether route answers 422 "Transcription not
// available" until the recording's transcription is done.
func notReadyRoute(route string) bool {
	switch route {
	case "/recordings/{id}/transcription", "/recordings/{id}/results", "/recordings/{id}/summary":
		return true
	}
	return false
}

// logFailure writes the entry for one failed attempt, at the level
// WithLevel sets. Fields are built only when the logger will write the
// entry.
func (t *Transport) logFailure(f *failure) {
	if t.logger == nil {
		return
	}
	ce := check(t.logger, max(min(t.level(f.status, f.route), zapcore.ErrorLevel), zapcore.DebugLevel))
	if ce == nil {
		return
	}
	fields := []zap.Field{
		zap.String(FieldRequestID, f.requestID),
		zap.String(FieldMethod, f.method),
		zap.String(FieldURL, f.url),
	}
	if f.route != "" {
		fields = append(fields, zap.String(FieldRoute, f.route))
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
	if f.hint != "" {
		fields = append(fields, zap.String(FieldHint, f.hint))
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
