// Package api holds what idctrace knows of the IdentityCall public API: its
// base path and its documented endpoints. The Transport, the simulator and
// their tests share it, so that all three know the same API.
package api

import (
	pathpkg "path"
	"slices"
	"strings"
)

// BasePath is the path prefix of every endpoint.
const BasePath = "/api/v1/public"

// Permission is what an API key needs for an endpoint.
type Permission string

// The permissions of an API key.
const (
	Read   Permission = "read"
	Write  Permission = "write"
	Delete Permission = "delete"
)

// Endpoint is one documented endpoint.
type Endpoint struct {
	Method string
	// Path is the template below BasePath; every ID segment is "{id}".
	Path       string
	Permission Permission
	// Idempotent: sending the request again after a 5xx or a transport
	// error cannot do the work twice.
	Idempotent bool
	// SpendsMoney: the request buys something.
	SpendsMoney bool
	// Params are the query parameters whose values are safe to log, beyond
	// page and per_page, which every path may take.
	Params []string
}

// Endpoints are the documented endpoints, from the API reference at
// https://docs.identitycall.ai/api-reference. Where pages disagree on a
// path, every spelling is a row.
var Endpoints = []Endpoint{
	// Recordings: https://docs.identitycall.ai/api-reference/recordings
	{Method: "GET", Path: "/recordings", Permission: Read, Idempotent: true, Params: []string{"status"}}, // recordings/list
	// Uploads are idempotent only with an external_id (recordings, "Idempotency").
	{Method: "POST", Path: "/recordings", Permission: Write},                                    // recordings/create
	{Method: "GET", Path: "/recordings/{id}", Permission: Read, Idempotent: true},               // recordings/get
	{Method: "PATCH", Path: "/recordings/{id}", Permission: Write, Idempotent: true},            // recordings/update
	{Method: "DELETE", Path: "/recordings/{id}", Permission: Delete, Idempotent: true},          // recordings/delete
	{Method: "GET", Path: "/recordings/{id}/transcription", Permission: Read, Idempotent: true}, // recordings/transcription
	{Method: "GET", Path: "/recordings/{id}/results", Permission: Read, Idempotent: true},       // recordings/results
	{Method: "GET", Path: "/recordings/{id}/summary", Permission: Read, Idempotent: true},       // recordings/summary

	// Projects: https://docs.identitycall.ai/api-reference/projects
	{Method: "GET", Path: "/projects", Permission: Read, Idempotent: true},           // projects/list
	{Method: "POST", Path: "/projects", Permission: Write},                           // projects/create
	{Method: "GET", Path: "/projects/{id}", Permission: Read, Idempotent: true},      // projects (Get Project)
	{Method: "PATCH", Path: "/projects/{id}", Permission: Write, Idempotent: true},   // projects/update
	{Method: "DELETE", Path: "/projects/{id}", Permission: Delete, Idempotent: true}, // projects/delete

	// Virtual numbers: https://docs.identitycall.ai/api-reference/virtual-numbers
	{Method: "GET", Path: "/virtual_numbers", Permission: Read, Idempotent: true}, // virtual-numbers/list
	{Method: "GET", Path: "/virtual_numbers/available", Permission: Read, Idempotent: true,
		Params: []string{"country", "number_type"}}, // virtual-numbers/available
	{Method: "POST", Path: "/virtual_numbers/purchase", Permission: Write, SpendsMoney: true}, // virtual-numbers/purchase
	{Method: "POST", Path: "/virtual_numbers", Permission: Write, SpendsMoney: true},          // api-reference overview: "Purchase a number"
	{Method: "GET", Path: "/virtual_numbers/{id}", Permission: Read, Idempotent: true},        // virtual-numbers (Get Virtual Number)
	{Method: "PATCH", Path: "/virtual_numbers/{id}", Permission: Write, Idempotent: true},     // virtual-numbers (Update Virtual Number)
	// Re-attaching is a no-op, but the phone_number form creates an operator.
	{Method: "POST", Path: "/virtual_numbers/{id}/add_operator", Permission: Write}, // virtual-numbers/add-operator
	{Method: "POST", Path: "/virtual_numbers/{id}/operators", Permission: Write},    // api-reference overview: "Attach an operator"
	{Method: "DELETE", Path: "/virtual_numbers/{id}/remove_operator", Permission: Write, Idempotent: true,
		Params: []string{"operator_id"}}, // virtual-numbers/remove-operator
	{Method: "DELETE", Path: "/virtual_numbers/{id}/operators/{id}", Permission: Write, Idempotent: true}, // api-reference overview: "Detach an operator"

	// Operators: https://docs.identitycall.ai/api-reference/operators
	{Method: "GET", Path: "/operators", Permission: Read, Idempotent: true},          // operators/list
	{Method: "POST", Path: "/operators", Permission: Write},                          // operators/create
	{Method: "GET", Path: "/operators/{id}", Permission: Read, Idempotent: true},     // operators/get
	{Method: "PATCH", Path: "/operators/{id}", Permission: Write, Idempotent: true},  // operators/update
	{Method: "DELETE", Path: "/operators/{id}", Permission: Write, Idempotent: true}, // operators/delete ("Requires write permission")
}

// Match returns the endpoint of method and path, a path below BasePath such
// as "/recordings/42/summary". Any single segment matches "{id}", but a
// literal segment wins: /virtual_numbers/available is not a number's ID. A
// trailing slash is ignored, and so is a format suffix on the last segment
// where it makes a literal match, as Rails routes it:
// /virtual_numbers/purchase.json is a purchase. When nothing matches, it
// returns the zero Endpoint and false.
func Match(method, path string) (Endpoint, bool) {
	path = strings.TrimSuffix(path, "/")
	best, literals := match(method, path)
	if dot := strings.LastIndexByte(path, '.'); dot > strings.LastIndexByte(path, '/') {
		if e, n := match(method, path[:dot]); n > literals {
			best, literals = e, n
		}
	}
	return best, literals >= 0
}

// match returns the endpoint of method that path fits with the most
// literal segments, and their number; -1 when none fits.
func match(method, path string) (Endpoint, int) {
	var best Endpoint
	bestLiterals := -1
	for _, e := range Endpoints {
		if e.Method != method {
			continue
		}
		if n, ok := matchPath(e.Path, path); ok && n > bestLiterals {
			best, bestLiterals = e, n
		}
	}
	return best, bestLiterals
}

// matchPath reports whether path fits template, and how many of its
// segments are literal.
func matchPath(template, path string) (literals int, ok bool) {
	template, _ = strings.CutPrefix(template, "/")
	if path, ok = strings.CutPrefix(path, "/"); !ok {
		return 0, false
	}
	for {
		t, tRest, tMore := strings.Cut(template, "/")
		p, pRest, pMore := strings.Cut(path, "/")
		switch {
		case p == "" || tMore != pMore:
			return 0, false
		case t == p:
			literals++
		case t != "{id}":
			return 0, false
		}
		if !tMore {
			return literals, true
		}
		template, path = tRest, pRest
	}
}

// Relative returns path below BasePath, and whether it is there at all.
// path is cleaned first, as a server cleans it before routing (Go's
// ServeMux answers an unclean path with a redirect to the clean one):
// "//x", "/./x", "/y/../x" and "/x//" all name "/x".
func Relative(path string) (string, bool) {
	rest, ok := strings.CutPrefix(pathpkg.Clean(path), BasePath)
	if !ok || rest != "" && rest[0] != '/' {
		return "", false
	}
	return rest, true
}

// LoggedParam reports whether the value of the query parameter name may be
// logged for e: page and per_page everywhere, and e's own filters.
func (e Endpoint) LoggedParam(name string) bool {
	return name == "page" || name == "per_page" || slices.Contains(e.Params, name)
}
