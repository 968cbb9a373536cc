package idctrace

import (
	"bytes"
	"cmp"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"

	"github.com/identitycall/idctrace/internal/api"
	"github.com/identitycall/idctrace/internal/schema"
)

func TestRoute(t *testing.T) {
	t.Parallel()
	const base = "https://api.identitycall.ai/api/v1/public"
	tests := []struct{ method, url, want string }{
		{"GET", base + "/recordings?page=2", "/recordings"},
		{"POST", base + "/recordings", "/recordings"},
		{"GET", base + "/recordings/018f3a2b-7c4d-7e8f-9a0b-1c2d3e4f5a6b/transcription", "/recordings/{id}/transcription"},
		{"GET", base + "/recordings/123/summary", "/recordings/{id}/summary"},
		{"", base + "/recordings/123/results", "/recordings/{id}/results"}, // "" means GET
		{"DELETE", base + "/projects/42", "/projects/{id}"},
		{"GET", base + "/virtual_numbers/available?country=US", "/virtual_numbers/available"},
		{"POST", base + "/virtual_numbers/purchase", "/virtual_numbers/purchase"},
		{"POST", base + "/virtual_numbers", "/virtual_numbers"},
		{"DELETE", base + "/virtual_numbers/7/operators/22", "/virtual_numbers/{id}/operators/{id}"},
		{"DELETE", base + "/virtual_numbers/7/remove_operator?operator_id=22", "/virtual_numbers/{id}/remove_operator"},
		{"PATCH", base + "/operators/42/", "/operators/{id}"},
		{"PUT", base + "/recordings/1", ""},                   // no such method there
		{"GET", base + "/recordings/1/audio", ""},             // no such path
		{"GET", "https://api.identitycall.ai/recordings", ""}, // no base path
		{"GET", base, ""},
		// Spelled as the server will route it once it cleans the path.
		{"POST", base + "//virtual_numbers/purchase", "/virtual_numbers/purchase"},
		{"POST", base + "/./virtual_numbers/purchase", "/virtual_numbers/purchase"},
		{"POST", base + "/x/../virtual_numbers/purchase", "/virtual_numbers/purchase"},
		{"POST", base + "/virtual_numbers/purchase//", "/virtual_numbers/purchase"},
		{"POST", base + "/virtual_numbers/%2e/purchase", "/virtual_numbers/purchase"},
		{"GET", base + "/recordings/1/../2/summary", "/recordings/{id}/summary"},
		{"GET", base + "/../public/recordings", "/recordings"},
		{"GET", base + "/..", ""},
		// A format suffix, as Rails routes it, where it makes a literal match.
		{"POST", base + "/virtual_numbers/purchase.json", "/virtual_numbers/purchase"},
		{"GET", base + "/virtual_numbers/available.json", "/virtual_numbers/available"},
		{"GET", base + "/recordings/1.json", "/recordings/{id}"},
		{"GET", base + "/recordings.json", "/recordings"},
		{"GET", base + "/recordings/1/summary.xml", "/recordings/{id}/summary"},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(tt.method, "/", nil)
		req.URL = mustParse(t, tt.url)
		req.Method = tt.method
		assert.Equal(t, tt.want, Route(req), "%s %s", tt.method, tt.url)
	}
	assert.Empty(t, Route(nil))
	assert.Empty(t, Route(&http.Request{}))

	opaque := httptest.NewRequest("POST", base+"/x", nil)
	opaque.URL.Opaque = "//api.identitycall.ai/api/v1/public//virtual_numbers/purchase"
	assert.Equal(t, "/virtual_numbers/purchase", Route(opaque), "an opaque URL is routed by the path it sends")
}

func mustParse(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u
}

// TestPurchaseSpelledAnyWayIsBoughtOnce: against a server that cleans paths
// before routing, as Go's ServeMux does, and answers every purchase with a
// 504, a purchase spelled in any unclean way is sent once, even with
// RetryNonIdempotent.
func TestPurchaseSpelledAnyWayIsBoughtOnce(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	bought := 0
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/public/virtual_numbers/purchase", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		bought++
		mu.Unlock()
		w.WriteHeader(http.StatusGatewayTimeout)
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path = path.Clean(r.URL.Path) // as most routers do; ServeMux would redirect
		r.URL.RawPath = ""
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	policy := RetryPolicy{MaxRetries: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, RetryNonIdempotent: true}
	client := WrapClient(srv.Client(), nil, WithRetry(policy))
	for _, p := range []string{
		"/api/v1/public/virtual_numbers/purchase",  // the base URL as documented
		"/api/v1/public//virtual_numbers/purchase", // a base URL with a trailing slash
		"/api/v1/public/./virtual_numbers/purchase",
		"/api/v1/public/x/../virtual_numbers/purchase",
		"/api/v1/public/virtual_numbers/purchase//",
	} {
		mu.Lock()
		bought = 0
		mu.Unlock()
		resp, err := client.Post(srv.URL+p, "application/json", strings.NewReader(`{"phone_number":"+15551234567"}`))
		require.NoError(t, err, p)
		readAll(t, resp)
		assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode, p)
		mu.Lock()
		assert.Equal(t, 1, bought, "%s: one call, one number", p)
		mu.Unlock()
	}
}

// FuzzRoute checks Route against an oracle of its own: the path cleaned
// with path.Clean, matched against the documented templates, the most
// literal segments winning, as a server that cleans paths routes it.
func FuzzRoute(f *testing.F) {
	for _, seed := range []string{"/api/v1/public/recordings", "/api/v1/public//virtual_numbers/purchase",
		"/api/v1/public/x/../virtual_numbers/available", "/api/v1/public/recordings/1/./summary//", "/a/../api/v1/public/projects/%2e%2e/",
		"/api/v1/public/virtual_numbers/7/operators/9", "/api/v1/public/virtual_numbers/purchase.json"} {
		f.Add("POST", seed)
		f.Add("GET", seed)
	}
	f.Fuzz(func(t *testing.T, method, p string) {
		u, err := url.Parse(p)
		if err != nil || u.Opaque != "" || method == "" {
			return
		}
		assert.Equal(t, oracleRoute(method, u.Path), Route(&http.Request{Method: method, URL: u}), "%s %q", method, p)
	})
}

func oracleRoute(method, p string) string {
	if p == "" {
		return ""
	}
	rel, ok := strings.CutPrefix(path.Clean(p), "/api/v1/public/")
	if !ok {
		return ""
	}
	best, literals := oracleMatch(method, rel)
	if ext := path.Ext(rel); ext != "" && !strings.Contains(ext, "/") {
		if b, n := oracleMatch(method, strings.TrimSuffix(rel, ext)); n > literals {
			best = b
		}
	}
	return best
}

func oracleMatch(method, rel string) (string, int) {
	best, literals := "", -1
	for _, e := range api.Endpoints {
		segs, tsegs := strings.Split(rel, "/"), strings.Split(strings.TrimPrefix(e.Path, "/"), "/")
		if e.Method != method || len(segs) != len(tsegs) {
			continue
		}
		n := 0
		for i := range segs {
			switch {
			case tsegs[i] == segs[i]:
				n++
			case tsegs[i] != "{id}" || segs[i] == "":
				n = -1
			}
			if n < 0 {
				break
			}
		}
		if n > literals {
			best, literals = e.Path, n
		}
	}
	return best, literals
}

// TestRouteInEveryOutput: the entry, the error, the ticket and the bundle
// name the endpoint; an undocumented path gets no route anywhere.
func TestRouteInEveryOutput(t *testing.T) {
	t.Parallel()
	srv := newScripted(t, reply(404, `{"error":"Resource not found"}`))
	for path, route := range map[string]string{
		"/api/v1/public/recordings/rec_1/summary": "/recordings/{id}/summary",
		"/api/v1/public/nowhere":                  "",
	} {
		log, logs := observed()
		recorder := NewRecorder(0)
		resp, err := WrapClient(srv.Client(), log, WithRecorder(recorder)).Get(srv.URL + path)
		require.NoError(t, err)
		readAll(t, resp)
		var apiErr *APIError
		require.ErrorAs(t, CheckResponse(resp), &apiErr)
		assert.Equal(t, route, apiErr.Route)
		var bundle bytes.Buffer
		require.NoError(t, recorder.WriteBundle(&bundle, ""))
		f := logs.All()[0].ContextMap()
		if route == "" {
			assert.NotContains(t, f, schema.Route)
			assert.NotContains(t, apiErr.SupportTicket(""), "Endpoint:")
			assert.NotContains(t, bundle.String(), `"route"`)
			continue
		}
		assert.Equal(t, route, f[schema.Route])
		assert.Contains(t, apiErr.SupportTicket(""), "Endpoint:    GET "+route+"\n")
		assert.Contains(t, bundle.String(), `"route":"`+route+`"`)
	}
}

func TestLevels(t *testing.T) {
	t.Parallel()
	const base = "http://h/api/v1/public"
	tests := []struct {
		name   string
		url    string
		status int
		err    bool
		level  func(int, string) zapcore.Level
		want   zapcore.Level
	}{
		{"not ready: transcription", base + "/recordings/1/transcription", 422, false, nil, zapcore.DebugLevel},
		{"not ready: results", base + "/recordings/1/results", 422, false, nil, zapcore.DebugLevel},
		{"not ready: summary", base + "/recordings/1/summary", 422, false, nil, zapcore.DebugLevel},
		{"other 422", base + "/recordings", 422, false, nil, zapcore.WarnLevel},
		{"404 on transcription", base + "/recordings/1/transcription", 404, false, nil, zapcore.WarnLevel},
		{"5xx", base + "/recordings", 503, false, nil, zapcore.ErrorLevel},
		{"transport error", base + "/recordings", 0, true, nil, zapcore.ErrorLevel},
		{"WithLevel", base + "/recordings", 404, false, func(status int, route string) zapcore.Level {
			if status == 404 && route == "/recordings" {
				return zapcore.InfoLevel
			}
			return zapcore.ErrorLevel
		}, zapcore.InfoLevel},
		{"WithLevel sees status 0 for transport errors", base + "/recordings", 0, true, func(status int, _ string) zapcore.Level {
			if status == 0 {
				return zapcore.InfoLevel
			}
			return zapcore.ErrorLevel
		}, zapcore.InfoLevel},
		{"Fatal counts as Error: a failed call never exits", base + "/recordings", 500, false,
			func(int, string) zapcore.Level { return zapcore.FatalLevel }, zapcore.ErrorLevel},
		{"Panic counts as Error", base + "/recordings", 500, false,
			func(int, string) zapcore.Level { return zapcore.PanicLevel }, zapcore.ErrorLevel},
		{"below Debug counts as Debug", base + "/recordings", 500, false,
			func(int, string) zapcore.Level { return zapcore.DebugLevel - 3 }, zapcore.DebugLevel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := stubRT{status: tt.status, body: stringBody(`{"error":"Transcription not available"}`)}
			if tt.err {
				base.err = io.EOF
			}
			log, logs := observed()
			resp, _ := New(base, log, WithLevel(tt.level)).RoundTrip(httptest.NewRequest("GET", tt.url, nil))
			if resp != nil {
				assert.Error(t, CheckResponse(resp), "the error is there whatever the level")
				resp.Body.Close()
			}
			require.Equal(t, 1, logs.Len())
			assert.Equal(t, tt.want, logs.All()[0].Level)
		})
	}
}

func TestLoggedQueryParams(t *testing.T) {
	t.Parallel()
	const base = "http://h/api/v1/public"
	tests := []struct {
		url    string
		opts   []Option
		want   string
		method string // "" for GET
	}{
		{base + "/recordings?page=2&per_page=50&status=completed&q=alice", nil,
			base + "/recordings?page=2&per_page=50&status=completed&q=REDACTED", ""},
		{base + "/operators?page=1&status=x", nil, base + "/operators?page=1&status=REDACTED", ""},
		{base + "/virtual_numbers/available?country=US&number_type=local&area=415", nil,
			base + "/virtual_numbers/available?country=US&number_type=local&area=REDACTED", ""},
		{base + "/virtual_numbers/7/remove_operator?operator_id=22", nil, base + "/virtual_numbers/7/remove_operator?operator_id=22", "DELETE"},
		{base + "/virtual_numbers/7/remove_operator?operator_id=22", nil, base + "/virtual_numbers/7/remove_operator?operator_id=REDACTED", "GET"},
		{base + "/undocumented?page=3&phone=%2B15551234567", nil, base + "/undocumented?page=3&phone=REDACTED", ""},
		{base + "/recordings?project_id=7&q=x", []Option{WithLoggedQueryParams("project_id")},
			base + "/recordings?project_id=7&q=REDACTED", ""},
		{base + "/recordings?project_id=7&q=x", []Option{WithLoggedQueryParams("project_id"), WithLoggedQueryParams("q")},
			base + "/recordings?project_id=7&q=x", ""},
		{base + "/recordings?token=abcd1234&api_key=k", []Option{WithLoggedQueryParams("token", "api_key")},
			base + "/recordings?token=REDACTED&api_key=REDACTED", ""},
		{base + "/recordings?status=" + testKey, nil, base + "/recordings?status=REDACTED", ""},
	}
	for _, tt := range tests {
		log, logs := observed()
		resp, err := New(stubRT{status: 404, body: stringBody("{}")}, log, tt.opts...).RoundTrip(httptest.NewRequest(cmp.Or(tt.method, "GET"), tt.url, nil))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, tt.want, logs.All()[0].ContextMap()[schema.URL], tt.url)
	}
}

// TestDefaultBaseURLIsTheRouteTablesBase: the documented constant and the
// route table agree.
func TestDefaultBaseURLIsTheRouteTablesBase(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "https://api.identitycall.ai"+api.BasePath, DefaultBaseURL)
}

// TestDocsListEveryLoggedFilter: docs/security.md lists the query
// parameters whose values each documented endpoint logs, as the route
// table has them, and no others.
func TestDocsListEveryLoggedFilter(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("docs", "security.md"))
	require.NoError(t, err)
	listed := regexp.MustCompile("(?m)^  - `([A-Z]+ [^`]+)`: (.+)$").FindAllStringSubmatch(string(doc), -1)
	got := map[string]string{}
	for _, m := range listed {
		got[m[1]] = m[2]
	}
	want := map[string]string{}
	for _, e := range api.Endpoints {
		if len(e.Params) > 0 {
			want[e.Method+" "+e.Path] = "`" + strings.Join(e.Params, "`, `") + "`"
		}
	}
	assert.Equal(t, want, got)
}
