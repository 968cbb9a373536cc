package idctrace

import (
	"net/http"

	"github.com/identitycall/idctrace/internal/api"
)

// Route returns the documented path template of req, relative to
// /api/v1/public, such as "/recordings/{id}/transcription"; "" when the path
// is not a documented endpoint. Any single segment in an ID position (a
// public ID, a UUID, a legacy numeric ID) is written "{id}".
//
// Failure entries carry it as route, and errors, tickets and bundles as
// well, so that failures group by endpoint rather than by raw URL.
func Route(req *http.Request) string {
	e, _ := endpointOf(req)
	return e.Path
}

// endpointOf returns the documented endpoint req calls.
func endpointOf(req *http.Request) (api.Endpoint, bool) {
	if req == nil || req.URL == nil {
		return api.Endpoint{}, false
	}
	rel, ok := api.Relative(req.URL.Path)
	if !ok {
		return api.Endpoint{}, false
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	return api.Match(method, rel)
}
