package idctest_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identitycall/idctrace/idctest"
)

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

func TestProjectKeys(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	admin := srv.NewKey(idctest.Read, idctest.Write, idctest.Delete)
	mine, theirs := newProject(t, srv, admin, "Mine"), newProject(t, srv, admin, "Theirs")
	scoped := srv.NewProjectKey(atoi(t, mine), idctest.Read, idctest.Write, idctest.Delete)
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
