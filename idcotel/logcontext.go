package idcotel

import (
	"net/http"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/identitycall/idctrace"
)

// FieldContext is the key of the field [WithLogContext] adds. No encoder
// writes it; a core that looks for the context by key finds it here.
const FieldContext = "context"

// WithLogContext returns an [idctrace.Option] that puts the request's
// context on every failure entry, so that a core shipping entries to
// OpenTelemetry emits each record in that context, with the trace and span
// IDs of the span it holds. The bridge
// go.opentelemetry.io/contrib/bridges/otelzap takes any field whose value is
// a [context.Context] as the context to emit in, whatever its key or type.
//
// The field has the key [FieldContext], the type [zapcore.SkipType] and the
// context as its Interface: zap's JSON and console encoders skip it, so the
// lines they write stay byte for byte what they were without this option.
// The context is the caller's own, plus the request ID
// ([idctrace.RequestIDFromContext] finds it); it holds nothing of the
// request or of the failure. Storm summaries (see [idctrace.WithLogLimit])
// speak for many requests and get no context: their records carry no
// trace.
func WithLogContext() idctrace.Option {
	return idctrace.WithLogFields(contextField)
}

func contextField(req *http.Request) []zap.Field {
	return []zap.Field{{Key: FieldContext, Type: zapcore.SkipType, Interface: req.Context()}}
}
