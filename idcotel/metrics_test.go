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

// point is one data point of either instrument, by its attributes.
type point struct {
	count int64 // histogram count, or counter value
	sum   float64
}

// collect reads every data point of the two instruments, keyed by a
// readable form of their attributes.
func collect(t *testing.T, reader *sdkmetric.ManualReader) (durations, retries map[string]point) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	durations, retries = map[string]point{}, map[string]point{}
	for _, sm := range rm.ScopeMetrics {
		assert.Equal(t, idcotel.ScopeName, sm.Scope.Name)
		for _, m := range sm.Metrics {
			switch data := m.Data.(type) {
			case metricdata.Histogram[float64]:
				assert.Equal(t, idcotel.MetricRequestDuration, m.Name)
				assert.Equal(t, "s", m.Unit)
				for _, dp := range data.DataPoints {
					durations[key(dp.Attributes)] = point{count: int64(dp.Count), sum: dp.Sum}
				}
			case metricdata.Sum[int64]:
				assert.Equal(t, idcotel.MetricRetries, m.Name)
				assert.True(t, data.IsMonotonic)
				for _, dp := range data.DataPoints {
					retries[key(dp.Attributes)] = point{count: dp.Value}
				}
			default:
				t.Errorf("unexpected metric %s (%T)", m.Name, m.Data)
			}
		}
	}
	return durations, retries
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

	durations, retries := collect(t, reader)
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

			durations, retries := collect(t, reader)
			assert.Equal(t, map[string]point{
				"error.type=" + tt.want + " http.request.method=GET url.template=/projects ": {count: 1},
			}, counts(durations), "no status code on a transport error")
			assert.Empty(t, retries)
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
	durations, _ := collect(t, reader)
	assert.Contains(t, durations, "error.type=_OTHER http.request.method=_OTHER ")
}
