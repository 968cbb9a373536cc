package idcotel_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"go.opentelemetry.io/contrib/bridges/otelzap"
	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/idcotel"
)

func ExampleWithTraceFields() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":"Resource not found"}`)
	}))
	defer srv.Close()

	core, logs := observer.New(zapcore.WarnLevel) // stands in for a logger shipping to a central store
	client := idctrace.WrapClient(srv.Client(), zap.New(core), idcotel.WithTraceFields())

	// In a traced program the span comes from otelhttp or a server
	// handler; here it is fixed so the output is stable.
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	}))
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/public/recordings/42", nil)
	resp, err := client.Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()

	entry := logs.All()[0].ContextMap()
	fmt.Println(entry["error"])
	fmt.Println("trace_id", entry[idcotel.FieldTraceID])
	fmt.Println("span_id ", entry[idcotel.FieldSpanID])
	// Output:
	// Resource not found
	// trace_id 4bf92f3577b34da6a3ce929d0e0e4736
	// span_id  00f067aa0ba902b7
}

func ExampleWithMetrics() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":"Resource not found"}`)
	}))
	defer srv.Close()

	// In a service: the SDK's meter provider with your exporter's reader.
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	client := idctrace.WrapClient(srv.Client(), nil, idcotel.WithMetrics(mp))

	for range 2 {
		resp, err := client.Get(srv.URL + "/api/v1/public/recordings/42")
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
	}

	var rm metricdata.ResourceMetrics
	reader.Collect(context.Background(), &rm)
	for _, m := range rm.ScopeMetrics[0].Metrics {
		for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
			route, _ := dp.Attributes.Value("url.template")
			status, _ := dp.Attributes.Value("http.response.status_code")
			errType, _ := dp.Attributes.Value("error.type")
			fmt.Println(m.Name, route.AsString(), status.AsInt64(), errType.AsString(), dp.Count)
		}
	}
	// Output:
	// identitycall.client.request.duration /recordings/{id} 404 404 2
	// identitycall.client.queue.duration /recordings/{id} 404 404 2
}

func ExampleWithLogContext() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":"Service unavailable"}`)
	}))
	defer srv.Close()

	// In a service: the log SDK with an OTLP exporter (otlploghttp). Here
	// the records stay in memory, to be printed.
	exp := &memExporter{}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)))
	defer lp.Shutdown(context.Background())
	jsonCore := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
		zapcore.AddSync(io.Discard), zapcore.InfoLevel) // the service's own lines, unchanged
	logger := zap.New(zapcore.NewTee(jsonCore, otelzap.NewCore("example.com/billing", otelzap.WithLoggerProvider(lp))))
	client := idctrace.WrapClient(srv.Client(), logger, idcotel.WithLogContext())

	// In a traced program the span comes from otelhttp or a server
	// handler; here it is fixed so the output is stable.
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	}))
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/public/recordings/42", nil)
	req.Header.Set("X-Request-ID", "7b0e9a52-1c1e-4f4e-9a53-0b7d2f6d8e11")
	resp, err := client.Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()

	r := exp.all()[0]
	fmt.Println(r.Severity(), r.Body().AsString())
	fmt.Println("trace", r.TraceID())
	fmt.Println("span ", r.SpanID())
	r.WalkAttributes(func(kv attribute.KeyValue) bool {
		switch kv.Key {
		case "request_id", "route", "status":
			fmt.Println(kv.Key, kv.Value.String())
		}
		return true
	})
	// Output:
	// ERROR identitycall request failed
	// trace 4bf92f3577b34da6a3ce929d0e0e4736
	// span  00f067aa0ba902b7
	// request_id 7b0e9a52-1c1e-4f4e-9a53-0b7d2f6d8e11
	// route /recordings/{id}
	// status 503
}
