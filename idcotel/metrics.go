package idcotel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strconv"
	"syscall"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/identitycall/idctrace"
)

// Metric names.
const (
	MetricRequestDuration = "identitycall.client.request.duration"
	MetricRetries         = "identitycall.client.retries"
)

// WithMetrics returns an [idctrace.Option] that records, per attempt, the
// histogram identitycall.client.request.duration (seconds) and, for each
// attempt a retry follows, the counter identitycall.client.retries. Both
// carry the attributes http.request.method, url.template (the documented
// route, as [idctrace.Route]; absent for other paths),
// http.response.status_code (absent on transport errors) and error.type:
// the status code as text for 400 and above, or for a transport error its
// cause: timeout, name_resolution, connection_refused, tls, canceled or
// _OTHER, as the OpenTelemetry HTTP semantic conventions ask of a
// low-cardinality error type.
//
// otelhttp already measures raw requests; these add what it cannot know:
// the documented endpoint, and the retries. A nil mp means the global
// meter provider.
func WithMetrics(mp metric.MeterProvider) idctrace.Option {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter(ScopeName)
	// An instrument that fails to build comes back as a working no-op, and
	// the error goes to OpenTelemetry's handler, as otelhttp does.
	duration, err := meter.Float64Histogram(MetricRequestDuration,
		metric.WithUnit("s"),
		metric.WithDescription("Duration of each attempt of an IdentityCall API call, until the response headers."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10))
	if err != nil {
		otel.Handle(err)
	}
	retries, err := meter.Int64Counter(MetricRetries,
		metric.WithUnit("{retry}"),
		metric.WithDescription("Attempts of IdentityCall API calls that a retry followed."))
	if err != nil {
		otel.Handle(err)
	}
	return idctrace.WithObserver(func(a idctrace.Attempt) {
		set := metric.WithAttributeSet(attributes(a))
		duration.Record(context.Background(), a.Duration.Seconds(), set)
		if a.RetryIn > 0 {
			retries.Add(context.Background(), 1, set)
		}
	})
}

// ScopeName is the instrumentation scope of the metrics.
const ScopeName = "github.com/identitycall/idctrace/idcotel"

func attributes(a idctrace.Attempt) attribute.Set {
	kv := make([]attribute.KeyValue, 0, 4)
	kv = append(kv, attribute.String("http.request.method", method(a.Method)))
	if a.Route != "" {
		kv = append(kv, attribute.String("url.template", a.Route))
	}
	switch {
	case a.Status != 0:
		kv = append(kv, attribute.Int("http.response.status_code", a.Status))
		if a.Status >= 400 {
			kv = append(kv, attribute.String("error.type", strconv.Itoa(a.Status)))
		}
	case a.Err != nil:
		kv = append(kv, attribute.String("error.type", errorType(a.Err)))
	}
	return attribute.NewSet(kv...)
}

// method is the request method as the semantic conventions record it: a
// known method, or _OTHER.
func method(m string) string {
	switch m {
	case "":
		return http.MethodGet
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// errorType names the cause of a transport error, from a short list.
func errorType(err error) string {
	var (
		timeout interface{ Timeout() bool }
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		invalid x509.CertificateInvalidError
		host    x509.HostnameError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &timeout) && timeout.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &dnsErr):
		return "name_resolution"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &invalid), errors.As(err, &host):
		return "tls"
	}
	return "_OTHER"
}
