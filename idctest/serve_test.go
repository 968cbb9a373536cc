package idctest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/identitycall/idctrace"
	"github.com/identitycall/idctrace/idctest"
	"github.com/identitycall/idctrace/internal/api"
	"github.com/identitycall/idctrace/internal/schema"
)

func TestRouting(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	key := srv.NewKey(idctest.Read, idctest.Write, idctest.Delete)
	tests := []struct {
		name, key, method, path string
		status                  int
		body, allow             string
	}{
		{"unknown path", key, "GET", "/nowhere", 404, `{"error":"Resource not found"}`, ""},
		{"unknown path, no key: routing comes first", "", "GET", "/nowhere", 404, `{"error":"Resource not found"}`, ""},
		{"wrong method", key, "PUT", "/recordings/1", 405, `{"error":"Method not allowed"}`, "DELETE, GET, HEAD, PATCH"},
		{"wrong method on a list", key, "DELETE", "/recordings", 405, `{"error":"Method not allowed"}`, "GET, HEAD, POST"},
		// PATCH /virtual_numbers/{id} matches the path too.
		{"a literal segment wins for its method", key, "POST", "/virtual_numbers/available", 405, `{"error":"Method not allowed"}`, "GET, HEAD, PATCH"},
	}
	for _, tt := range tests {
		r := call(t, srv, tt.key, tt.method, tt.path, nil)
		assert.Equal(t, tt.status, r.status, tt.name)
		assert.JSONEq(t, tt.body, r.body, tt.name)
		assert.Equal(t, tt.allow, r.header.Get("Allow"), tt.name)
	}
}

func TestAuthAndPermissions(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	all := srv.NewKey(idctest.Read, idctest.Write, idctest.Delete)
	readOnly := srv.NewKey(idctest.Read)
	writeOnly := srv.NewKey(idctest.Write)
	revoked := srv.NewKey(idctest.Read)
	srv.RevokeKey(revoked)
	expired := srv.NewKey(idctest.Read)
	srv.ExpireKey(expired)
	project := newProject(t, srv, all, "Support")
	rec := upload(t, srv, all, "project_id", project)["public_id"].(string)

	tests := []struct {
		name, key, method, path string
		status                  int
		want                    string
	}{
		{"missing key", "", "GET", "/recordings", 401, `{"error":"Invalid or expired API key"}`},
		{"malformed key", "idc_short", "GET", "/recordings", 401, `{"error":"Invalid or expired API key"}`},
		{"unknown key", "idc_" + strings.Repeat("a", 32), "GET", "/recordings", 401, `{"error":"Invalid or expired API key"}`},
		{"revoked key", revoked, "GET", "/recordings", 401, `{"error":"Invalid or expired API key"}`},
		{"expired key", expired, "GET", "/recordings", 401, `{"error":"Invalid or expired API key"}`},
		{"read permission", writeOnly, "GET", "/recordings", 403, `{"error":"Read permission required"}`},
		{"write permission", readOnly, "POST", "/projects", 403, `{"error":"Write permission required"}`},
		{"write permission on PATCH", readOnly, "PATCH", "/recordings/" + rec, 403, `{"error":"Write permission required"}`},
		{"delete permission", readOnly, "DELETE", "/recordings/" + rec, 403, `{"error":"Delete permission required"}`},
		{"an operator's delete needs write, as documented", readOnly, "DELETE", "/operators/1", 403, `{"error":"Write permission required"}`},
		{"permission before existence", readOnly, "DELETE", "/recordings/none", 403, `{"error":"Delete permission required"}`},
	}
	for _, tt := range tests {
		r := call(t, srv, tt.key, tt.method, tt.path, nil)
		assert.Equal(t, tt.status, r.status, tt.name)
		assert.JSONEq(t, tt.want, r.body, tt.name)
		assert.Equal(t, "application/json; charset=utf-8", r.header.Get("Content-Type"), tt.name)
	}
}

// fixture is one of each resource, in one project: what every endpoint
// needs to answer.
type fixture struct {
	project, recording, number, operator, spare string
}

func newFixture(t *testing.T, srv *idctest.Server, key string) fixture {
	t.Helper()
	var fx fixture
	fx.project = newProject(t, srv, key, "Support")
	fx.recording = upload(t, srv, key, "project_id", fx.project)["public_id"].(string)
	srv.CompleteTranscription(fx.recording, "Hello. Bye.")
	fx.number = jsonNumber(call(t, srv, key, "POST", "/virtual_numbers", `{"phone_number":"+15551234567"}`).data(t)["id"])
	fx.operator = jsonNumber(call(t, srv, key, "POST", "/operators", `{"name":"Ann Lee","phone_number":"+15550000001"}`).data(t)["id"])
	fx.spare = jsonNumber(call(t, srv, key, "POST", "/operators", `{"name":"Bo Diaz","phone_number":"+15550000002"}`).data(t)["id"])
	require.Equal(t, 200, call(t, srv, key, "POST", "/virtual_numbers/"+fx.number+"/add_operator", `{"operator_id":`+fx.operator+`}`).status)
	return fx
}

// path fills a template's IDs: the resource its first segment names, then
// the attached operator.
func (fx fixture) path(template string) string {
	first := map[string]string{"recordings": fx.recording, "projects": fx.project, "virtual_numbers": fx.number, "operators": fx.operator}
	resource, _, _ := strings.Cut(strings.TrimPrefix(template, "/"), "/")
	path := strings.Replace(template, "{id}", first[resource], 1)
	return strings.Replace(path, "{id}", fx.operator, 1)
}

// TestEveryEndpointThroughIdctrace drives each row of the route table
// through idctrace.New against the simulator: a call that succeeds, with
// the documented status and a body that decodes into the exported type,
// and a call without the permission the endpoint needs, whose failure
// entry names the route.
func TestEveryEndpointThroughIdctrace(t *testing.T) {
	t.Parallel()
	type answer struct {
		status int
		body   string     // the request body, JSON unless a form
		into   func() any // what the data decodes into; nil for no body
		query  string     // added to the path
		form   bool       // send an upload form instead
	}
	list := func(v any) func() any { return func() any { return v } }
	answers := map[string]answer{
		"GET /recordings":                              {status: 200, into: list(&[]idctest.Recording{}), query: "?page=1&status=completed"},
		"POST /recordings":                             {status: 201, into: list(&idctest.Recording{}), form: true},
		"GET /recordings/{id}":                         {status: 200, into: list(&idctest.Recording{})},
		"PATCH /recordings/{id}":                       {status: 200, body: `{"name":"Renamed"}`, into: list(&idctest.Recording{})},
		"DELETE /recordings/{id}":                      {status: 204},
		"GET /recordings/{id}/transcription":           {status: 200, into: list(&idctest.Transcription{})},
		"GET /recordings/{id}/results":                 {status: 200, into: list(&idctest.Results{})},
		"GET /recordings/{id}/summary":                 {status: 200, into: list(&idctest.Summary{})},
		"GET /projects":                                {status: 200, into: list(&[]idctest.Project{})},
		"POST /projects":                               {status: 201, body: `{"name":"New","language":"en"}`, into: list(&idctest.Project{})},
		"GET /projects/{id}":                           {status: 200, into: list(&idctest.Project{})},
		"PATCH /projects/{id}":                         {status: 200, body: `{"name":"Renamed"}`, into: list(&idctest.Project{})},
		"DELETE /projects/{id}":                        {status: 204},
		"GET /virtual_numbers":                         {status: 200, into: list(&[]idctest.VirtualNumber{})},
		"GET /virtual_numbers/available":               {status: 200, into: list(&[]map[string]any{}), query: "?country=US&number_type=local"},
		"POST /virtual_numbers/purchase":               {status: 201, body: `{"phone_number":"+15557654321"}`, into: list(&idctest.VirtualNumber{})},
		"POST /virtual_numbers":                        {status: 201, body: `{"phone_number":"+15557654321"}`, into: list(&idctest.VirtualNumber{})},
		"GET /virtual_numbers/{id}":                    {status: 200, into: list(&idctest.VirtualNumber{})},
		"PATCH /virtual_numbers/{id}":                  {status: 200, body: `{"name":"Sales"}`, into: list(&idctest.VirtualNumber{})},
		"POST /virtual_numbers/{id}/add_operator":      {status: 200, body: `{"phone_number":"+15550000003"}`, into: list(&idctest.VirtualNumber{})},
		"POST /virtual_numbers/{id}/operators":         {status: 200, body: `{"phone_number":"+15550000003"}`, into: list(&idctest.VirtualNumber{})},
		"DELETE /virtual_numbers/{id}/remove_operator": {status: 200, query: "?operator_id=", into: list(&idctest.VirtualNumber{})},
		"DELETE /virtual_numbers/{id}/operators/{id}":  {status: 200, into: list(&idctest.VirtualNumber{})},
		"GET /operators":                               {status: 200, into: list(&[]idctest.Operator{})},
		"POST /operators":                              {status: 201, body: `{"name":"Cy Ode","phone_number":"+15550000004"}`, into: list(&idctest.Operator{})},
		"GET /operators/{id}":                          {status: 200, into: list(&idctest.Operator{})},
		"PATCH /operators/{id}":                        {status: 200, body: `{"active":false}`, into: list(&idctest.Operator{})},
		"DELETE /operators/{id}":                       {status: 200},
	}
	require.Len(t, answers, len(api.Endpoints))
	for _, e := range api.Endpoints {
		want, ok := answers[e.Method+" "+e.Path]
		require.True(t, ok, e.Method+" "+e.Path)
		t.Run(e.Method+" "+e.Path, func(t *testing.T) {
			t.Parallel()
			srv := idctest.Start(t)
			admin := srv.NewKey(idctest.Read, idctest.Write, idctest.Delete)
			fx := newFixture(t, srv, admin)
			core, logs := observer.New(zapcore.DebugLevel)
			client := idctrace.WrapClient(srv.Client(), zap.New(core))
			path := fx.path(e.Path) + want.query
			if strings.HasSuffix(want.query, "operator_id=") {
				path += fx.operator
			}
			do := func(key string) *http.Response {
				var body io.Reader
				var ct string
				switch {
				case want.form:
					f := form(t, "call.mp3", "audio", "project_id", fx.project)
					body, ct = bytes.NewReader(f.body), f.contentType
				case want.body != "":
					body, ct = strings.NewReader(want.body), "application/json"
				}
				req, err := http.NewRequest(e.Method, srv.URL+path, body)
				require.NoError(t, err)
				req.Header.Set("Authorization", "Bearer "+key)
				if ct != "" {
					req.Header.Set("Content-Type", ct)
				}
				resp, err := client.Do(req)
				require.NoError(t, err)
				return resp
			}

			resp := do(admin)
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			require.Equal(t, want.status, resp.StatusCode, string(b))
			assert.Zero(t, logs.Len(), "a success logs nothing")
			if want.into != nil {
				var data struct{ Data json.RawMessage }
				require.NoError(t, json.Unmarshal(b, &data), string(b))
				dec := json.NewDecoder(bytes.NewReader(data.Data))
				dec.DisallowUnknownFields()
				assert.NoError(t, dec.Decode(want.into()), "the exported type holds the body: %s", data.Data)
			}

			// Without the permission the endpoint needs: a 403 whose
			// entry, error and hint name the route and the permission.
			var others []idctest.Permission
			for _, p := range []idctest.Permission{idctest.Read, idctest.Write, idctest.Delete} {
				if string(p) != string(e.Permission) {
					others = append(others, p)
				}
			}
			resp = do(srv.NewKey(others...))
			var apiErr *idctrace.APIError
			require.ErrorAs(t, idctrace.CheckResponse(resp), &apiErr)
			resp.Body.Close()
			assert.Equal(t, http.StatusForbidden, apiErr.StatusCode)
			assert.Equal(t, e.Path, apiErr.Route)
			assert.Contains(t, apiErr.Hint, "with "+string(e.Permission)+" permission")
			require.Equal(t, 1, logs.Len())
			entry := logs.All()[0].ContextMap()
			assert.Equal(t, e.Path, entry[schema.Route])
			assert.EqualValues(t, 403, entry[schema.Status])
			assert.Equal(t, apiErr.RequestID, entry[schema.RequestID])
		})
	}
}

// TestOrderOfChecks walks the package doc's order of checks: each row's
// request fails its check and every later one (most: DELETE /projects/999
// with a malformed body) and gets the answer of its own check, so no later
// check comes first.
func TestOrderOfChecks(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t, idctest.WithRateLimit(20, time.Hour))
	admin := srv.NewKey(idctest.Read, idctest.Write, idctest.Delete)
	project := newProject(t, srv, admin, "Mine")
	other := newProject(t, srv, admin, "Other")
	rec := upload(t, srv, admin, "project_id", project)["public_id"].(string)
	scoped := func(perms ...idctest.Permission) string { return srv.NewProjectKey(atoi(t, project), perms...) }
	limited := scoped() // no permission, and its window used up
	for range 20 {
		require.Equal(t, 403, call(t, srv, limited, "DELETE", "/projects/999", nil).status)
	}
	revoked := scoped(idctest.Delete)
	srv.RevokeKey(revoked)
	const bad = `{`                                                                         // a malformed body
	all := func() string { return srv.NewKey(idctest.Read, idctest.Write, idctest.Delete) } // a window of its own
	type row struct {
		check, key, method, path string
		body                     any
		status                   int
		want                     string
	}
	rows := []row{
		{"1. an injected fault", "", "PUT", "/nowhere", bad, 503, `{"error":"Service unavailable"}`},
		{"2. the path", "", "PUT", "/nowhere", bad, 404, `{"error":"Resource not found"}`},
		{"2. then the method", "", "PUT", "/projects/999", bad, 405, `{"error":"Method not allowed"}`},
		{"3. the key: none", "", "DELETE", "/projects/999", bad, 401, `{"error":"Invalid or expired API key"}`},
		{"3. the key: revoked", revoked, "DELETE", "/projects/999", bad, 401, `{"error":"Invalid or expired API key"}`},
		{"4. the rate limit", limited, "DELETE", "/projects/999", bad, 429, `{"error":"Rate limit exceeded","retry_after":3600}`},
		{"5. the permission", scoped(idctest.Read), "DELETE", "/projects/999", bad, 403, `{"error":"Delete permission required"}`},
		{"6. the key's scope", scoped(idctest.Delete), "DELETE", "/projects/999", bad, 403,
			`{"error":"Project-scoped API keys cannot create or destroy projects"}`},
		{"6. the key's scope, on create", scoped(idctest.Write), "POST", "/projects", bad, 403,
			`{"error":"Project-scoped API keys cannot create or destroy projects"}`},
		{"7. the resource", all(), "DELETE", "/projects/999", bad, 404, `{"error":"Resource not found"}`},
		{"7. the resource, out of the key's scope", scoped(idctest.Write), "PATCH", "/projects/" + other, bad, 404, `{"error":"Resource not found"}`},
		{"8. the body, malformed", all(), "PATCH", "/projects/" + project, bad, 400, `{"error":"Invalid JSON body"}`},
		{"8. then invalid", all(), "PATCH", "/projects/" + project, `{"name":""}`, 422, `{"errors":["Name can't be blank"]}`},
		{"8. an upload, malformed", scoped(idctest.Write), "POST", "/recordings", `{}`, 400, `{"error":"Content-Type must be multipart/form-data"}`},
		{"8. an upload, invalid", scoped(idctest.Write), "POST", "/recordings", form(t, "call.mp3", "x", "project_id", other, "language", "xx"), 422,
			`{"errors":["Language is not supported"]}`},
		{"8. then the project_id", scoped(idctest.Write), "POST", "/recordings", form(t, "call.mp3", "x", "project_id", other), 403,
			`{"error":"API key is not authorized for this project"}`},
		{"8. an update, invalid", scoped(idctest.Write), "PATCH", "/recordings/" + rec, `{"language":"xx","project_id":` + other + `}`, 422,
			`{"errors":["Language is not supported"]}`},
		{"8. then its project_id", scoped(idctest.Write), "PATCH", "/recordings/" + rec, `{"project_id":` + other + `}`, 403,
			`{"error":"API key is not authorized for this project"}`},
		{"8. a project_id not in the account", all(), "PATCH", "/recordings/" + rec, `{"project_id":999}`, 422,
			`{"errors":["Project must exist"]}`},
	}
	// Every endpoint with an ID in its path checks it before the body.
	for _, e := range api.Endpoints {
		if strings.Contains(e.Path, "{id}") {
			rows = append(rows, row{"7. before the body: " + e.Method + " " + e.Path, all(), e.Method,
				strings.ReplaceAll(e.Path, "{id}", "999"), bad, 404, `{"error":"Resource not found"}`})
		}
	}
	srv.Inject(1, idctest.Fault{Status: 503})
	for _, r := range rows {
		got := call(t, srv, r.key, r.method, r.path, r.body)
		assert.Equal(t, r.status, got.status, r.check)
		assert.JSONEq(t, r.want, got.body, r.check)
	}
}
