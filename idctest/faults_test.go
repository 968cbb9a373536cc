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
	}{
		{name: "status, before authentication", fault: idctest.Fault{Status: 503}, status: 503, body: `{"error":"Service unavailable"}`},
		{name: "status and body", fault: idctest.Fault{Status: 502, Body: "<html>bad gateway</html>"}, key: true, status: 502, body: "<html>bad gateway</html>"},
		{name: "status and header", fault: idctest.Fault{Status: 429, Header: http.Header{"Retry-After": {"0.01"}}}, key: true, status: 429,
			body: `{"error":"Rate limit exceeded","retry_after":60}`, header: [2]string{"Retry-After", "0.01"}},
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

func TestFaultDrop(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	srv.Inject(1, idctest.Fault{Drop: true})
	_, err := srv.Client().Get(srv.URL + "/recordings")
	require.Error(t, err)
	assert.ErrorIs(t, err, io.EOF)
	assert.Equal(t, 0, srv.Requests()[0].Status, "a dropped connection is logged without a status")
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
