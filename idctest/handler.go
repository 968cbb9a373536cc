package idctest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"

	"go.uber.org/zap"
)

// serve runs the checks every request goes through, in the documented
// order, then routes it.
func (s *Server) serve(rw http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("X-Request-ID")
	if id != "" {
		rw.Header().Set("X-Request-ID", id)
	}
	w := &loggedWriter{ResponseWriter: rw, log: s.log, req: r, id: id}

	s.mu.Lock()
	s.requestIDs = append(s.requestIDs, id)
	fail := s.failNext > 0
	if fail {
		s.failNext--
	}
	s.mu.Unlock()
	if fail {
		writeError(w, http.StatusInternalServerError, "Internal server error")
		return
	}

	account, ok := s.authenticate(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "Invalid or expired API key")
		return
	}
	if wait, limited := s.rateLimited(r); limited {
		w.Header().Set("Retry-After", fmt.Sprint(wait))
		w.msg = "Rate limit exceeded"
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": w.msg, "retry_after": wait})
		return
	}
	if perm := permissionFor(r.Method); !s.allowed(r, perm) {
		writeError(w, http.StatusForbidden, strings.ToUpper(string(perm[:1]))+string(perm[1:])+" permission required")
		return
	}
	s.route(w, r, account)
}

// route dispatches on the path below BasePath.
func (s *Server) route(w http.ResponseWriter, r *http.Request, account string) {
	rest, ok := strings.CutPrefix(r.URL.Path, BasePath+"/")
	if !ok {
		writeError(w, http.StatusNotFound, "Resource not found")
		return
	}
	parts := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	switch {
	case len(parts) == 1 && parts[0] == "recordings" && r.Method == http.MethodGet:
		s.listRecordings(w, r, account)
	case len(parts) == 1 && parts[0] == "recordings" && r.Method == http.MethodPost:
		s.createRecording(w, r, account)
	case len(parts) == 2 && parts[0] == "recordings" && r.Method == http.MethodGet:
		s.getRecording(w, account, parts[1])
	case len(parts) == 2 && parts[0] == "recordings" && r.Method == http.MethodPatch:
		s.updateRecording(w, r, account, parts[1])
	case len(parts) == 2 && parts[0] == "recordings" && r.Method == http.MethodDelete:
		s.deleteRecording(w, account, parts[1])
	case len(parts) == 3 && parts[0] == "recordings" && parts[2] == "transcription" && r.Method == http.MethodGet:
		s.getTranscription(w, account, parts[1])
	default:
		writeError(w, http.StatusNotFound, "Resource not found")
	}
}

// authenticate returns the account of the request's key, if the key is
// well-formed, known, not revoked and not expired.
func (s *Server) authenticate(r *http.Request) (string, bool) {
	key, ok := bearerKey(r)
	if !ok {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[key]
	if !ok || k.revoked || k.expired {
		return "", false
	}
	return k.account, true
}

// bearerKey returns the key of an "Authorization: Bearer idc_<32
// alphanumerics>" header.
func bearerKey(r *http.Request) (string, bool) {
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	secret, ok := strings.CutPrefix(key, "idc_")
	if !ok || len(secret) != 32 {
		return "", false
	}
	for i := 0; i < len(secret); i++ {
		if !strings.ContainsRune(alphanumerics, rune(secret[i])) {
			return "", false
		}
	}
	return key, true
}

// rateLimited counts the request against its key's window and, when the
// window is used up, returns the whole seconds until it ends (at least 1).
func (s *Server) rateLimited(r *http.Request) (int, bool) {
	if s.limit == 0 {
		return 0, false
	}
	key, _ := bearerKey(r)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys[key]
	if now.Sub(k.windowStart) >= s.window {
		k.windowStart, k.used = now, 0
	}
	k.used++
	if k.used <= s.limit {
		return 0, false
	}
	left := k.windowStart.Add(s.window).Sub(now)
	return max(1, int(math.Ceil(left.Seconds()))), true
}

func permissionFor(method string) Permission {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return Read
	case http.MethodDelete:
		return Delete
	}
	return Write
}

func (s *Server) allowed(r *http.Request, p Permission) bool {
	key, _ := bearerKey(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[key].perms[p]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError writes {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	if lw, ok := w.(*loggedWriter); ok {
		lw.msg = msg
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

// writeErrors writes the 422 shape, {"errors": [...]}.
func writeErrors(w http.ResponseWriter, msgs []string) {
	if lw, ok := w.(*loggedWriter); ok {
		lw.msg = strings.Join(msgs, "; ")
	}
	writeJSON(w, http.StatusUnprocessableEntity, map[string][]string{"errors": msgs})
}

// loggedWriter logs the request once, when its status is decided and
// before the response leaves, so that a server line always comes before the
// client's line about the same request.
type loggedWriter struct {
	http.ResponseWriter
	log    *zap.Logger
	req    *http.Request
	id     string
	msg    string
	logged bool
}

func (w *loggedWriter) WriteHeader(status int) {
	if !w.logged {
		w.logged = true
		fields := []zap.Field{
			zap.String("request_id", w.id),
			zap.String("method", w.req.Method),
			zap.String("path", w.req.URL.Path),
			zap.Int("status", status),
		}
		if w.msg != "" {
			fields = append(fields, zap.String("error", w.msg))
		}
		w.log.Info("request", fields...)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *loggedWriter) Write(p []byte) (int, error) {
	if !w.logged {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}
