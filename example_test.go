package idctrace_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/internal/schema"
)

// fakeAPI stands in for IdentityCall: every path answers 404 with the
// documented error body, except /ok.
func fakeAPI() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/api/v1/public/ok" {
			fmt.Fprint(w, `{"data":[]}`)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":"Resource not found"}`)
	}))
}

// stableFields drops what changes from run to run: the duration, the start
// time and the test server's port. Real logs keep them.
var stableFields = zap.WrapCore(func(c zapcore.Core) zapcore.Core { return stableCore{c} })

type stableCore struct{ zapcore.Core }

func (c stableCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c stableCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	kept := fields[:0:0]
	for _, f := range fields {
		switch f.Key {
		case schema.Duration, schema.StartedAt, schema.FirstAt, schema.LastAt:
		case schema.URL:
			f.String = portRE.ReplaceAllString(f.String, "127.0.0.1/")
			kept = append(kept, f)
		default:
			kept = append(kept, f)
		}
	}
	return c.Core.Write(e, kept)
}

var portRE = regexp.MustCompile(`127\.0\.0\.1:\d+/`)

// fixedID makes the examples' output stable; by default the Transport sends
// a random UUID.
var fixedID = idctrace.WithIDGenerator(func() string { return "req-1" })

func ExampleNew() {
	srv := fakeAPI()
	defer srv.Close()

	logger := zap.NewExample(stableFields) // JSON to stdout, no timestamps
	client := &http.Client{Transport: idctrace.New(http.DefaultTransport, logger, fixedID)}

	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/public/recordings/42?page=2&api_key=idc_Q7mK2xV9pL4sT8wB3nR6yH1cF5jD0gZa", nil)
	req.Header.Set("Authorization", "Bearer idc_Q7mK2xV9pL4sT8wB3nR6yH1cF5jD0gZa")
	resp, err := client.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d %s\n", resp.StatusCode, body)
	// Output:
	// {"level":"warn","msg":"identitycall request failed","request_id":"req-1","method":"GET","url":"http://127.0.0.1/api/v1/public/recordings/42?page=2&api_key=REDACTED","route":"/recordings/{id}","status":404,"attempt":1,"error":"Resource not found"}
	// 404 {"error":"Resource not found"}
}

func ExampleWrapClient() {
	srv := fakeAPI()
	defer srv.Close()

	client := idctrace.WrapClient(srv.Client(), nil, fixedID) // nil logger: IDs and errors only
	resp, err := client.Get(srv.URL + "/api/v1/public/ok")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body), idctrace.RequestID(resp))
	// Output: 200 {"data":[]} req-1
}

func ExampleCheckResponse() {
	srv := fakeAPI()
	defer srv.Close()
	client := idctrace.WrapClient(srv.Client(), nil, fixedID)

	resp, err := client.Get(srv.URL + "/api/v1/public/recordings/42")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	if err := idctrace.CheckResponse(resp); err != nil {
		var apiErr *idctrace.APIError
		if errors.As(err, &apiErr) {
			fmt.Println(apiErr.StatusCode, apiErr.Message, apiErr.RequestID)
		}
		fmt.Println(err)
	}
	body, _ := io.ReadAll(resp.Body) // still the complete body
	fmt.Println(string(body))
	// Output:
	// 404 Resource not found req-1
	// identitycall: 404 Not Found: Resource not found (request_id req-1)
	// {"error":"Resource not found"}
}

func ExampleAPIError_Is() {
	srv := fakeAPI()
	defer srv.Close()
	client := idctrace.WrapClient(srv.Client(), nil, fixedID)

	resp, err := client.Get(srv.URL + "/api/v1/public/recordings/42")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	err = idctrace.CheckResponse(resp)
	switch {
	case errors.Is(err, idctrace.ErrNotFound):
		fmt.Println("no such recording")
	case errors.Is(err, idctrace.ErrRateLimited), errors.Is(err, idctrace.ErrServer):
		fmt.Println("try again later")
	}
	// Output: no such recording
}

func ExampleWithRetry() {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":"Rate limit exceeded","retry_after":0.05}`)
			return
		}
		fmt.Fprintf(w, `{"data":[]} for %s`, r.Header.Get("X-Request-ID"))
	}))
	defer srv.Close()

	policy := idctrace.DefaultRetryPolicy()  // 3 retries, 500 ms base delay, 60 s cap, a retry budget
	policy.BaseDelay = 10 * time.Millisecond // for the example: the 429's retry_after is longer
	client := idctrace.WrapClient(srv.Client(), zap.NewExample(stableFields), fixedID, idctrace.WithRetry(policy))

	resp, err := client.Get(srv.URL + "/api/v1/public/recordings")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output:
	// {"level":"warn","msg":"identitycall request failed","request_id":"req-1","method":"GET","url":"http://127.0.0.1/api/v1/public/recordings","route":"/recordings","status":429,"attempt":1,"error":"Rate limit exceeded","retry_after":"50ms","retry_in":"50ms"}
	// 200 {"data":[]} for req-1
}

func ExampleWithLogLimit() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":"Service unavailable"}`)
	}))
	defer srv.Close()
	var n int
	ids := idctrace.WithIDGenerator(func() string { n++; return fmt.Sprint("req-", n) })
	// Two entries of a kind an hour, for the example; the default is 10 a second.
	tr := idctrace.New(srv.Client().Transport, zap.NewExample(stableFields), ids, idctrace.WithLogLimit(2, time.Hour))
	for range 25 {
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL + "/api/v1/public/recordings")
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
	}
	tr.Flush() // at shutdown, beside logger.Sync(): the summary comes at once
	// Output:
	// {"level":"error","msg":"identitycall request failed","request_id":"req-1","method":"GET","url":"http://127.0.0.1/api/v1/public/recordings","route":"/recordings","status":503,"attempt":1,"error":"Service unavailable"}
	// {"level":"error","msg":"identitycall request failed","request_id":"req-2","method":"GET","url":"http://127.0.0.1/api/v1/public/recordings","route":"/recordings","status":503,"attempt":1,"error":"Service unavailable"}
	// {"level":"error","msg":"identitycall request failures summarized","method":"GET","route":"/recordings","status":503,"suppressed":23,"first_request_id":"req-3","last_request_id":"req-25"}
}

func ExampleNewLimiter() {
	srv := fakeAPI()
	defer srv.Close()
	lim := idctrace.NewLimiter(1, time.Hour) // one request an hour, for the example; NewLimiter(60, time.Minute) on the Free plan
	client := idctrace.WrapClient(srv.Client(), nil, idctrace.WithLimiter(lim))
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/public/ok", nil)
		resp, err := client.Do(req)
		cancel()
		if errors.Is(err, idctrace.ErrLocalRateLimit) {
			fmt.Println("not sent: no slot before the call's deadline; the server never saw it")
			continue
		}
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println(resp.Status)
	}
	// Output:
	// 200 OK
	// not sent: no slot before the call's deadline; the server never saw it
}

func ExampleAPIError_SupportTicket() {
	// An APIError as CheckResponse returns it; its strings are redacted.
	apiErr := &idctrace.APIError{
		StatusCode: http.StatusUnprocessableEntity,
		Errors:     []string{"Project must be a positive integer", "Language is not supported"},
		RequestID:  "5e89d091-3918-4101-9f1f-c00cb6cf7e57",
		Method:     "POST",
		URL:        "https://api.identitycall.ai/api/v1/public/recordings?api_key=REDACTED&project_id=0",
		Time:       time.Date(2026, 11, 25, 5, 24, 47, 0, time.UTC),
		Attempt:    1,
	}
	fmt.Print(apiErr.SupportTicket("you@example.com"))
	// Output:
	// IdentityCall support request
	// Account:     you@example.com
	// Time:        2026-11-25T05:24:47Z
	// Request ID:  5e89d091-3918-4101-9f1f-c00cb6cf7e57
	// Request:     POST https://api.identitycall.ai/api/v1/public/recordings
	// Parameters:  api_key=REDACTED, project_id=0
	// Status:      422 Unprocessable Entity
	// Errors:
	//   - Project must be a positive integer
	//   - Language is not supported
}

func ExampleRecorder() {
	srv := fakeAPI()
	defer srv.Close()
	recorder := idctrace.NewRecorder(20) // the last 20 failed attempts
	var n int
	ids := idctrace.WithIDGenerator(func() string { n++; return fmt.Sprint("req-", n) })
	client := idctrace.WrapClient(srv.Client(), nil, ids, idctrace.WithRecorder(recorder))
	for _, path := range []string{"/recordings/41", "/ok", "/recordings/42"} {
		resp, err := client.Get(srv.URL + "/api/v1/public" + path)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
	}

	var bundle bytes.Buffer // a file to attach to a support ticket
	if err := recorder.WriteBundle(&bundle, "you@example.com"); err != nil {
		panic(err)
	}
	for line := range strings.Lines(bundle.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			panic(err)
		}
		if m["bundle"] != nil {
			fmt.Println(m["bundle"], m["account"], m["failures"])
			continue
		}
		fmt.Println(m["request_id"], m["method"], m["status"], m["error"], portRE.ReplaceAllString(m["url"].(string), "127.0.0.1/"))
	}
	// Output:
	// identitycall-failures you@example.com 2
	// req-1 GET 404 Resource not found http://127.0.0.1/api/v1/public/recordings/41
	// req-3 GET 404 Resource not found http://127.0.0.1/api/v1/public/recordings/42
}

func ExampleContextWithRequestID() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Header.Get("X-Request-ID")) // what the server saw
	}))
	defer srv.Close()
	client := idctrace.WrapClient(srv.Client(), nil, fixedID)
	get := func(req *http.Request) {
		resp, err := client.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		seen, _ := io.ReadAll(resp.Body)
		fmt.Println(string(seen), idctrace.RequestID(resp))
	}

	// An ID carried in from elsewhere, say an inbound request's, is sent on.
	ctx := idctrace.ContextWithRequestID(context.Background(), "job-7")
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	get(req)

	// A header the caller set wins over the context.
	req, _ = http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	req.Header.Set("X-Request-ID", "caller-1")
	get(req)

	// Without either, the generator makes one.
	req, _ = http.NewRequest("GET", srv.URL, nil)
	get(req)
	// Output:
	// job-7 job-7
	// caller-1 caller-1
	// req-1 req-1
}

func ExampleWithLogFields() {
	srv := fakeAPI()
	defer srv.Close()

	// The project a call was made for, from the request's query: a field of
	// your own on every failure entry, while the URL logs no undocumented
	// query value. Never return a secret from here.
	project := idctrace.WithLogFields(func(req *http.Request) []zap.Field {
		return []zap.Field{zap.String("project_id", req.URL.Query().Get("project_id"))}
	})
	client := idctrace.WrapClient(srv.Client(), zap.NewExample(stableFields), fixedID, project)
	resp, err := client.Get(srv.URL + "/api/v1/public/recordings?project_id=7")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	// Output:
	// {"level":"warn","msg":"identitycall request failed","request_id":"req-1","method":"GET","url":"http://127.0.0.1/api/v1/public/recordings?project_id=REDACTED","route":"/recordings","status":404,"attempt":1,"error":"Resource not found","project_id":"7"}
}

func ExampleRequestIDFromError() {
	// A server that answers too late for the call's deadline.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	client := idctrace.WrapClient(srv.Client(), nil, fixedID)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/public/projects", nil)
	_, err := client.Do(req)

	fmt.Println(idctrace.RequestIDFromError(err)) // what support needs, from any error
	var te *idctrace.TransportError
	if errors.As(err, &te) {
		fmt.Println(te.Route, te.Timeout(), errors.Is(err, context.DeadlineExceeded))
		fmt.Println(strings.HasPrefix(te.Hint, "No response within"))
	}
	// Output:
	// req-1
	// /projects true true
	// true
}

// Poll a transcription until it is ready: the documented not-ready answer
// (422 "Transcription not available") is ErrNotReady, logged at Debug, so
// a polling loop never compares message strings.
func Example_polling() {
	var polls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if polls.Add(1) < 3 {
			w.WriteHeader(http.StatusUnprocessableEntity)
			fmt.Fprint(w, `{"error":"Transcription not available"}`)
			return
		}
		fmt.Fprint(w, `{"data":{"text":"Hello, thanks for calling."}}`)
	}))
	defer srv.Close()
	client := idctrace.WrapClient(srv.Client(), zap.NewNop())

	url := srv.URL + "/api/v1/public/recordings/rec_1/transcription"
	for {
		resp, err := client.Get(url)
		if err != nil {
			fmt.Println("no response:", idctrace.RequestIDFromError(err))
			return
		}
		err = idctrace.CheckResponse(resp)
		if errors.Is(err, idctrace.ErrNotReady) {
			resp.Body.Close()
			fmt.Println("not ready yet")
			time.Sleep(10 * time.Millisecond) // IdentityCall suggests polling every 5 s
			continue
		}
		if err != nil {
			resp.Body.Close()
			fmt.Println(err)
			return
		}
		var transcription struct {
			Data struct{ Text string } `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&transcription)
		resp.Body.Close()
		fmt.Println(transcription.Data.Text, err)
		return
	}
	// Output:
	// not ready yet
	// not ready yet
	// Hello, thanks for calling. <nil>
}

// Decode a list: a success is returned as the server sent it, in the
// documented envelope (data, and meta for pagination); a failure is an
// *APIError from CheckResponse, its body still whole.
func Example_decoding() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("page") == "9" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"page is out of range"}`)
			return
		}
		fmt.Fprint(w, `{"data":[{"public_id":"rec_1","name":"renewal-call.mp3"}],"meta":{"current_page":1,"total_pages":1,"total_count":1,"per_page":20}}`)
	}))
	defer srv.Close()
	var n int
	ids := idctrace.WithIDGenerator(func() string { n++; return fmt.Sprint("req-", n) })
	client := idctrace.WrapClient(srv.Client(), zap.NewNop(), ids)

	for _, page := range []string{"1", "9"} {
		resp, err := client.Get(srv.URL + "/api/v1/public/recordings?page=" + page)
		if err != nil {
			fmt.Println(err)
			return
		}
		if err := idctrace.CheckResponse(resp); err != nil {
			resp.Body.Close()
			fmt.Println(err)
			continue
		}
		var list struct {
			Data []struct {
				PublicID string `json:"public_id"`
				Name     string
			}
			Meta struct {
				CurrentPage int `json:"current_page"`
				TotalCount  int `json:"total_count"`
			}
		}
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		fmt.Printf("page %d, %d recording(s): %+v %v\n", list.Meta.CurrentPage, list.Meta.TotalCount, list.Data, err)
	}
	// Output:
	// page 1, 1 recording(s): [{PublicID:rec_1 Name:renewal-call.mp3}] <nil>
	// identitycall: 400 Bad Request: page is out of range (request_id req-2)
}
