package idctest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identitycall/idctrace/idctest"
)

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
