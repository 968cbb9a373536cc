package idctest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identitycall/idctrace/idctest"
)

func TestNewKeyFormat(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	assert.Regexp(t, `^idc_[A-Za-z0-9]{32}$`, srv.NewKey(idctest.Read))
	assert.NotEqual(t, srv.NewKey(), srv.NewKey())
	for _, id := range []int{0, -1} {
		assert.PanicsWithValue(t, "idctest: NewProjectKey: project ID "+itoa(id)+" is not positive",
			func() { srv.NewProjectKey(id) })
	}
}

func TestNewProjectKeyTakesTheProjectsAccount(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	other := srv.NewAccountKey("other", idctest.Read, idctest.Write)
	theirs := newProject(t, srv, other, "Theirs")
	scoped := srv.NewProjectKey(atoi(t, theirs), idctest.Read)

	r := call(t, srv, scoped, "GET", "/projects/"+theirs, nil)
	require.Equal(t, 200, r.status, r.body)
	assert.Equal(t, "Theirs", r.data(t)["name"])
	mine := newProject(t, srv, srv.NewKey(idctest.Write), "Mine")
	assert.Equal(t, 404, call(t, srv, scoped, "GET", "/projects/"+mine, nil).status, "another account's project")
}

func TestRevokeAndExpireKey(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t)
	revoked, expired, kept := srv.NewKey(idctest.Read), srv.NewKey(idctest.Read), srv.NewKey(idctest.Read)
	srv.RevokeKey(revoked)
	srv.ExpireKey(expired)
	srv.RevokeKey("idc_unknown") // nothing
	for _, key := range []string{revoked, expired} {
		r := call(t, srv, key, "GET", "/recordings", nil)
		assert.Equal(t, 401, r.status)
		assert.JSONEq(t, `{"error":"Invalid or expired API key"}`, r.body)
	}
	assert.Equal(t, 200, call(t, srv, kept, "GET", "/recordings", nil).status)
}
