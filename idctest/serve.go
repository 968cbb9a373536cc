package idctest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/identitycall/idctrace/internal/api"
	"github.com/identitycall/idctrace/internal/redact"
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
	w := &loggedWriter{ResponseWriter: rw, s: s, req: r, id: id}
	defer w.done()

	s.mu.Lock()
	s.requestIDs = append(s.requestIDs, id)
	f, faulty := s.nextFault()
	s.mu.Unlock()
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
			secs := wait.Seconds()
			w.Header().Set("Retry-After", strconv.FormatFloat(secs, 'f', -1, 64))
			setMessage(w, "Rate limit exceeded")
			writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": "Rate limit exceeded", "retry_after": secs})
		case !k.perms[Permission(e.Permission)]:
			perm := string(e.Permission)
			writeError(w, http.StatusForbidden, strings.ToUpper(perm[:1])+perm[1:]+" permission required")
		default:
			h(w, r, k)
		}
	})
}

// admit checks the request's key: ok reports a well-formed, known,
// unrevoked and unexpired key; wait is what a 429 asks for when the key's
// window is used up, else 0.
func (s *Server) admit(r *http.Request) (k *apiKey, wait time.Duration, ok bool) {
	scheme, key, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || !redact.IsKey(key) {
		return nil, 0, false
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok = s.keys[key]
	if !ok || k.revoked || k.expired {
		return nil, 0, false
	}
	return k, s.spend(k, now), true
}

// spend counts a request against k's window and, when the window is used
// up, returns the wait a 429 asks for: the whole seconds until the window
// ends (at least 1), or WithRetryAfter's. The caller holds s.mu.
func (s *Server) spend(k *apiKey, now time.Time) time.Duration {
	if s.limit == 0 {
		return 0
	}
	if now.Sub(k.windowStart) >= s.window {
		k.windowStart, k.used = now, 0
	}
	k.used++
	switch {
	case k.used <= s.limit:
		return 0
	case s.retryAfter > 0:
		return s.retryAfter
	}
	left := k.windowStart.Add(s.window).Sub(now)
	return time.Duration(max(1, math.Ceil(left.Seconds()))) * time.Second
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

// loggedWriter records the request once its status is decided and before
// the response leaves, so that a server line always comes before the
// client's line about the same request.
type loggedWriter struct {
	http.ResponseWriter
	s      *Server
	req    *http.Request
	id     string
	msg    string
	logged bool
}

// setMessage notes the error message for the log line.
func setMessage(w http.ResponseWriter, msg string) {
	if lw, ok := w.(*loggedWriter); ok {
		lw.msg = msg
	}
}

func (w *loggedWriter) WriteHeader(status int) {
	w.record(status)
	w.ResponseWriter.WriteHeader(status)
}

func (w *loggedWriter) Write(p []byte) (int, error) {
	w.record(http.StatusOK)
	return w.ResponseWriter.Write(p)
}

// done records a request that got no response at all: a dropped
// connection.
func (w *loggedWriter) done() { w.record(0) }

func (w *loggedWriter) record(status int) {
	if w.logged {
		return
	}
	w.logged = true
	line := RequestLine{Method: w.req.Method, Path: redact.MaskKeys(w.req.URL.Path), Status: status, RequestID: w.id}
	w.s.logMu.Lock()
	w.s.requests = append(w.s.requests, line)
	w.s.logMu.Unlock()
	fields := []zap.Field{
		zap.String("request_id", line.RequestID),
		zap.String("method", line.Method),
		zap.String("path", line.Path),
		zap.Int("status", status),
	}
	if w.msg != "" {
		fields = append(fields, zap.String("error", redact.MaskKeys(w.msg)))
	}
	w.s.log.Info("request", fields...)
}

// Unwrap lets http.ResponseController reach the connection, for faults
// that drop or cut it.
func (w *loggedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
