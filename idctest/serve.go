package idctest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/identitycall/idctrace/internal/api"
)

// handler serves one endpoint for a key that passed every check.
type handler func(w http.ResponseWriter, r *http.Request, k *apiKey)

// routes registers a handler for every documented endpoint, with a
// net/http method pattern, and panics when one is missing: the simulator
// serves exactly the route table idctrace knows.
func (s *Server) routes() *http.ServeMux {
	handlers := map[string]handler{
		"GET /recordings":                              s.listRecordings,
		"POST /recordings":                             s.createRecording,
		"GET /recordings/{id}":                         s.getRecording,
		"PATCH /recordings/{id}":                       s.updateRecording,
		"DELETE /recordings/{id}":                      s.deleteRecording,
		"GET /recordings/{id}/transcription":           s.getTranscription,
		"GET /recordings/{id}/results":                 s.getResults,
		"GET /recordings/{id}/summary":                 s.getSummary,
		"GET /projects":                                s.listProjects,
		"POST /projects":                               s.createProject,
		"GET /projects/{id}":                           s.getProject,
		"PATCH /projects/{id}":                         s.updateProject,
		"DELETE /projects/{id}":                        s.deleteProject,
		"GET /virtual_numbers":                         s.listNumbers,
		"GET /virtual_numbers/available":               s.availableNumbers,
		"POST /virtual_numbers/purchase":               s.purchaseNumber,
		"POST /virtual_numbers":                        s.purchaseNumber,
		"GET /virtual_numbers/{id}":                    s.getNumber,
		"PATCH /virtual_numbers/{id}":                  s.updateNumber,
		"POST /virtual_numbers/{id}/add_operator":      s.addOperator,
		"POST /virtual_numbers/{id}/operators":         s.addOperator,
		"DELETE /virtual_numbers/{id}/remove_operator": s.removeOperator,
		"DELETE /virtual_numbers/{id}/operators/{id}":  s.removeOperator,
		"GET /operators":                               s.listOperators,
		"POST /operators":                              s.createOperator,
		"GET /operators/{id}":                          s.getOperator,
		"PATCH /operators/{id}":                        s.updateOperator,
		"DELETE /operators/{id}":                       s.deleteOperator,
	}
	if len(handlers) != len(api.Endpoints) {
		panic(fmt.Sprintf("idctest: %d handlers for %d documented endpoints", len(handlers), len(api.Endpoints)))
	}
	mux := http.NewServeMux()
	for _, e := range api.Endpoints {
		h, ok := handlers[e.Method+" "+e.Path]
		if !ok {
			panic("idctest: no handler for " + e.Method + " " + e.Path)
		}
		mux.Handle(e.Method+" "+BasePath+wildcards(e.Path), s.authorized(e, h))
	}
	return mux
}

// wildcards names the ID segments of a path template for ServeMux, which
// wants a name of their own for each: {id}, then {id2}.
func wildcards(path string) string {
	first := strings.Index(path, "{id}")
	if last := strings.LastIndex(path, "{id}"); last != first {
		return path[:last] + "{id2}" + path[last+len("{id}"):]
	}
	return path
}

// serve answers one request: faults first, as the network would, then the
// routes.
func (s *Server) serve(rw http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("X-Request-ID")
	if id != "" {
		rw.Header().Set("X-Request-ID", id)
	}
	route := routeOf(r)
	s.mu.Lock()
	line := s.received(r, id)
	f, faulty := s.nextFault(route)
	s.mu.Unlock()
	w := &loggedWriter{ResponseWriter: rw, s: s, line: line}
	defer w.record(0) // no answer at all: the client went away during a Delay
	if faulty {
		s.fault(w, r, f)
		return
	}
	s.route(w, r)
}

// route dispatches r. An unknown path gets 404 and a known path with the
// wrong method 405 with Allow, both with the documented error body.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		rec := httptest.NewRecorder() // the mux knows which of the two, and what to allow
		s.mux.ServeHTTP(rec, r)
		if allow := rec.Header().Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		msg := "Resource not found"
		if rec.Code == http.StatusMethodNotAllowed {
			msg = "Method not allowed"
		}
		writeError(w, rec.Code, msg)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// authorized runs the checks every endpoint shares, in the documented
// order, then h.
func (s *Server) authorized(e api.Endpoint, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, wait, ok := s.admit(r)
		switch {
		case !ok:
			writeError(w, http.StatusUnauthorized, "Invalid or expired API key")
		case wait > 0:
			tooManyRequests(w, wait)
		case !k.perms[Permission(e.Permission)]:
			perm := string(e.Permission)
			writeError(w, http.StatusForbidden, strings.ToUpper(perm[:1])+perm[1:]+" permission required")
		default:
			h(w, r, k)
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeData writes the documented success shape, {"data": v}.
func writeData(w http.ResponseWriter, status int, v any) {
	writeJSON(w, status, map[string]any{"data": v})
}

// writeError writes {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	setMessage(w, msg)
	writeJSON(w, status, map[string]string{"error": msg})
}

// writeErrors writes the 422 shape, {"errors": [...]}.
func writeErrors(w http.ResponseWriter, msgs []string) {
	setMessage(w, strings.Join(msgs, "; "))
	writeJSON(w, http.StatusUnprocessableEntity, map[string][]string{"errors": msgs})
}

func notFound(w http.ResponseWriter) { writeError(w, http.StatusNotFound, "Resource not found") }

// decodeJSON reads a JSON request body into v; an empty body leaves v as
// is. It writes the 400 itself and reports false on a malformed body.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v)
	if err != nil && err != io.EOF {
		writeError(w, http.StatusBadRequest, "Invalid JSON body")
		return false
	}
	return true
}
