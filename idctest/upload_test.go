package idctest_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/identitycall/idctrace/idctest"
)

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
