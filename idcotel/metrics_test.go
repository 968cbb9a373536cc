package idcotel_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/idcotel"
)

// point is one data point of an instrument, by its attributes.
type point struct {
	count   int64 // histogram count, or counter value
	sum     float64
	buckets []uint64 // histogram bucket counts
}

// collect reads every data point, by instrument name and then by a
// readable form of its attributes.
func collect(t *testing.T, reader *sdkmetric.ManualReader) map[string]map[string]point {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	out := map[string]map[string]point{}
	for _, sm := range rm.ScopeMetrics {
		assert.Equal(t, idcotel.ScopeName, sm.Scope.Name)
		for _, m := range sm.Metrics {
			points := map[string]point{}
			switch data := m.Data.(type) {
			case metricdata.Histogram[float64]:
				assert.Contains(t, []string{idcotel.MetricRequestDuration, idcotel.MetricQueueDuration}, m.Name)
				assert.Equal(t, "s", m.Unit)
				for _, dp := range data.DataPoints {
					points[key(dp.Attributes)] = point{count: int64(dp.Count), sum: dp.Sum, buckets: dp.BucketCounts}
				}
			case metricdata.Sum[int64]:
				assert.Contains(t, []string{idcotel.MetricRetries, idcotel.MetricRetriesDenied}, m.Name)
				assert.True(t, data.IsMonotonic)
				for _, dp := range data.DataPoints {
					points[key(dp.Attributes)] = point{count: dp.Value}
				}
			default:
				t.Errorf("unexpected metric %s (%T)", m.Name, m.Data)
			}
			out[m.Name] = points
		}
	}
	return out
}

func key(set attribute.Set) string {
	var s string
	for _, kv := range set.ToSlice() {
		s += fmt.Sprintf("%s=%s ", kv.Key, kv.Value.String())
	}
	return s
}

func TestMetricsPerRouteAndStatus(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/v1/public/recordings" && calls.Add(1) == 1:
			w.WriteHeader(503)
		case r.URL.Path == "/api/v1/public/recordings/rec_9":
			w.WriteHeader(404)
			io.WriteString(w, `{"error":"Resource not found"}`)
		default:
			io.WriteString(w, `{"data":[]}`)
		}
	}))
	defer srv.Close()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	client := idctrace.WrapClient(srv.Client(), nil, idcotel.WithMetrics(mp),
		idctrace.WithRetry(idctrace.RetryPolicy{MaxRetries: 1, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}))
	for _, path := range []string{"/recordings", "/recordings/rec_9", "/recordings/rec_1/summary", "/somewhere/else"} {
		resp, err := client.Get(srv.URL + "/api/v1/public" + path)
		require.NoError(t, err)
		resp.Body.Close()
	}

	got := collect(t, reader)
	durations, retries := got[idcotel.MetricRequestDuration], got[idcotel.MetricRetries]
	assert.Equal(t, map[string]point{
		"error.type=503 http.request.method=GET http.response.status_code=503 url.template=/recordings ":      {count: 1},
		"http.request.method=GET http.response.status_code=200 url.template=/recordings ":                     {count: 1},
		"error.type=404 http.request.method=GET http.response.status_code=404 url.template=/recordings/{id} ": {count: 1},
		"http.request.method=GET http.response.status_code=200 url.template=/recordings/{id}/summary ":        {count: 1},
		"http.request.method=GET http.response.status_code=200 ":                                              {count: 1},
	}, counts(durations), "one duration per attempt, the route as url.template")
	for k, p := range durations {
		assert.Greater(t, p.sum, 0.0, k)
	}
	assert.Equal(t, map[string]point{
		"error.type=503 http.request.method=GET http.response.status_code=503 url.template=/recordings ": {count: 1},
	}, retries, "the retry after the 503, with that attempt's attributes")
	assert.Equal(t, counts(durations), counts(got[idcotel.MetricQueueDuration]), "one queue time per attempt, with the same attributes")
	assert.Empty(t, got[idcotel.MetricRetriesDenied], "no budget, nothing denied")
}

// counts drops the sums, which depend on the machine.
func counts(m map[string]point) map[string]point {
	out := map[string]point{}
	for k, p := range m {
		out[k] = point{count: p.count}
	}
	return out
}

func TestMetricsOfTransportErrors(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := "http://" + ln.Addr().String() + "/api/v1/public/projects"
	ln.Close()

	tests := []struct {
		name string
		base http.RoundTripper
		url  string
		want string
	}{
		{"refused", &http.Transport{}, refused, "connection_refused"},
		{"dns", stub{&net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}}, "http://x.invalid/api/v1/public/projects", "name_resolution"},
		{"timeout", stub{context.DeadlineExceeded}, "http://h/api/v1/public/projects", "timeout"},
		{"canceled", stub{context.Canceled}, "http://h/api/v1/public/projects", "canceled"},
		{"other", stub{errors.New("proxy says no")}, "http://h/api/v1/public/projects", "_OTHER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reader := sdkmetric.NewManualReader()
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
			defer mp.Shutdown(context.Background())
			tr := idctrace.New(tt.base, nil, idcotel.WithMetrics(mp))
			req, _ := http.NewRequest("GET", tt.url, nil)
			_, err := tr.RoundTrip(req)
			require.Error(t, err)
			tr.CloseIdleConnections()

			got := collect(t, reader)
			assert.Equal(t, map[string]point{
				"error.type=" + tt.want + " http.request.method=GET url.template=/projects ": {count: 1},
			}, counts(got[idcotel.MetricRequestDuration]), "no status code on a transport error")
			assert.Empty(t, got[idcotel.MetricRetries])
		})
	}
}

type stub struct{ err error }

func (s stub) RoundTrip(*http.Request) (*http.Response, error) { return nil, s.err }

func TestMetricsOtherMethod(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	tr := idctrace.New(stub{errors.New("x")}, nil, idcotel.WithMetrics(mp))
	req, _ := http.NewRequest("PURGE", "http://h/x", nil)
	tr.RoundTrip(req)
	assert.Contains(t, collect(t, reader)[idcotel.MetricRequestDuration], "error.type=_OTHER http.request.method=_OTHER ")
}

func TestMetricsRetriesDenied(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error":"Service unavailable"}`)
	}))
	t.Cleanup(srv.Close)
	const attrs = "error.type=503 http.request.method=GET http.response.status_code=503 url.template=/projects "
	tests := []struct {
		name            string
		budget          *idctrace.RetryBudget
		attempts        int64
		retries, denied int64
	}{
		// A budget with nothing in it and no retries a second denies every
		// retry: each call is one attempt, and each is counted as denied.
		{"empty budget", idctrace.NewRetryBudget(0, 0), 3, 0, 3},
		// Without a budget each call is retried once; the second attempt
		// is not retried for MaxRetries, which is no denial.
		{"no budget", nil, 6, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reader := sdkmetric.NewManualReader()
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
			defer mp.Shutdown(context.Background())
			policy := idctrace.RetryPolicy{MaxRetries: 1, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, Budget: tt.budget}
			client := idctrace.WrapClient(srv.Client(), nil, idcotel.WithMetrics(mp), idctrace.WithRetry(policy))
			for range 3 {
				resp, err := client.Get(srv.URL + "/api/v1/public/projects")
				require.NoError(t, err)
				resp.Body.Close()
			}
			got := collect(t, reader)
			assert.Equal(t, tt.attempts, got[idcotel.MetricRequestDuration][attrs].count)
			assert.Equal(t, tt.retries, got[idcotel.MetricRetries][attrs].count)
			assert.Equal(t, tt.denied, got[idcotel.MetricRetriesDenied][attrs].count)
		})
	}
}

// sleepLimiter makes every attempt wait d for its slot.
type sleepLimiter struct{ d time.Duration }

func (l sleepLimiter) Wait(ctx context.Context) error {
	select {
	case <-time.After(l.d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (sleepLimiter) Pause(time.Time) {}

func TestMetricsQueueDuration(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"data":[]}`)
	}))
	t.Cleanup(srv.Close)
	const (
		wait  = 20 * time.Millisecond
		attrs = "http.request.method=GET http.response.status_code=200 url.template=/projects "
	)
	tests := []struct {
		name    string
		opts    []idctrace.Option
		minSum  time.Duration
		noWaits uint64 // attempts in the first bucket, (-inf, 0]
	}{
		{"no limiter", nil, 0, 2},
		// How much longer than wait each attempt queued depends on the
		// machine, so only the lower bound is checked.
		{"limiter", []idctrace.Option{idctrace.WithLimiter(sleepLimiter{wait})}, 2 * wait, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reader := sdkmetric.NewManualReader()
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
			defer mp.Shutdown(context.Background())
			client := idctrace.WrapClient(srv.Client(), nil, append(tt.opts, idcotel.WithMetrics(mp))...)
			for range 2 {
				resp, err := client.Get(srv.URL + "/api/v1/public/projects")
				require.NoError(t, err)
				resp.Body.Close()
			}
			q := collect(t, reader)[idcotel.MetricQueueDuration][attrs]
			assert.Equal(t, int64(2), q.count, "one queue time per attempt")
			assert.GreaterOrEqual(t, q.sum, tt.minSum.Seconds())
			require.NotEmpty(t, q.buckets)
			assert.Equal(t, tt.noWaits, q.buckets[0], "attempts that did not wait")
		})
	}
}
