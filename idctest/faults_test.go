package idctest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/idctest"
)

func TestFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		fault  idctest.Fault
		key    bool // send a valid key
		status int
		body   string // "" for the documented answer of the request
		header [2]string
		only   bool // header[1] is the header's only value
	}{
		{name: "status, before authentication", fault: idctest.Fault{Status: 503}, status: 503, body: `{"error":"Service unavailable"}`},
		{name: "status and body", fault: idctest.Fault{Status: 502, Body: "<html>bad gateway</html>"}, key: true, status: 502, body: "<html>bad gateway</html>"},
		{name: "a 429 asks for 1 s, not a minute", fault: idctest.Fault{Status: 429}, status: 429,
			body: `{"error":"Rate limit exceeded","retry_after":1}`, header: [2]string{"Retry-After", "1"}, only: true},
		{name: "a 429 with a Retry-After of its own", fault: idctest.Fault{Status: 429, Header: http.Header{"Retry-After": {"0.01"}}}, key: true, status: 429,
			body: `{"error":"Rate limit exceeded","retry_after":1}`, header: [2]string{"Retry-After", "0.01"}, only: true},
		{name: "a 429 with a body of its own", fault: idctest.Fault{Status: 429, Body: `{"error":"Slow down"}`}, status: 429,
			body: `{"error":"Slow down"}`, header: [2]string{"Retry-After", ""}},
		{name: "a header on the real answer", fault: idctest.Fault{Header: http.Header{"X-Upstream": {"edge-1"}}}, key: true, status: 200,
			header: [2]string{"X-Upstream", "edge-1"}},
		{name: "a body on the real status", fault: idctest.Fault{Body: "not JSON"}, key: true, status: 200, body: "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := idctest.Start(t)
			key := ""
			if tt.key {
				key = srv.NewKey(idctest.Read)
			}
			srv.Inject(1, tt.fault)
			r := call(t, srv, key, "GET", "/recordings", nil)
			assert.Equal(t, tt.status, r.status)
			if tt.body != "" {
				assert.Equal(t, tt.body, strings.TrimSpace(r.body))
			}
			if tt.header[0] != "" {
				assert.Equal(t, tt.header[1], r.header.Get(tt.header[0]))
			}
			if tt.only {
				assert.Len(t, r.header.Values(tt.header[0]), 1)
			}
			assert.Equal(t, 401, call(t, srv, "", "GET", "/recordings", nil).status, "the fault was for one request")
		})
	}
}

func TestFaultQueueAndFailNext(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	key := srv.NewKey(idctest.Read)
	srv.FailNext(2)
	srv.Inject(1, idctest.Fault{Status: 504})
	srv.Inject(0, idctest.Fault{Status: 418}) // nothing
	var got []int
	for range 4 {
		got = append(got, call(t, srv, key, "GET", "/recordings", nil).status)
	}
	assert.Equal(t, []int{500, 500, 504, 200}, got)
}

func TestFaultRoute(t *testing.T) {
	t.Parallel()
	type step struct {
		method, path string
		status       int
	}
	get := func(path string, status int) step { return step{"GET", path, status} }
	tests := []struct {
		name   string
		inject []idctest.Fault // one request each, in this order
		n      int             // requests for the first fault; 1 when 0
		steps  []step
	}{
		{
			name:   "only the route's requests",
			inject: []idctest.Fault{{Status: 503, Route: "GET /recordings"}},
			steps:  []step{get("/projects", 200), {"POST", "/projects", 201}, get("/recordings", 503), get("/recordings", 200)},
		},
		{
			name:   "n requests of the route, however many others come between",
			inject: []idctest.Fault{{Status: 503, Route: "GET /recordings"}},
			n:      2,
			steps:  []step{get("/recordings", 503), get("/projects", 200), get("/projects", 200), get("/recordings", 503), get("/recordings", 200)},
		},
		{
			name:   "a template's every ID, legacy or public",
			inject: []idctest.Fault{{Status: 502, Route: "GET /recordings/{id}"}},
			n:      2,
			steps:  []step{get("/recordings", 200), get("/recordings/42", 502), get("/recordings/rec_x", 502), get("/recordings/42", 404)},
		},
		{
			name:   "a literal segment is not an ID",
			inject: []idctest.Fault{{Status: 502, Route: "GET /virtual_numbers/{id}"}},
			steps:  []step{get("/virtual_numbers/available", 200), get("/virtual_numbers/7", 502)},
		},
		{
			name:   "a fault without a route, injected first, takes the route's request too",
			inject: []idctest.Fault{{Status: 500}, {Status: 503, Route: "GET /recordings"}},
			steps:  []step{get("/recordings", 500), get("/recordings", 503), get("/recordings", 200)},
		},
		{
			name:   "a route's fault waits while another request takes the fault after it",
			inject: []idctest.Fault{{Status: 503, Route: "GET /recordings"}, {Status: 500}},
			steps:  []step{get("/projects", 500), get("/recordings", 503), get("/recordings", 200)},
		},
		{
			name:   "a request of no route takes only faults without one",
			inject: []idctest.Fault{{Status: 503, Route: "GET /recordings"}, {Status: 502}},
			steps:  []step{get("/nowhere", 502), get("/nowhere", 404), get("/recordings", 503)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := idctest.Start(t)
			key := srv.NewKey(idctest.Read, idctest.Write)
			for i, f := range tt.inject {
				n := 1
				if i == 0 && tt.n > 0 {
					n = tt.n
				}
				srv.Inject(n, f)
			}
			for i, s := range tt.steps {
				var body any
				if s.method == "POST" {
					body = `{"name":"P","language":"en"}`
				}
				assert.Equal(t, s.status, call(t, srv, key, s.method, s.path, body).status, "step %d: %s %s", i, s.method, s.path)
			}
		})
	}
}

func TestFaultRouteMustBeDocumented(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	for _, route := range []string{"GET /recordings/42", "GET /nowhere", "get /recordings", "GET  /recordings", "/recordings",
		"GET /recordings/", "GET /api/v1/public/recordings", "PUT /recordings/{id}"} {
		assert.PanicsWithValue(t, `idctest: Inject: "`+route+`" is not a documented route, such as "GET /recordings/{id}"`,
			func() { srv.Inject(1, idctest.Fault{Status: 500, Route: route}) }, route)
	}
	srv.Inject(1, idctest.Fault{Status: 500, Route: "DELETE /virtual_numbers/{id}/operators/{id}"})
}

// TestFaultDrop: the line of a dropped request is in the log before the
// client sees the drop, every time.
func TestFaultDrop(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	for i := range 20 {
		srv.Inject(1, idctest.Fault{Drop: true})
		_, err := srv.Client().Get(srv.URL + "/recordings")
		require.Error(t, err)
		assert.ErrorIs(t, err, io.EOF)
		lines := srv.Requests()
		require.Len(t, lines, i+1, "round %d", i)
		assert.Equal(t, 0, lines[i].Status, "a dropped connection is logged without a status")
	}
}

func TestFaultCut(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	key := srv.NewKey(idctest.Read, idctest.Write)
	project := newProject(t, srv, key, "P")
	srv.Inject(1, idctest.Fault{Cut: true})

	body := form(t, "call.mp3", "audio", "project_id", project, "external_id", "crm-1")
	req, _ := http.NewRequest("POST", srv.URL+"/recordings", strings.NewReader(string(body.body)))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", body.contentType)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err, "the headers arrived")
	assert.Equal(t, 201, resp.StatusCode)
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "then half the body and the end of the connection")
	assert.True(t, strings.HasPrefix(`{"data":{`, string(got)) || strings.HasPrefix(string(got), `{"data":{`), "%q", got)

	again := call(t, srv, key, "POST", "/recordings", body)
	assert.Equal(t, 200, again.status, "the cut upload did its work: the retry with its external_id finds it")
}

func TestFaultDelayAndATimeout(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	key := srv.NewKey(idctest.Read)
	srv.Inject(1, idctest.Fault{Delay: time.Minute})
	client := idctrace.WrapClient(srv.Client(), nil)
	client.Timeout = 50 * time.Millisecond
	req, _ := http.NewRequest("GET", srv.URL+"/recordings", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	_, err := client.Do(req)
	require.Error(t, err)
	assert.NotEmpty(t, idctrace.RequestIDFromError(err))
	var te *idctrace.TransportError
	if errors.As(err, &te) { // unless http.Client kept only the text
		assert.ErrorIs(t, te, context.DeadlineExceeded)
		assert.Contains(t, te.Hint, "No response within")
	}
}
