package idctest

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/identitycall/idctrace/internal/redact"
)

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
// up, returns the wait a 429 asks for: the time until the window ends,
// rounded up to whole seconds for windows of a second or more. Either way
// a request after the wait finds a new window. The caller holds s.mu.
func (s *Server) spend(k *apiKey, now time.Time) time.Duration {
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
	left := k.windowStart.Add(s.window).Sub(now) // > 0: the window has not ended
	if s.window >= time.Second {
		left = time.Duration(math.Ceil(left.Seconds())) * time.Second
	}
	return left
}

// tooManyRequests writes the documented 429, asking for wait in its
// body's retry_after and its Retry-After header, both in seconds.
func tooManyRequests(w http.ResponseWriter, wait time.Duration) {
	secs := wait.Seconds()
	w.Header().Set("Retry-After", strconv.FormatFloat(secs, 'f', -1, 64))
	setMessage(w, "Rate limit exceeded")
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": "Rate limit exceeded", "retry_after": secs})
}
