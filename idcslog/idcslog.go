// Package idcslog sends idctrace's log entries to a [log/slog] handler, for
// services that log with slog rather than zap:
//
//	client := idctrace.WrapClient(httpClient, idcslog.NewLogger(slog.Default().Handler()))
//
// Each zap entry becomes one slog record at the matching level (Debug,
// Info, Warn, Error; zap's DPanic, Panic and Fatal above Error), with every
// field as an attribute of the same key and type: durations stay
// [time.Duration], times [time.Time], string lists []string.
package idcslog

import (
	"context"
	"log/slog"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewLogger returns a zap logger whose entries go to h. A nil h means
// [slog.Default]'s handler.
func NewLogger(h slog.Handler) *zap.Logger {
	if h == nil {
		h = slog.Default().Handler()
	}
	return zap.New(core{h: h})
}

// core is a zapcore.Core that writes to a slog.Handler.
type core struct {
	h slog.Handler
}

// Level returns the slog level of a zap level: zap's levels step by one,
// slog's by four, and both put Info at 0.
func Level(l zapcore.Level) slog.Level { return slog.Level(4 * int(l)) }

func (c core) Enabled(l zapcore.Level) bool {
	return c.h.Enabled(context.Background(), Level(l))
}

func (c core) With(fields []zapcore.Field) zapcore.Core {
	return core{h: c.h.WithAttrs(attrs(fields))}
}

func (c core) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c core) Write(e zapcore.Entry, fields []zapcore.Field) error {
	r := slog.NewRecord(e.Time, Level(e.Level), e.Message, e.Caller.PC)
	if e.LoggerName != "" {
		r.AddAttrs(slog.String("logger", e.LoggerName))
	}
	r.AddAttrs(attrs(fields)...)
	if e.Stack != "" {
		r.AddAttrs(slog.String("stacktrace", e.Stack))
	}
	return c.h.Handle(context.Background(), r)
}

func (c core) Sync() error { return nil }

// attrs turns zap fields into slog attributes, in order. A namespace field
// puts the fields after it in a group of its name, as zap nests them.
func attrs(fields []zapcore.Field) []slog.Attr {
	out := make([]slog.Attr, 0, len(fields))
	for i, f := range fields {
		if f.Type == zapcore.NamespaceType {
			return append(out, slog.Attr{Key: f.Key, Value: slog.GroupValue(attrs(fields[i+1:])...)})
		}
		// Each field through zap's own map encoder, which keeps Go types:
		// one encoder per field keeps the order.
		enc := zapcore.NewMapObjectEncoder()
		f.AddTo(enc)
		for k, v := range enc.Fields {
			out = append(out, attr(k, v))
		}
	}
	return out
}

// attr makes an attribute of a value zap's map encoder produced.
func attr(key string, v any) slog.Attr {
	switch v := v.(type) {
	case time.Duration:
		return slog.Duration(key, v)
	case time.Time:
		return slog.Time(key, v)
	case []any:
		strs := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return slog.Any(key, v)
			}
			strs = append(strs, s)
		}
		return slog.Any(key, strs)
	}
	return slog.Any(key, v)
}
