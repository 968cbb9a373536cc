package idctrace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identitycall/idctrace/internal/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var allSentinels = []error{ErrBadRequest, ErrUnauthorized, ErrForbidden, ErrNotFound, ErrValidation, ErrNotReady, ErrRateLimited, ErrServer}

func TestTransportDocumentedStatuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		level      zapcore.Level
		message    string
		errs       []string
		retryAfter time.Duration // also means the entry has a retry_after field
		logBody    string
		sentinel   error
	}{
		{name: "400", status: 400, body: `{"error":"per_page must be between 1 and 100"}`,
			level: zapcore.WarnLevel, message: "per_page must be between 1 and 100", sentinel: ErrBadRequest},
		{name: "401", status: 401, body: `{"error":"Invalid or expired API key"}`,
			level: zapcore.WarnLevel, message: "Invalid or expired API key", sentinel: ErrUnauthorized},
		{name: "403", status: 403, body: `{"error":"Write permission required"}`,
			level: zapcore.WarnLevel, message: "Write permission required", sentinel: ErrForbidden},
		{name: "404", status: 404, body: `{"error":"Resource not found"}`,
			level: zapcore.WarnLevel, message: "Resource not found", sentinel: ErrNotFound},
		{name: "422 error", status: 422, body: `{"error":"file is required"}`,
			level: zapcore.WarnLevel, message: "file is required", sentinel: ErrValidation},
		{name: "422 errors", status: 422, body: `{"errors":["Name can't be blank","Language is not supported"]}`,
			level: zapcore.WarnLevel, errs: []string{"Name can't be blank", "Language is not supported"}, sentinel: ErrValidation},
		{name: "429", status: 429, body: `{"error":"Rate limit exceeded","retry_after":60}`,
			level: zapcore.WarnLevel, message: "Rate limit exceeded", retryAfter: time.Minute, sentinel: ErrRateLimited},
		{name: "429 header only", status: 429, header: http.Header{"Retry-After": {"7"}}, body: `{"error":"Rate limit exceeded"}`,
			level: zapcore.WarnLevel, message: "Rate limit exceeded", retryAfter: 7 * time.Second, sentinel: ErrRateLimited},
		{name: "500", status: 500, body: `{"error":"Internal server error"}`,
			level: zapcore.ErrorLevel, message: "Internal server error", sentinel: ErrServer},
		{name: "502 html", status: 502, header: http.Header{"Content-Type": {"text/html"}},
			body:  "<html>\r\n<body><h1>502 Bad Gateway</h1></body>\r\n</html>\n",
			level: zapcore.ErrorLevel, logBody: "<html>  <body><h1>502 Bad Gateway</h1></body>  </html>", sentinel: ErrServer},
		{name: "503 text", status: 503, header: http.Header{"Retry-After": {"120"}}, body: "Service Unavailable",
			level: zapcore.ErrorLevel, logBody: "Service Unavailable", retryAfter: 2 * time.Minute, sentinel: ErrServer},
	}
	for _, tt := range tests {
		for _, proto := range protocols {
			t.Run(tt.name+"/"+proto, func(t *testing.T) {
				t.Parallel()
				srv := newScriptedProto(t, proto, replyWith(tt.status, tt.header, tt.body))
				log, logs := observed()
				client := WrapClient(srv.Client(), log)

				resp, err := client.Get(srv.URL + "/api/v1/public/recordings?page=2")
				require.NoError(t, err)
				assert.Equal(t, proto, resp.Proto)
				assert.Equal(t, tt.body, readAll(t, resp), "the caller reads the body byte for byte")

				ids := srv.seenIDs()
				require.Len(t, ids, 1)
				assert.Equal(t, ids[0], RequestID(resp))

				entries := logs.FilterMessage(schema.Failed).AllUntimed()
				require.Len(t, entries, 1, "one entry per failure")
				assert.Equal(t, tt.level, entries[0].Level)
				f := entries[0].ContextMap()
				assert.Equal(t, ids[0], f[schema.RequestID])
				assert.Equal(t, "GET", f[schema.Method])
				assert.Equal(t, srv.URL+"/api/v1/public/recordings?page=2", f[schema.URL])
				assert.EqualValues(t, tt.status, f[schema.Status])
				assert.EqualValues(t, 1, f[schema.Attempt])
				assert.IsType(t, time.Duration(0), f[schema.Duration])
				require.IsType(t, time.Time{}, f[schema.StartedAt])
				assert.Equal(t, time.UTC, f[schema.StartedAt].(time.Time).Location())
				assertField(t, f, schema.Error, tt.message, tt.message != "")
				assertField(t, f, schema.Body, tt.logBody, tt.logBody != "")
				assertField(t, f, schema.RetryAfter, tt.retryAfter, tt.retryAfter != 0)
				if tt.errs != nil {
					assert.Equal(t, toAny(tt.errs), f[schema.Errors])
				} else {
					assert.NotContains(t, f, schema.Errors)
				}

				err = CheckResponse(resp)
				var apiErr *APIError
				require.ErrorAs(t, err, &apiErr)
				assert.Equal(t, tt.status, apiErr.StatusCode)
				assert.Equal(t, tt.message, apiErr.Message)
				assert.Equal(t, tt.errs, apiErr.Errors)
				assert.Equal(t, tt.retryAfter, apiErr.RetryAfter)
				assert.Equal(t, tt.logBody, apiErr.Body)
				assert.Equal(t, ids[0], apiErr.RequestID)
				assert.Equal(t, "GET", apiErr.Method)
				assert.Equal(t, f[schema.URL], apiErr.URL)
				assert.Equal(t, f[schema.StartedAt], apiErr.Time)
				assert.Equal(t, 1, apiErr.Attempt)
				assert.Contains(t, err.Error(), fmt.Sprint(tt.status))
				assert.Contains(t, err.Error(), ids[0])
				for _, s := range allSentinels {
					assert.Equal(t, s == tt.sentinel, errors.Is(err, s), "errors.Is(err, %v)", s)
				}
			})
		}
	}
}

func assertField(t *testing.T, fields map[string]any, key string, want any, present bool) {
	t.Helper()
	if !present {
		assert.NotContains(t, fields, key)
		return
	}
	assert.Equal(t, want, fields[key], key)
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func TestTransportSuccessLogsAndReadsNothing(t *testing.T) {
	t.Parallel()
	for _, status := range []int{200, 201, 204, 304} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			t.Parallel()
			body := &countingBody{r: strings.NewReader(`{"data":[]}`)}
			log, logs := observed()
			tr := New(stubRT{status: status, body: func() io.ReadCloser { return body }}, log)
			req, err := http.NewRequest("GET", "http://example.invalid/recordings", nil)
			require.NoError(t, err)

			resp, err := tr.RoundTrip(req)
			require.NoError(t, err)
			assert.Same(t, body, resp.Body, "the body is returned as the base gave it")
			assert.Zero(t, body.reads)
			assert.Zero(t, logs.Len())
			assert.NoError(t, CheckResponse(resp))
			assert.NotEmpty(t, RequestID(resp))
		})
	}
}

type countingBody struct {
	r      io.Reader
	reads  int
	n      int64
	closed bool
}

func (b *countingBody) Read(p []byte) (int, error) {
	b.reads++
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *countingBody) Close() error { b.closed = true; return nil }

func TestTransportErrorCarriesTheRequestID(t *testing.T) {
	t.Parallel()
	baseErr := fmt.Errorf("dial tcp: lookup api.identitycall.ai: %w", context.DeadlineExceeded)
	log, logs := observed()
	recorder := NewRecorder(0)
	tr := New(stubRT{err: baseErr}, log, WithRecorder(recorder))
	req, err := http.NewRequest("DELETE", "https://u:hunter22@api.identitycall.ai/api/v1/public/recordings/7?token=sekrit99", nil)
	require.NoError(t, err)

	resp, err := tr.RoundTrip(req)
	assert.Nil(t, resp)
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.Same(t, baseErr, te.Err)
	assert.Same(t, baseErr, errors.Unwrap(err))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.True(t, te.Timeout())

	entries := logs.AllUntimed()
	require.Len(t, entries, 1)
	assert.Equal(t, zapcore.ErrorLevel, entries[0].Level)
	f := entries[0].ContextMap()
	assert.NotContains(t, f, schema.Status)
	assert.Equal(t, baseErr.Error(), f[schema.Error])
	assert.Equal(t, "https://api.identitycall.ai/api/v1/public/recordings/7?token=REDACTED", f[schema.URL])
	assert.Equal(t, "/recordings/{id}", f[schema.Route])
	assert.Equal(t, "DELETE", f[schema.Method])
	assert.EqualValues(t, 1, f[schema.Attempt])

	// The error, its entry, its ticket and the Recorder agree.
	assert.Equal(t, f[schema.RequestID], te.RequestID)
	assert.Equal(t, f[schema.URL], te.URL)
	assert.Equal(t, "/recordings/{id}", te.Route)
	assert.Equal(t, "DELETE", te.Method)
	assert.Equal(t, 1, te.Attempt)
	assert.Equal(t, f[schema.StartedAt], te.Time)
	assert.Equal(t, f[schema.Duration], te.Duration)
	assert.Equal(t, te.RequestID, RequestIDFromError(err))
	assert.Equal(t, "identitycall: DELETE "+te.URL+": "+baseErr.Error()+" (request_id "+te.RequestID+")", err.Error())
	assert.Contains(t, te.SupportTicket(""), "Request ID:  "+te.RequestID)
	var bundle strings.Builder
	require.NoError(t, recorder.WriteBundle(&bundle, ""))
	assert.Contains(t, bundle.String(), `"request_id":"`+te.RequestID+`"`)
	assert.NotContains(t, err.Error()+te.SupportTicket("")+bundle.String(), "hunter22")
	assert.NotContains(t, err.Error()+te.SupportTicket("")+bundle.String(), "sekrit99")
}

func TestTransportDoesNotModifyRequest(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(404, `{"error":"Resource not found"}`))
	tr := New(srv.Client().Transport, zap.NewNop())
	ctx := context.WithValue(context.Background(), struct{ k int }{1}, "v")

	for _, header := range []http.Header{
		{"Authorization": {"Bearer " + testKey}},
		{"Authorization": {"Bearer " + testKey}, "X-Request-Id": {"caller-id"}},
		{"X-Request-Id": {"bad\nid"}},
		nil,
	} {
		req, err := http.NewRequestWithContext(ctx, "PATCH", srv.URL+"/recordings/1", strings.NewReader(`{"a":1}`))
		require.NoError(t, err)
		req.Header = header
		before := *req
		headerBefore := header.Clone()

		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		readAll(t, resp)

		assert.Equal(t, headerBefore, req.Header)
		after := *req
		assert.Equal(t, reflect.ValueOf(before.GetBody).Pointer(), reflect.ValueOf(after.GetBody).Pointer())
		before.GetBody, after.GetBody = nil, nil // DeepEqual never equates funcs
		assert.Equal(t, before, after)
		assert.Equal(t, ctx, req.Context())
		assert.NotSame(t, req, resp.Request, "the request sent is a copy")
	}
}

func TestWrapClient(t *testing.T) {
	t.Parallel()
	jar := &nopJar{}
	orig := &http.Client{Timeout: 3 * time.Second, Jar: jar}
	wrapped := WrapClient(orig, nil)
	assert.NotSame(t, orig, wrapped)
	assert.Nil(t, orig.Transport, "the original client is not modified")
	assert.Equal(t, 3*time.Second, wrapped.Timeout)
	assert.Same(t, jar, wrapped.Jar)
	require.IsType(t, &Transport{}, wrapped.Transport)
	assert.Equal(t, http.DefaultTransport, wrapped.Transport.(*Transport).base)

	base := &http.Transport{}
	wrapped = WrapClient(&http.Client{Transport: base}, nil)
	assert.Same(t, base, wrapped.Transport.(*Transport).base)

	wrapped = WrapClient(nil, nil)
	require.NotNil(t, wrapped)
	assert.IsType(t, &Transport{}, wrapped.Transport)
}

type nopJar struct{ http.CookieJar }

// BenchmarkRoundTrip measures the cost the Transport adds to a stub base
// transport (no network), against the bare stub in the same run:
//
//	go test -run '^$' -bench RoundTrip -benchmem -count 10 . | benchstat -
func BenchmarkRoundTrip(b *testing.B) {
	header := http.Header{"Content-Type": {"application/json"}}
	ok := stubRT{status: 200, header: header, body: stringBody(`{"data":[],"meta":{"current_page":1}}`)}
	notFound := stubRT{status: 404, header: header, body: stringBody(`{"error":"Resource not found"}`)}
	discard := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zapcore.DebugLevel))
	errorOnly := discard.WithOptions(zap.IncreaseLevel(zapcore.ErrorLevel))

	req, err := http.NewRequest("GET", "https://api.identitycall.ai/api/v1/public/recordings?page=2", nil)
	require.NoError(b, err)
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Accept", "application/json")

	for _, bm := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"success/bare", ok},
		{"success/idctrace", New(ok, discard)},
		{"success/idctrace-with-retry", New(ok, discard, WithRetry(DefaultRetryPolicy()))},
		{"failure/bare", notFound},
		{"failure/idctrace", New(notFound, discard)},
		{"failure/idctrace-warn-disabled", New(notFound, errorOnly)},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				resp, err := bm.rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

func TestFaultThousandConcurrentMixedCalls(t *testing.T) {
	t.Parallel()
	statuses := []int{200, 201, 204, 400, 401, 403, 404, 422, 429, 500, 502, 503}
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			var served sync.Map // request ID -> status
			srv := newServer(t, proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var status int
				fmt.Sscan(strings.TrimPrefix(r.URL.Path, "/"), &status)
				served.Store(r.Header.Get(DefaultRequestIDHeader), status)
				w.WriteHeader(status)
				if status != 204 {
					fmt.Fprintf(w, `{"error":"status %d"}`, status)
				}
			}))
			log, logs := observed()
			base := srv.Client().Transport.(*http.Transport).Clone()
			base.MaxConnsPerHost = 100 // 1,000 calls in flight, on at most 100 sockets
			defer base.CloseIdleConnections()
			client := WrapClient(&http.Client{Transport: base}, log)

			const n = 1000
			var failures atomic.Int32
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					status := statuses[i%len(statuses)]
					resp, err := client.Get(fmt.Sprint(srv.URL, "/", status))
					if !assert.NoError(t, err) {
						return
					}
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					assert.NoError(t, err)
					assert.Equal(t, status, resp.StatusCode)
					if status >= 400 {
						failures.Add(1)
						assert.Equal(t, fmt.Sprintf(`{"error":"status %d"}`, status), string(body))
					}
				})
			}
			wg.Wait()
			client.CloseIdleConnections() // which flushes the storm summaries

			entries := logs.FilterMessage(schema.Failed).All()
			assert.Equal(t, int(failures.Load()), accounted(logs), "every failure is written or counted")
			ids := map[string]bool{}
			served.Range(func(k, v any) bool { ids[k.(string)] = true; return true })
			assert.Len(t, ids, n, "a unique ID per call")
			for _, e := range entries {
				f := e.ContextMap()
				status, ok := served.Load(f[schema.RequestID])
				require.True(t, ok)
				assert.EqualValues(t, status, f[schema.Status], "the entry matches its request")
			}
		})
	}
}
