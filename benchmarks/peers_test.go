// Package benchmarks measures idctrace against the transports users would
// pick instead, in one run: go test -bench . -benchmem, or ./run.sh for a
// benchstat table. It is a module of its own so that the library never
// depends on its peers.
package benchmarks

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/hashicorp/go-retryablehttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/idcotel"
)

const (
	okBody     = `{"data":[],"meta":{"current_page":1,"total_pages":0,"total_count":0,"per_page":25}}`
	failBody   = `{"error":"Resource not found"}`
	outageBody = `{"error":"Service temporarily unavailable"}`
)

// stub answers without a network: the base whose cost every variant adds to.
type stub struct {
	status int
	body   string
	header http.Header
}

func (s stub) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode:    s.status,
		Header:        s.header,
		Body:          io.NopCloser(strings.NewReader(s.body)),
		ContentLength: int64(len(s.body)),
		Request:       req,
	}, nil
}

// variant wraps a base transport the way one library would.
type variant struct {
	name string
	wrap func(base http.RoundTripper) http.RoundTripper
}

func variants(b *testing.B) []variant {
	// Failure entries go to a JSON core that writes to io.Discard: the
	// encoding is measured, the I/O is not.
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zapcore.DebugLevel))
	sdk := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample())) // spans recorded and ended, not exported
	b.Cleanup(func() { sdk.Shutdown(context.Background()) })
	prop := otelhttp.WithPropagators(propagation.TraceContext{})
	noMetrics := otelhttp.WithMeterProvider(metricnoop.NewMeterProvider())
	return []variant{
		{"bare", func(base http.RoundTripper) http.RoundTripper { return base }},
		{"bare+header", func(base http.RoundTripper) http.RoundTripper { return idHeader{base} }},
		{"lean", func(base http.RoundTripper) http.RoundTripper { return lean{base, logger} }},
		{"idctrace", func(base http.RoundTripper) http.RoundTripper { return idctrace.New(base, logger) }},
		{"idctrace+retry", func(base http.RoundTripper) http.RoundTripper {
			return idctrace.New(base, logger, idctrace.WithRetry(idctrace.DefaultRetryPolicy()))
		}},
		{"idctrace+everyentry", func(base http.RoundTripper) http.RoundTripper {
			return idctrace.New(base, logger, idctrace.WithLogLimit(-1, 0))
		}},
		{"idctrace+idcotel", func(base http.RoundTripper) http.RoundTripper {
			return idctrace.New(base, logger, idcotel.WithTraceFields())
		}},
		{"idctrace+observer", func(base http.RoundTripper) http.RoundTripper {
			var attempts atomic.Int64 // an observer that counts
			return idctrace.New(base, logger, idctrace.WithObserver(func(idctrace.Attempt) { attempts.Add(1) }))
		}},
		{"otelhttp-noop", func(base http.RoundTripper) http.RoundTripper {
			return otelhttp.NewTransport(base, otelhttp.WithTracerProvider(tracenoop.NewTracerProvider()), noMetrics, prop)
		}},
		{"otelhttp-sdk", func(base http.RoundTripper) http.RoundTripper {
			return otelhttp.NewTransport(base, otelhttp.WithTracerProvider(sdk), noMetrics, prop)
		}},
		{"retryablehttp", func(base http.RoundTripper) http.RoundTripper {
			c := retryablehttp.NewClient()
			c.HTTPClient = &http.Client{Transport: base}
			c.Logger = nil                                         // its default logs every request to stderr
			c.RetryMax = 0                                         // a single attempt, as every other variant makes
			c.ErrorHandler = retryablehttp.PassthroughErrorHandler // the 503 itself, not "giving up", as every other variant returns
			return &retryablehttp.RoundTripper{Client: c}
		}},
	}
}

// BenchmarkRoundTrip names its sub-benchmarks key=value, so that benchstat
// can put the implementations side by side: benchstat -col /impl.
func BenchmarkRoundTrip(b *testing.B) {
	header := http.Header{"Content-Type": {"application/json"}}
	paths := []struct {
		name   string
		status int
		body   string
	}{
		{"success", 200, okBody},
		{"failure", 404, failBody},
		{"outage", 503, outageBody}, // the storm of the ceilings
	}
	// A span in every request's context, as under a traced server handler:
	// idcotel has IDs to add.
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled,
	}))
	for _, base := range []string{"stub", "loopback"} {
		for _, p := range paths {
			var rt http.RoundTripper = stub{p.status, p.body, header}
			if base == "loopback" {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header()["Content-Type"] = header["Content-Type"]
					w.WriteHeader(p.status)
					io.WriteString(w, p.body)
				}))
				b.Cleanup(srv.Close)
				t := srv.Client().Transport.(*http.Transport).Clone()
				t.MaxIdleConnsPerHost = 64
				b.Cleanup(t.CloseIdleConnections)
				rt = roundTripURL{t, srv.URL}
			}
			for _, v := range variants(b) {
				if p.status == http.StatusServiceUnavailable && v.name == "idctrace+retry" {
					continue // it would measure the backoff's sleep
				}
				tr := v.wrap(rt)
				name := "base=" + base + "/path=" + p.name
				b.Run(name+"/run=serial/impl="+v.name, func(b *testing.B) {
					b.ReportAllocs()
					req := newRequest(b, ctx)
					for b.Loop() {
						do(b, tr, req)
					}
				})
				b.Run(name+"/run=parallel/impl="+v.name, func(b *testing.B) {
					b.ReportAllocs()
					b.RunParallel(func(pb *testing.PB) {
						req := newRequest(b, ctx)
						for pb.Next() {
							do(b, tr, req)
						}
					})
				})
			}
		}
	}
}

// idHeader sends a fixed X-Request-ID and does nothing else: the least any
// request-ID middleware costs, since it must copy the request and its header
// to add one. Over loopback it includes the server parsing the header.
type idHeader struct{ next http.RoundTripper }

func (h idHeader) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.WithContext(req.Context())
	out.Header = req.Header.Clone()
	out.Header["X-Request-Id"] = []string{"5f0c1b8e-0d7a-4c1e-9a57-3b1d2f0e6c44"}
	return h.next.RoundTrip(out)
}

// lean is the least a hand-written failure logger does: it copies the
// header and sets an ID, reads a failed body synchronously, decodes it with
// encoding/json and logs every failure with zap. It has no bound on a
// stalled body, no redaction, no retries and no storm limit: the reference
// idctrace's failure path is measured against.
type lean struct {
	next   http.RoundTripper
	logger *zap.Logger
}

func (l lean) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.WithContext(req.Context())
	out.Header = req.Header.Clone()
	id := uuid.NewString()
	out.Header["X-Request-Id"] = []string{id}
	resp, err := l.next.RoundTrip(out)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var e struct {
		Error string `json:"error"`
	}
	json.Unmarshal(body, &e)
	l.logger.Warn("identitycall request failed", zap.String("request_id", id), zap.String("method", req.Method),
		zap.String("url", req.URL.String()), zap.Int("status", resp.StatusCode), zap.String("error", e.Error))
	return resp, nil
}

// roundTripURL points requests made for the stub at a loopback server.
type roundTripURL struct {
	next http.RoundTripper
	url  string
}

func (r roundTripURL) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	u, _ := out.URL.Parse(r.url + out.URL.RequestURI())
	out.URL, out.Host = u, ""
	return r.next.RoundTrip(out)
}

func newRequest(b *testing.B, ctx context.Context) *http.Request {
	req, err := http.NewRequestWithContext(ctx, "GET", "https://api.identitycall.ai/api/v1/public/recordings?page=2", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer idc_Q7mK2xV9pL4sT8wB3nR6yH1cF5jD0gZa")
	req.Header.Set("Accept", "application/json")
	return req
}

// do makes one call and reads the body to the end, as a caller would.
func do(b *testing.B, rt http.RoundTripper, req *http.Request) {
	resp, err := rt.RoundTrip(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}
