package idctrace

import (
	"cmp"
	"net/http"
	"net/url"

	"github.com/identitycall/idctrace/internal/api"
)

// Route returns the documented path template of req, relative to
// /api/v1/public, such as "/recordings/{id}/transcription"; "" when the path
// is not a documented endpoint. Any single segment in an ID position (a
// public ID, a UUID, a legacy numeric ID) is written "{id}". The path is
// cleaned first, as the server cleans it before routing: "//x", "/./x",
// "/y/../x" and "/x//" all name the endpoint of "/x", so that a purchase
// is known for one however its path is spelled.
//
// Failure entries carry it as route, and errors, tickets and bundles as
// well, so that failures group by endpoint rather than by raw URL.
func Route(req *http.Request) string {
	return endpointOf(req).Path
}

// endpointOf returns the documented endpoint req calls: the zero Endpoint,
// whose Path is "", when there is none.
func endpointOf(req *http.Request) (e api.Endpoint) {
	if req != nil && req.URL != nil {
		if rel, ok := api.Relative(sentPath(req.URL)); ok {
			e, _ = api.Match(cmp.Or(req.Method, http.MethodGet), rel)
		}
	}
	return e
}

// sentPath is the decoded path req's URL sends: its Path, or the path of an
// opaque URL ("//host/path" or "/path"), which net/http sends as is.
func sentPath(u *url.URL) string {
	if u.Opaque == "" {
		return u.Path
	}
	o, err := url.Parse(u.Opaque)
	if err != nil {
		return ""
	}
	return o.Path
}
