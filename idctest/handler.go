package idctest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

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

	account, wait, allowed, ok := s.admit(r)
	switch {
	case !ok:
		writeError(w, http.StatusUnauthorized, "Invalid or expired API key")
	case wait > 0:
		w.Header().Set("Retry-After", fmt.Sprint(wait))
		w.msg = "Rate limit exceeded"
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": w.msg, "retry_after": wait})
	case !allowed:
		perm := string(permissionFor(r.Method))
		writeError(w, http.StatusForbidden, strings.ToUpper(perm[:1])+perm[1:]+" permission required")
	default:
		s.route(w, r, account)
	}
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

// admit checks the request's key, in the documented order: ok reports a
// well-formed, known, unrevoked and unexpired key, and account is its
// account; wait is the whole seconds until its rate-limit window ends, when
// the window is used up, else 0; allowed reports its permission for the
// method.
func (s *Server) admit(r *http.Request) (account string, wait int, allowed, ok bool) {
	key, ok := bearerKey(r)
	if !ok {
		return "", 0, false, false
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[key]
	if !ok || k.revoked || k.expired {
		return "", 0, false, false
	}
	return k.account, s.spend(k, now), k.perms[permissionFor(r.Method)], true
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

// spend counts a request against k's window and, when the window is used
// up, returns the whole seconds until it ends (at least 1). The caller
// holds s.mu.
func (s *Server) spend(k *apiKey, now time.Time) int {
	if s.limit == 0 {
		return 0
	}
	if now.Sub(k.windowStart) >= s.window {
		k.windowStart, k.used = now, 0
	}
	k.used++
	if k.used <= s.limit {
		return 0
	}
	left := k.windowStart.Add(s.window).Sub(now)
	return max(1, int(math.Ceil(left.Seconds())))
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
