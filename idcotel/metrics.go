package idcotel

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/identitycall/idctrace"
)

// Metric names.
const (
	MetricRequestDuration = "identitycall.client.request.duration"
	MetricQueueDuration   = "identitycall.client.queue.duration"
	MetricRetries         = "identitycall.client.retries"
	MetricRetriesDenied   = "identitycall.client.retries.denied"
)

// WithMetrics returns an [idctrace.Option] that records, per attempt sent,
// the histograms identitycall.client.request.duration (seconds, until the
// response headers) and identitycall.client.queue.duration (seconds the
// attempt waited for its rate-limit slot before it was sent: 0 without a
// limiter, see [idctrace.WithLimiter]); for each attempt a retry followed,
// the counter identitycall.client.retries; and for each failed attempt the
// retry policy would have retried had the retry budget allowed it, the
// counter identitycall.client.retries.denied (see [idctrace.RetryBudget]).
// All carry the attributes http.request.method, url.template (the
// documented route, as [idctrace.Route]; absent for other paths),
// http.response.status_code (absent on transport errors) and error.type:
// the status code as text for 400 and above, or for a transport error the
// class of its cause, as [idctrace.TransportError]'s ErrorType gives it
// (timeout, canceled, name_resolution, connection_refused,
// connection_reset, tls, local_rate_limit or _OTHER): the low-cardinality
// error type the OpenTelemetry HTTP semantic conventions ask for. Failures
// that storm summaries count instead of logging are measured all the same:
// attempts minus entries is what a storm saved.
//
// otelhttp already measures raw requests; these add what it cannot know:
// the documented endpoint, the time spent under the quota, and the
// retries. A nil mp means the global meter provider.
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
	// The 0 boundary keeps the attempts that did not wait in a bucket of
	// their own; the last ones reach the minute a 429 may ask for.
	queue, err := meter.Float64Histogram(MetricQueueDuration,
		metric.WithUnit("s"),
		metric.WithDescription("Time each attempt of an IdentityCall API call waited for its rate-limit slot before it was sent."),
		metric.WithExplicitBucketBoundaries(0, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
	if err != nil {
		otel.Handle(err)
	}
	retries, err := meter.Int64Counter(MetricRetries,
		metric.WithUnit("{retry}"),
		metric.WithDescription("Attempts of IdentityCall API calls that a retry followed."))
	if err != nil {
		otel.Handle(err)
	}
	denied, err := meter.Int64Counter(MetricRetriesDenied,
		metric.WithUnit("{retry}"),
		metric.WithDescription("Failed attempts of IdentityCall API calls not retried because the retry budget was spent."))
	if err != nil {
		otel.Handle(err)
	}
	return idctrace.WithObserver(func(a idctrace.Attempt) {
		set := metric.WithAttributeSet(attributes(a))
		rec := []metric.RecordOption{set}
		duration.Record(context.Background(), a.Duration.Seconds(), rec...)
		queue.Record(context.Background(), a.Queued.Seconds(), rec...)
		if a.RetryIn > 0 {
			retries.Add(context.Background(), 1, set)
		}
		if a.RetrySkipped == "budget" {
			denied.Add(context.Background(), 1, set)
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

// errorType is the class the Transport gave a transport error's cause: one
// classification for the hint, the log and the metrics.
func errorType(err error) string {
	var te *idctrace.TransportError
	if errors.As(err, &te) && te.ErrorType != "" {
		return te.ErrorType
	}
	return "_OTHER"
}
