package idctest_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identitycall/idctrace/idctest"
)

func TestRecordingLifecycle(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	key := srv.NewKey(idctest.Read, idctest.Write, idctest.Delete)
	project := newProject(t, srv, key, "Support")

	rec := upload(t, srv, key, "language", "es", "project_id", project, "external_id", "crm-42", "name", "Renewal")
	id := rec["public_id"].(string)
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, id, "a UUIDv7, as documented")
	assert.Equal(t, "pending", rec["status"])
	assert.Equal(t, "es", rec["language"])
	assert.Equal(t, "Renewal", rec["name"])
	assert.Equal(t, project, jsonNumber(rec["project_id"]))
	assert.EqualValues(t, len("audio bytes"), rec["size_bytes"])

	again := call(t, srv, key, "POST", "/recordings", form(t, "call.mp3", "audio bytes", "project_id", project, "external_id", "crm-42"))
	assert.Equal(t, 200, again.status, "documented: the same (project_id, external_id) returns the recording with 200")
	assert.Equal(t, id, again.data(t)["public_id"])

	legacy := jsonNumber(rec["id"])
	assert.Equal(t, id, call(t, srv, key, "GET", "/recordings/"+legacy, nil).data(t)["public_id"], "the legacy numeric ID works too")

	r := call(t, srv, key, "PATCH", "/recordings/"+id, `{"display_name":"Renewal call"}`)
	require.Equal(t, 200, r.status)
	assert.Equal(t, "Renewal call", r.data(t)["name"])

	for _, sub := range []string{"transcription", "results", "summary"} {
		r := call(t, srv, key, "GET", "/recordings/"+id+"/"+sub, nil)
		assert.Equal(t, 422, r.status, sub)
		assert.JSONEq(t, `{"error":"Transcription not available"}`, r.body, sub)
	}
	require.True(t, srv.CompleteTranscription(id, "Hello, thanks for calling. Bye."))
	assert.False(t, srv.CompleteTranscription("none", ""))

	var tr idctest.Transcription
	decodeData(t, call(t, srv, key, "GET", "/recordings/"+id+"/transcription", nil), &tr)
	assert.Equal(t, "Hello, thanks for calling. Bye.", tr.FullText)
	var sum idctest.Summary
	decodeData(t, call(t, srv, key, "GET", "/recordings/"+id+"/summary", nil), &sum)
	assert.Equal(t, "Hello, thanks for calling", sum.Summary)
	var res idctest.Results
	decodeData(t, call(t, srv, key, "GET", "/recordings/"+id+"/results", nil), &res)
	assert.Equal(t, tr.RecordingID, res.RecordingID)
	var got idctest.Recording
	decodeData(t, call(t, srv, key, "GET", "/recordings/"+id, nil), &got)
	assert.Equal(t, "completed", got.Status)

	r = call(t, srv, key, "DELETE", "/recordings/"+id, nil)
	assert.Equal(t, 204, r.status)
	assert.Empty(t, r.body)
	assert.Equal(t, 404, call(t, srv, key, "GET", "/recordings/"+id, nil).status)
}

// decodeData decodes the "data" of a 200 or 201 into v.
func decodeData(t *testing.T, r result, v any) {
	t.Helper()
	require.Contains(t, []int{200, 201}, r.status, r.body)
	var body struct{ Data json.RawMessage }
	require.NoError(t, json.Unmarshal([]byte(r.body), &body))
	dec := json.NewDecoder(strings.NewReader(string(body.Data)))
	dec.DisallowUnknownFields() // the exported type holds every field sent
	require.NoError(t, dec.Decode(v), string(body.Data))
}

func TestUploadErrors(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t, idctest.WithMaxUploadBytes(10, 20))
	key := srv.NewKey(idctest.Read, idctest.Write)
	other := srv.NewAccountKey("other", idctest.Write)
	project := newProject(t, srv, key, "P")
	theirs := newProject(t, srv, other, "Theirs")
	tests := []struct {
		name   string
		body   any
		status int
		want   string
	}{
		{"not multipart", `{}`, 400, `{"error":"Content-Type must be multipart/form-data"}`},
		{"no file", form(t, "", "", "project_id", project), 422, `{"error":"file is required"}`},
		{"file type", form(t, "call.txt", "x", "project_id", project), 422, `{"error":"Invalid file type"}`},
		{"too large", form(t, "call.mp3", strings.Repeat("a", 11), "project_id", project), 422, `{"error":"File too large"}`},
		{"WAV has the larger limit", form(t, "call.WAV", strings.Repeat("a", 20), "project_id", project), 201, ""},
		{"WAV too large", form(t, "call.wav", strings.Repeat("a", 21), "project_id", project), 422, `{"error":"File too large"}`},
		{"account-wide key without project_id", form(t, "call.mp3", "x"), 422, `{"error":"project_id is required"}`},
		{"project_id of another account", form(t, "call.mp3", "x", "project_id", theirs), 422, `{"errors":["Project must exist"]}`},
		{"invalid fields", form(t, "call.mp3", "x", "project_id", project, "language", "klingon", "external_id", strings.Repeat("e", 256)), 422,
			`{"errors":["External id is too long (maximum is 255 characters)","Language is not supported"]}`},
		{"bad project_id", form(t, "call.mp3", "x", "project_id", "abc"), 422, `{"errors":["Project must be a positive integer"]}`},
	}
	for _, tt := range tests {
		r := call(t, srv, key, "POST", "/recordings", tt.body)
		assert.Equal(t, tt.status, r.status, tt.name)
		if tt.want != "" {
			assert.JSONEq(t, tt.want, r.body, tt.name)
		}
	}
	r := call(t, srv, key, "PATCH", "/recordings/1", `{`)
	assert.Equal(t, 404, r.status, "existence before the body")
}

func TestPagination(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	key := srv.NewKey(idctest.Read, idctest.Write)
	other := srv.NewAccountKey("other", idctest.Write)
	project := newProject(t, srv, key, "P")
	var ids []string
	for range 7 {
		ids = append(ids, upload(t, srv, key, "project_id", project)["public_id"].(string))
	}
	upload(t, srv, other, "project_id", newProject(t, srv, other, "O"))
	srv.CompleteTranscription(ids[0], "done")

	tests := []struct {
		query               string
		n, page, pages, per int
		total               float64
	}{
		{"", 7, 1, 1, 20, 7},
		{"?per_page=3", 3, 1, 3, 3, 7},
		{"?per_page=3&page=3", 1, 3, 3, 3, 7},
		{"?per_page=3&page=4", 0, 4, 3, 3, 7},
		{"?per_page=100", 7, 1, 1, 100, 7},
		{"?status=completed", 1, 1, 1, 20, 1},
	}
	for _, tt := range tests {
		r := call(t, srv, key, "GET", "/recordings"+tt.query, nil)
		require.Equal(t, 200, r.status, tt.query)
		m := r.json(t)
		assert.Len(t, m["data"], tt.n, tt.query)
		assert.Equal(t, map[string]any{"current_page": float64(tt.page), "total_pages": float64(tt.pages),
			"total_count": tt.total, "per_page": float64(tt.per)}, m["meta"], tt.query)
	}
	for q, want := range map[string]string{
		"?page=0":       `{"error":"page must be a positive integer"}`,
		"?per_page=101": `{"error":"per_page must be between 1 and 100"}`,
	} {
		r := call(t, srv, key, "GET", "/recordings"+q, nil)
		assert.Equal(t, 400, r.status)
		assert.JSONEq(t, want, r.body)
	}
}

func TestProjects(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	key := srv.NewKey(idctest.Read, idctest.Write, idctest.Delete)
	other := srv.NewAccountKey("other", idctest.Read, idctest.Write, idctest.Delete)

	r := call(t, srv, key, "POST", "/projects", `{"name":"Support EN","language":"en","industry":"ecommerce"}`)
	require.Equal(t, 201, r.status)
	var p idctest.Project
	decodeData(t, r, &p)
	assert.Equal(t, "Support EN", p.Name)
	assert.Equal(t, "ecommerce", *p.Industry)
	id := jsonNumber(p.ID)
	newProject(t, srv, key, "Billing")

	r = call(t, srv, key, "POST", "/projects", `{"name":" "}`)
	assert.Equal(t, 422, r.status)
	assert.JSONEq(t, `{"errors":["Name can't be blank","Language can't be blank"]}`, r.body)

	var list []idctest.Project
	decodeList(t, call(t, srv, key, "GET", "/projects", nil), &list)
	require.Len(t, list, 2)
	assert.Equal(t, "Billing", list[0].Name, "ordered by name, as documented")

	r = call(t, srv, key, "PATCH", "/projects/"+id, `{"description":"Inbound line"}`)
	require.Equal(t, 200, r.status)
	assert.Equal(t, "Inbound line", r.data(t)["description"])
	assert.Equal(t, 404, call(t, srv, other, "GET", "/projects/"+id, nil).status, "another account's project")

	rec := upload(t, srv, key, "project_id", id)["public_id"].(string)
	number := call(t, srv, key, "POST", "/virtual_numbers/purchase", `{"phone_number":"+15551234567"}`).data(t)["id"]
	call(t, srv, key, "PATCH", "/virtual_numbers/"+jsonNumber(number), `{}`)
	assert.EqualValues(t, 1, call(t, srv, key, "GET", "/projects/"+id, nil).data(t)["recordings_count"])

	r = call(t, srv, key, "DELETE", "/projects/"+id, nil)
	assert.Equal(t, 204, r.status)
	assert.Empty(t, r.body)
	assert.Equal(t, 404, call(t, srv, key, "GET", "/projects/"+id, nil).status)
	assert.Equal(t, 404, call(t, srv, key, "GET", "/recordings/"+rec, nil).status, "the project's recordings went with it")
}

func decodeList(t *testing.T, r result, v any) {
	t.Helper()
	require.Equal(t, 200, r.status, r.body)
	var body struct{ Data json.RawMessage }
	require.NoError(t, json.Unmarshal([]byte(r.body), &body))
	require.NoError(t, json.Unmarshal(body.Data, v))
}

// TestProjectKeys: a project-scoped key sees its project only.
func TestProjectKeys(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	admin := srv.NewKey(idctest.Read, idctest.Write, idctest.Delete)
	mine, theirs := newProject(t, srv, admin, "Mine"), newProject(t, srv, admin, "Theirs")
	scoped := srv.NewProjectKey(mine, idctest.Read, idctest.Write, idctest.Delete)
	theirRec := upload(t, srv, admin, "project_id", theirs)["public_id"].(string)
	theirOp := jsonNumber(call(t, srv, admin, "POST", "/operators", `{"name":"Ann Lee","phone_number":"+15550000001"}`).data(t)["id"])

	rec := upload(t, srv, scoped) // no project_id: the key's own
	assert.Equal(t, mine, jsonNumber(rec["project_id"]))

	tests := []struct {
		name, method, path string
		body               any
		status             int
		want               string
	}{
		{"create a project", "POST", "/projects", `{"name":"X","language":"en"}`, 403, `{"error":"Project-scoped API keys cannot create or destroy projects"}`},
		{"delete its own project", "DELETE", "/projects/" + mine, nil, 403, `{"error":"Project-scoped API keys cannot create or destroy projects"}`},
		{"another project", "GET", "/projects/" + theirs, nil, 404, `{"error":"Resource not found"}`},
		{"update another project", "PATCH", "/projects/" + theirs, `{"name":"Y"}`, 404, `{"error":"Resource not found"}`},
		{"another project's recording", "GET", "/recordings/" + theirRec, nil, 404, `{"error":"Resource not found"}`},
		{"an operator not linked to it", "GET", "/operators/" + theirOp, nil, 404, `{"error":"Resource not found"}`},
		{"upload into another project", "POST", "/recordings", form(t, "call.mp3", "x", "project_id", theirs), 403,
			`{"error":"API key is not authorized for this project"}`},
		{"move a recording to another project", "PATCH", "/recordings/" + rec["public_id"].(string), `{"project_id":` + theirs + `}`, 403,
			`{"error":"API key is not authorized for this project"}`},
	}
	for _, tt := range tests {
		r := call(t, srv, scoped, tt.method, tt.path, tt.body)
		assert.Equal(t, tt.status, r.status, tt.name)
		assert.JSONEq(t, tt.want, r.body, tt.name)
	}

	var projects []idctest.Project
	decodeList(t, call(t, srv, scoped, "GET", "/projects", nil), &projects)
	require.Len(t, projects, 1, "its own project only")
	assert.Equal(t, 200, call(t, srv, scoped, "PATCH", "/projects/"+mine, `{"name":"Mine too"}`).status, "it may update its own")
	assert.EqualValues(t, 1, call(t, srv, scoped, "GET", "/recordings", nil).json(t)["meta"].(map[string]any)["total_count"])

	op := call(t, srv, scoped, "POST", "/operators", `{"name":"Bo Diaz","phone_number":"+15550000002"}`)
	require.Equal(t, 201, op.status)
	var ops []idctest.Operator
	decodeList(t, call(t, srv, scoped, "GET", "/operators", nil), &ops)
	require.Len(t, ops, 1, "operators a project-scoped key creates are linked to its project")
	decodeList(t, call(t, srv, admin, "GET", "/operators", nil), &ops)
	assert.Len(t, ops, 2, "an account-wide key sees them all")

	n := call(t, srv, scoped, "POST", "/virtual_numbers", `{"phone_number":"+15551230000"}`)
	require.Equal(t, 201, n.status)
	assert.Equal(t, mine, jsonNumber(n.data(t)["project_id"]), "a number bought with a project key is attached to its project")
}

func TestVirtualNumbers(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	key := srv.NewKey(idctest.Read, idctest.Write)

	var avail []map[string]any
	decodeList(t, call(t, srv, key, "GET", "/virtual_numbers/available?country=lt&number_type=local", nil), &avail)
	require.NotEmpty(t, avail)
	assert.Equal(t, "LT", avail[0]["country_code"])
	assert.Equal(t, 400, call(t, srv, key, "GET", "/virtual_numbers/available?number_type=fax", nil).status)

	for _, path := range []string{"/virtual_numbers/purchase", "/virtual_numbers"} {
		r := call(t, srv, key, "POST", path, `{"country_code":"US"}`)
		assert.Equal(t, 422, r.status, path)
		assert.JSONEq(t, `{"error":"phone_number is required"}`, r.body, path)
	}
	var n idctest.VirtualNumber
	decodeData(t, call(t, srv, key, "POST", "/virtual_numbers/purchase", `{"phone_number":"+15551234567","name":"US Sales"}`), &n)
	assert.True(t, n.Active)
	assert.True(t, n.Recording, "documented: recording on by default")
	assert.Nil(t, n.ProjectID, "an account-wide key buys a number without a project")
	id := jsonNumber(n.ID)

	r := call(t, srv, key, "PATCH", "/virtual_numbers/"+id, `{"name":"Sales line","active":false}`)
	require.Equal(t, 200, r.status)
	assert.Equal(t, false, r.data(t)["active"])

	op := jsonNumber(call(t, srv, key, "POST", "/operators", `{"name":"Alice Carter","phone_number":"+15555550112"}`).data(t)["id"])
	for _, add := range []string{"/add_operator", "/operators"} {
		r = call(t, srv, key, "POST", "/virtual_numbers/"+id+add, `{"operator_id":`+op+`}`)
		require.Equal(t, 200, r.status, r.body)
		assert.EqualValues(t, 1, r.data(t)["operators_count"], "re-attaching is a no-op")
	}
	r = call(t, srv, key, "POST", "/virtual_numbers/"+id+"/add_operator", `{"phone_number":"+15555550199","name":"Greta Hall"}`)
	require.Equal(t, 200, r.status)
	assert.EqualValues(t, 2, r.data(t)["operators_count"], "a phone number makes a new operator")
	assert.Equal(t, 422, call(t, srv, key, "POST", "/virtual_numbers/"+id+"/add_operator", `{}`).status)
	assert.Equal(t, 404, call(t, srv, key, "POST", "/virtual_numbers/"+id+"/add_operator", `{"operator_id":999}`).status)

	greta := jsonNumber(r.data(t)["operators"].([]any)[1].(map[string]any)["id"])

	r = call(t, srv, key, "DELETE", "/virtual_numbers/"+id+"/remove_operator?operator_id="+op, nil)
	require.Equal(t, 200, r.status, "removing needs write, not delete, as documented")
	assert.EqualValues(t, 1, r.data(t)["operators_count"])
	r = call(t, srv, key, "DELETE", "/virtual_numbers/"+id+"/remove_operator", `{"operator_id":`+op+`}`)
	assert.Equal(t, 404, r.status, "documented: 404 when the operator is not attached")
	r = call(t, srv, key, "DELETE", "/virtual_numbers/"+id+"/operators/"+greta, nil)
	require.Equal(t, 200, r.status)
	assert.EqualValues(t, 0, r.data(t)["operators_count"])

	var list []idctest.VirtualNumber
	decodeList(t, call(t, srv, key, "GET", "/virtual_numbers", nil), &list)
	assert.Len(t, list, 1)
	decodeData(t, call(t, srv, key, "GET", "/virtual_numbers/"+id, nil), &n)
	assert.Equal(t, "Sales line", n.Name)
	assert.Equal(t, 404, call(t, srv, key, "GET", "/virtual_numbers/999", nil).status)
	assert.Equal(t, 404, call(t, srv, srv.NewAccountKey("other", idctest.Read), "GET", "/virtual_numbers/"+id, nil).status)
}

func TestOperators(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	key := srv.NewKey(idctest.Read, idctest.Write)

	r := call(t, srv, key, "POST", "/operators", `{}`)
	assert.Equal(t, 422, r.status)
	assert.JSONEq(t, `{"errors":["Name can't be blank","Phone number can't be blank"]}`, r.body)

	var o idctest.Operator
	decodeData(t, call(t, srv, key, "POST", "/operators", `{"name":"Jane Doe","phone_number":"+15551234567","email":"jane@example.com"}`), &o)
	assert.Equal(t, "JD", o.Initials)
	assert.True(t, o.Active)
	id := jsonNumber(o.ID)
	decodeData(t, call(t, srv, key, "PATCH", "/operators/"+id, `{"active":false,"name":"Jane Roe"}`), &o)
	assert.False(t, o.Active)
	assert.Equal(t, "JR", o.Initials)
	decodeData(t, call(t, srv, key, "GET", "/operators/"+id, nil), &o)
	assert.Equal(t, "Jane Roe", o.Name)

	number := jsonNumber(call(t, srv, key, "POST", "/virtual_numbers", `{"phone_number":"+15550001111"}`).data(t)["id"])
	call(t, srv, key, "POST", "/virtual_numbers/"+number+"/add_operator", `{"operator_id":`+id+`}`)
	var ops []idctest.Operator
	decodeList(t, call(t, srv, key, "GET", "/operators", nil), &ops)
	require.Len(t, ops, 1)
	assert.Equal(t, 1, ops[0].VirtualNumbersCount)

	r = call(t, srv, key, "DELETE", "/operators/"+id, nil)
	require.Equal(t, 200, r.status)
	assert.JSONEq(t, `{"success":true}`, r.body)
	assert.EqualValues(t, 0, call(t, srv, key, "GET", "/virtual_numbers/"+number, nil).data(t)["operators_count"],
		"documented: the operator leaves every number, which stays")
	assert.Equal(t, 404, call(t, srv, key, "GET", "/operators/"+id, nil).status)
}
