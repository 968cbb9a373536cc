package api

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestEveryEndpointMatches runs once per row: a concrete path of the row,
// with a public ID, a UUID or a legacy numeric ID in each ID position,
// matches that row and no other.
func TestEveryEndpointMatches(t *testing.T) {
	t.Parallel()
	ids := []string{"42", "018f3a2b-7c4d-7e8f-9a0b-1c2d3e4f5a6b", "rec_abc123"}
	for _, e := range Endpoints {
		t.Run(e.Method+" "+e.Path, func(t *testing.T) {
			t.Parallel()
			for _, id := range ids {
				path := strings.ReplaceAll(e.Path, "{id}", id)
				for _, p := range []string{path, path + "/"} {
					got, ok := Match(e.Method, p)
					assert.True(t, ok, p)
					assert.Equal(t, e, got, p)
				}
			}
			assert.True(t, e.Permission == Read || e.Permission == Write || e.Permission == Delete)
			assert.False(t, e.SpendsMoney && e.Idempotent, "a purchase is never sent twice without the caller's say-so")
		})
	}
}

func TestMatchRefusesWhatIsNotDocumented(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ method, path string }{
		{"GET", ""},
		{"GET", "/"},
		{"PUT", "/recordings/1"},
		{"GET", "/recordings/1/transcription/extra"},
		{"GET", "/recordings//transcription"},
		{"GET", "/unknown"},
		{"POST", "/virtual_numbers/available"},
		{"DELETE", "/virtual_numbers/7/operators"},
	} {
		e, ok := Match(tt.method, tt.path)
		assert.False(t, ok, "%s %s", tt.method, tt.path)
		assert.Zero(t, e, "%s %s: the zero Endpoint, whose Path is empty", tt.method, tt.path)
	}
	e, ok := Match("GET", "/virtual_numbers/available")
	assert.True(t, ok)
	assert.Equal(t, "/virtual_numbers/available", e.Path, "a literal segment wins over {id}")
}

func TestRelative(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/api/v1/public/recordings": "/recordings",
		"/api/v1/public":            "",
		"/api/v1/publicity":         "-",
		"/recordings":               "-",
		"/proxy/api/v1/public/x":    "-",
		// Cleaned first, as a server cleans before routing.
		"/api/v1/public//virtual_numbers/purchase":     "/virtual_numbers/purchase",
		"/api/v1/public/./virtual_numbers/purchase":    "/virtual_numbers/purchase",
		"/api/v1/public/x/../virtual_numbers/purchase": "/virtual_numbers/purchase",
		"/api/v1/public/virtual_numbers/purchase//":    "/virtual_numbers/purchase",
		"//api//v1/public/recordings":                  "/recordings",
		"/api/v1/public/../public/recordings":          "/recordings",
		"/api/v1/../v1/public/recordings/.":            "/recordings",
		"/api/v1/public/..":                            "-",
		"":                                             "-",
	} {
		got, ok := Relative(in)
		if want == "-" {
			assert.False(t, ok, in)
		} else {
			assert.True(t, ok, in)
			assert.Equal(t, want, got, in)
		}
	}
}

func TestLoggedParam(t *testing.T) {
	t.Parallel()
	list, _ := Match("GET", "/recordings")
	assert.True(t, list.LoggedParam("page"))
	assert.True(t, list.LoggedParam("per_page"))
	assert.True(t, list.LoggedParam("status"))
	assert.False(t, list.LoggedParam("q"))
	assert.False(t, Endpoint{}.LoggedParam("status"))
	assert.True(t, Endpoint{}.LoggedParam("page"))
}
