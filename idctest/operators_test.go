package idctest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identitycall/idctrace/idctest"
)

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
