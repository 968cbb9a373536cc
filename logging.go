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
	ce := t.logger.Check(lvl, LogMessage)
	if ce == nil {
		return
	}
	// A broken sink must not turn a response into a crash: the caller's
	// result never depends on the log.
	defer func() { _ = recover() }()
	// The slice escapes to the cores, so it is allocated once, at its final
	// size: a 404 entry needs 8 fields, not 12. The hooks run first, since
	// only they know how many fields they add.
	var hookArr [4][]zap.Field
	hooked, n := hookArr[:0], 6+f.optionalFields()
	for _, fn := range t.fieldFuncs {
		fs := fn(f.sent)
		hooked = append(hooked, fs)
		n += len(fs)
	}
	fields := make([]zap.Field, 0, n)
	fields = append(fields,
		zap.String(FieldRequestID, f.requestID),
		zap.String(FieldMethod, f.method),
		zap.String(FieldURL, f.url),
	)
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
	for _, fs := range hooked {
		fields = append(fields, fs...)
	}
	ce.Write(fields...)
}

// optionalFields counts the fields logFailure writes for f beyond the six
// every entry has.
func (f *failure) optionalFields() int {
	n := 0
	for _, present := range [...]bool{f.status != 0, f.message != "", len(f.errs) > 0, f.showsRetryAfter(), f.body != "", f.retrying} {
		if present {
			n++
		}
	}
	return n
}
