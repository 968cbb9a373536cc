// Package idcotel joins idctrace to OpenTelemetry: failure entries to
// traces, and every attempt to metrics per documented endpoint.
//
// [WithMetrics] records the duration of every attempt and counts retries,
// by method, route, status and error type. [WithTraceFields] adds the W3C
// trace and span IDs of the request's span to every failure entry, so a log
// line found in a central store leads to its trace, and the reverse.
// [WithLogContext] hands the request's context to a core that ships entries
// to OpenTelemetry (the otelzap bridge), so the shipped record carries the
// span's IDs in its own trace fields. Put otelhttp outside the idctrace
// Transport, so its client span is in the request's context when idctrace
// logs:
//
//	base := idctrace.New(http.DefaultTransport, logger, idcotel.WithTraceFields())
//	client := &http.Client{Transport: otelhttp.NewTransport(base)}
//
// It is a module of its own (github.com/identitycall/idctrace/idcotel), so
// that importers of idctrace alone never get OpenTelemetry in their module
// graph.
package idcotel

import (
	"encoding/hex"
	"net/http"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/identitycall/idctrace"
)

// Field keys of the trace fields.
const (
	FieldTraceID = "trace_id"
	FieldSpanID  = "span_id"
)

// WithTraceFields returns an [idctrace.Option] that adds trace_id and
// span_id, as lowercase W3C hex, to every failure entry whose request
// context holds a valid span context. Entries without one get neither field.
func WithTraceFields() idctrace.Option {
	return idctrace.WithLogFields(traceFields)
}

func traceFields(req *http.Request) []zap.Field {
	sc := trace.SpanContextFromContext(req.Context())
	if !sc.IsValid() {
		return nil
	}
	// Both IDs are encoded into one string and cut in two: one allocation,
	// where zap.Stringer would box each ID and then allocate its hex text.
	tid, sid := sc.TraceID(), sc.SpanID()
	var buf [2*len(tid) + 2*len(sid)]byte
	hex.Encode(buf[:], tid[:])
	hex.Encode(buf[2*len(tid):], sid[:])
	ids := string(buf[:])
	return []zap.Field{
		zap.String(FieldTraceID, ids[:2*len(tid)]),
		zap.String(FieldSpanID, ids[2*len(tid):]),
	}
}
