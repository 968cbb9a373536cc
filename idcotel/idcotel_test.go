package idcotel_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/idcotel"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// echoServer answers 404 with the documented body and records the headers
// it received.
type echoServer struct {
	*httptest.Server
	mu      sync.Mutex
	headers []http.Header
}

func newEchoServer(t *testing.T) *echoServer {
	s := &echoServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.headers = append(s.headers, r.Header.Clone())
		s.mu.Unlock()
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":"Resource not found"}`)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *echoServer) header(i int) http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.headers[i]
}

func newTracerProvider(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tp, rec
}

// TestUnderOtelhttpNilResponse is otelhttp's TestTransportNilResponse with
// idctrace between otelhttp and a base that breaks the RoundTripper
// contract: a nil response with a nil error. The caller gets an error with
// net/http's words, and the span records it.
func TestUnderOtelhttpNilResponse(t *testing.T) {
	t.Parallel()
	tp, spans := newTracerProvider(t)
	base := idctrace.New(roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, nil }), nil)
	client := &http.Client{Transport: otelhttp.NewTransport(base, otelhttp.WithTracerProvider(tp))}

	resp, err := client.Get("http://localhost/api/v1/public/recordings")
	require.Error(t, err)
	assert.Nil(t, resp)
	assert.Contains(t, err.Error(), "returned a nil *Response with a nil error")
	assert.NotEmpty(t, idctrace.RequestIDFromError(err))
	ended := spans.Ended()
	require.Len(t, ended, 1)
	assert.Equal(t, codes.Error, ended[0].Status().Code)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestUnderOtelhttp builds the stack users build: otelhttp outside, idctrace
// inside, with the SDK's tracer provider.
func TestUnderOtelhttp(t *testing.T) {
	t.Parallel()
	srv := newEchoServer(t)
	tp, spans := newTracerProvider(t)
	core, logs := observer.New(zapcore.DebugLevel)
	base := idctrace.New(srv.Client().Transport, zap.New(core), idcotel.WithTraceFields())
	client := &http.Client{Transport: otelhttp.NewTransport(base,
		otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(propagation.TraceContext{}))}

	resp, err := client.Get(srv.URL + "/api/v1/public/recordings/rec_1")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, `{"error":"Resource not found"}`, string(body), "otelhttp's body wrapper over ours reads every byte")

	ended := spans.Ended()
	require.Len(t, ended, 1)
	sc := ended[0].SpanContext()
	require.Equal(t, 1, logs.Len())
	fields := logs.All()[0].ContextMap()
	assert.Equal(t, sc.TraceID().String(), fields[idcotel.FieldTraceID])
	assert.Equal(t, sc.SpanID().String(), fields[idcotel.FieldSpanID])
	assert.Regexp(t, `^[0-9a-f]{32}$`, fields[idcotel.FieldTraceID])
	assert.Regexp(t, `^[0-9a-f]{16}$`, fields[idcotel.FieldSpanID])

	got := srv.header(0)
	assert.Equal(t, "00-"+sc.TraceID().String()+"-"+sc.SpanID().String()+"-01", got.Get("Traceparent"),
		"otelhttp's traceparent reaches the server untouched")
	assert.Equal(t, fields["request_id"], got.Get("X-Request-ID"))

	var apiErr *idctrace.APIError
	require.ErrorAs(t, idctrace.CheckResponse(resp), &apiErr)
	assert.Equal(t, 1, apiErr.Attempt, "CheckResponse finds the record under otelhttp's body wrapper")
}

func TestTraceFields(t *testing.T) {
	t.Parallel()
	tp, _ := newTracerProvider(t)
	ctx, span := tp.Tracer("test").Start(context.Background(), "parent")
	defer span.End()
	remote := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, Remote: true,
	}))
	tests := []struct {
		name          string
		ctx           context.Context
		trace, spanID string // "" means absent
	}{
		{"span in context", ctx, span.SpanContext().TraceID().String(), span.SpanContext().SpanID().String()},
		{"remote span context", remote, "01020300000000000000000000000000", "0405060000000000"},
		{"no span", context.Background(), "", ""},
		{"invalid span context", trace.ContextWithSpanContext(context.Background(), trace.SpanContext{}), "", ""},
	}
	srv := newEchoServer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			core, logs := observer.New(zapcore.DebugLevel)
			client := idctrace.WrapClient(srv.Client(), zap.New(core), idcotel.WithTraceFields())
			req, _ := http.NewRequestWithContext(tt.ctx, "GET", srv.URL, nil)
			resp, err := client.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, 1, logs.Len())
			fields := logs.All()[0].ContextMap()
			if tt.trace == "" {
				assert.NotContains(t, fields, idcotel.FieldTraceID)
				assert.NotContains(t, fields, idcotel.FieldSpanID)
				return
			}
			assert.Equal(t, tt.trace, fields[idcotel.FieldTraceID])
			assert.Equal(t, tt.spanID, fields[idcotel.FieldSpanID])
		})
	}
}
