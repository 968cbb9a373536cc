package idcotel_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/bridges/otelzap"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/idcotel"
)

// shipped is what one failed call left in each of the tee's cores.
type shipped struct {
	json    string                 // the JSON core's output
	console string                 // the console core's output
	records []sdklog.Record        // what otelzap gave the log SDK
	entries []observer.LoggedEntry // the entries with their fields, as logged
}

const unavailableBody = `{"error":"Service unavailable"}`

func newUnavailableServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, unavailableBody)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// ship makes one call to srv with ctx and id through a Transport whose
// logger tees a JSON core, the otelzap bridge over the log SDK, and an
// observer.
func ship(t *testing.T, srv *httptest.Server, ctx context.Context, id string, opts ...idctrace.Option) shipped {
	t.Helper()
	exp := &memExporter{}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)))
	t.Cleanup(func() { lp.Shutdown(context.Background()) })
	var jsonOut, consoleOut bytes.Buffer
	jsonCore := zapcore.NewCore(jsonEncoder(), zapcore.Lock(zapcore.AddSync(&jsonOut)), zapcore.DebugLevel)
	consoleCore := zapcore.NewCore(consoleEncoder(), zapcore.Lock(zapcore.AddSync(&consoleOut)), zapcore.DebugLevel)
	obsCore, logs := observer.New(zapcore.DebugLevel)
	logger := zap.New(zapcore.NewTee(jsonCore, consoleCore,
		otelzap.NewCore(idcotel.ScopeName, otelzap.WithLoggerProvider(lp)), obsCore), zap.WithClock(fixedClock{}))
	client := &http.Client{Transport: idctrace.New(srv.Client().Transport, logger, opts...)}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/public/recordings/rec_1", nil)
	require.NoError(t, err)
	req.Header.Set("X-Request-ID", id)
	resp, err := client.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, unavailableBody, string(body))
	return shipped{json: jsonOut.String(), console: consoleOut.String(), records: exp.all(), entries: logs.All()}
}

func jsonEncoder() zapcore.Encoder { return zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()) }

func consoleEncoder() zapcore.Encoder {
	return zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
}

func attrs(r sdklog.Record) map[string]attribute.Value {
	m := map[string]attribute.Value{}
	r.WalkAttributes(func(kv attribute.KeyValue) bool {
		m[string(kv.Key)] = kv.Value
		return true
	})
	return m
}

func TestLogContextThroughBridge(t *testing.T) {
	t.Parallel()
	srv := newUnavailableServer(t)
	tp, _ := newTracerProvider(t)
	ctx, span := tp.Tracer("test").Start(context.Background(), "caller")
	defer span.End()
	sc := span.SpanContext()
	const id = "req-ship-1"

	tests := []struct {
		name      string
		opts      []idctrace.Option
		wantTrace trace.TraceID
		wantSpan  trace.SpanID
	}{
		// Without the option otelzap has no context: the record's IDs
		// are zero, as opentelemetry-go #6114 describes.
		{"without WithLogContext", nil, trace.TraceID{}, trace.SpanID{}},
		{"with WithLogContext", []idctrace.Option{idcotel.WithLogContext()}, sc.TraceID(), sc.SpanID()},
	}
	lines := map[string]string{}
	for _, tt := range tests {
		got := ship(t, srv, ctx, id, tt.opts...)
		lines[tt.name] = got.json

		require.Len(t, got.records, 1, tt.name)
		r := got.records[0]
		assert.Equal(t, tt.wantTrace, r.TraceID(), tt.name)
		assert.Equal(t, tt.wantSpan, r.SpanID(), tt.name)
		assert.Equal(t, log.SeverityError, r.Severity(), "%s: a 503 is logged at Error", tt.name)
		assert.Equal(t, "error", r.SeverityText(), tt.name)
		assert.Equal(t, "identitycall request failed", r.Body().AsString(), tt.name)
		a := attrs(r)
		assert.Equal(t, id, a["request_id"].AsString(), tt.name)
		assert.Equal(t, "/recordings/{id}", a["route"].AsString(), tt.name)
		assert.Equal(t, attribute.INT64, a["status"].Type(), tt.name)
		assert.Equal(t, int64(http.StatusServiceUnavailable), a["status"].AsInt64(), tt.name)
		assert.Equal(t, "Service unavailable", a["error"].AsString(), tt.name)
		assert.NotContains(t, a, idcotel.FieldContext, "%s: the context is no attribute", tt.name)

		// The JSON and console cores wrote exactly what their encoders
		// write for the same entry and fields without the context field.
		require.Len(t, got.entries, 1, tt.name)
		e := got.entries[0]
		var others []zap.Field
		for _, f := range e.Context {
			if f.Key != idcotel.FieldContext {
				others = append(others, f)
			}
		}
		assert.Len(t, others, len(e.Context)-len(tt.opts), "%s: the option adds one field", tt.name)
		want, err := jsonEncoder().EncodeEntry(e.Entry, others)
		require.NoError(t, err)
		assert.Equal(t, want.String(), got.json, tt.name)
		want, err = consoleEncoder().EncodeEntry(e.Entry, others)
		require.NoError(t, err)
		assert.Equal(t, want.String(), got.console, tt.name)
	}

	// Between the two calls only the measured duration and start differ.
	varying := regexp.MustCompile(`"(duration|started_at)":("[^"]*"|[0-9.e+-]+)`)
	without := varying.ReplaceAllString(lines[tests[0].name], `"$1":X`)
	with := varying.ReplaceAllString(lines[tests[1].name], `"$1":X`)
	assert.Equal(t, without, with)
	assert.Contains(t, with, `"status":503`)
	assert.Contains(t, with, `"duration":X`, "the normalisation found the duration")
	assert.Contains(t, with, `"started_at":X`, "the normalisation found the start")
}

type callerKey struct{}

// TestLogContextIsCallers checks that the context on the entry, and the one
// otelzap emits in, is the caller's, plus the request ID and nothing else.
// It holds WithLogFields to its contract: before the root gave its functions
// the caller's context, theirs held the Transport's record of the failure
// (the request as sent, its secrets), and this test failed on it.
func TestLogContextIsCallers(t *testing.T) {
	t.Parallel()
	srv := newUnavailableServer(t)
	const (
		id     = "req-caller-1"
		secret = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
	)
	caller := context.WithValue(context.Background(), callerKey{}, "caller's value")
	proc := &ctxProcessor{}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(proc))
	t.Cleanup(func() { lp.Shutdown(context.Background()) })
	obsCore, logs := observer.New(zapcore.DebugLevel)
	logger := zap.New(zapcore.NewTee(obsCore, otelzap.NewCore(idcotel.ScopeName, otelzap.WithLoggerProvider(lp))))
	tr := idctrace.New(srv.Client().Transport, logger, idcotel.WithLogContext())

	req, err := http.NewRequestWithContext(caller, http.MethodGet,
		srv.URL+"/api/v1/public/recordings?search="+secret, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("X-Request-ID", id)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()

	require.Equal(t, 1, logs.Len())
	var onEntry context.Context
	for _, f := range logs.All()[0].Context {
		if f.Key == idcotel.FieldContext {
			assert.Equal(t, zapcore.SkipType, f.Type)
			onEntry, _ = f.Interface.(context.Context)
		}
	}
	require.NotNil(t, onEntry, "the entry has a context field")
	emitted := proc.all()
	require.Len(t, emitted, 1)

	for name, ctx := range map[string]context.Context{"on the entry": onEntry, "emitted by otelzap": emitted[0]} {
		assert.Equal(t, "caller's value", ctx.Value(callerKey{}), "%s: the caller's values are there", name)
		got, ok := idctrace.RequestIDFromContext(ctx)
		assert.True(t, ok, name)
		assert.Equal(t, id, got, "%s: the request ID is there", name)

		// Everything the context reaches that the caller did not put there.
		r := newReach(caller)
		r.walk(reflect.ValueOf(ctx))
		for _, typ := range []reflect.Type{
			reflect.TypeFor[*http.Request](), reflect.TypeFor[*http.Response](),
			reflect.TypeFor[http.Header](), reflect.TypeFor[*url.URL](),
		} {
			assert.False(t, r.types[typ], "%s: a %v is reachable", name, typ)
		}
		assert.Subset(t, []string{id}, r.strs, "%s: the request ID is the only text the Transport added", name)
	}
}

// TestLogContextSummary: a storm summary speaks for many requests, so it
// reaches the bridge without a context: its record has no trace.
func TestLogContextSummary(t *testing.T) {
	t.Parallel()
	srv := newUnavailableServer(t)
	tp, _ := newTracerProvider(t)
	ctx, span := tp.Tracer("test").Start(context.Background(), "caller")
	defer span.End()
	exp := &memExporter{}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)))
	t.Cleanup(func() { lp.Shutdown(context.Background()) })
	var buf bytes.Buffer
	jsonCore := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
		zapcore.Lock(zapcore.AddSync(&buf)), zapcore.DebugLevel)
	logger := zap.New(zapcore.NewTee(jsonCore, otelzap.NewCore(idcotel.ScopeName, otelzap.WithLoggerProvider(lp))))
	// One full entry an hour: the second and third failures are counted
	// into the summary that Flush writes.
	tr := idctrace.New(srv.Client().Transport, logger, idcotel.WithLogContext(), idctrace.WithLogLimit(1, time.Hour))
	t.Cleanup(tr.Flush)
	for i := range 3 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/public/recordings/rec_1", nil)
		require.NoError(t, err)
		req.Header.Set("X-Request-ID", fmt.Sprintf("req-storm-%d", i))
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		resp.Body.Close()
	}
	tr.Flush()

	records := exp.all()
	require.Len(t, records, 2, "one entry, one summary")
	entry, summary := records[0], records[1]
	assert.Equal(t, "identitycall request failed", entry.Body().AsString())
	assert.Equal(t, span.SpanContext().TraceID(), entry.TraceID())
	assert.Equal(t, span.SpanContext().SpanID(), entry.SpanID())

	assert.Equal(t, "identitycall request failures summarized", summary.Body().AsString())
	assert.False(t, summary.TraceID().IsValid(), "a summary is in no request's trace")
	assert.False(t, summary.SpanID().IsValid())
	assert.Equal(t, log.SeverityError, summary.Severity(), "the level its entries would have had")
	a := attrs(summary)
	assert.Equal(t, int64(2), a["suppressed"].AsInt64())
	assert.Equal(t, "req-storm-1", a["first_request_id"].AsString())
	assert.Equal(t, "req-storm-2", a["last_request_id"].AsString())
	assert.Equal(t, "/recordings/{id}", a["route"].AsString())
	assert.Equal(t, int64(http.StatusServiceUnavailable), a["status"].AsInt64())
	assert.NotContains(t, a, idcotel.FieldContext)
	assert.NotContains(t, buf.String(), `"context"`, "no line of the JSON core names the context")
}
