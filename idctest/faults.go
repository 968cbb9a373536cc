package idctest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"
)

// A Fault is what a misbehaving API or network does to one request. It
// comes before every check the server makes, as a load balancer's 503 or a
// dropped connection would. The zero Fault changes nothing.
type Fault struct {
	Status int           // 0: no status override
	Body   string        // replaces the documented body when set
	Header http.Header   // added to the response (Retry-After, ...)
	Delay  time.Duration // before the response starts
	Drop   bool          // close the connection without any response
	Cut    bool          // send the headers and half the body, then close the connection
}

// queuedFault is a fault and the number of requests it has left.
type queuedFault struct {
	f Fault
	n int
}

// Inject makes the next n requests get f, after the faults injected before
// it. With Status 0, the request is served as usual and f changes how the
// answer arrives: late, with more headers, or cut. Such a request does its
// work: an upload whose response is cut has still created its recording,
// as on a real network.
func (s *Server) Inject(n int, f Fault) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, queuedFault{f, n})
}

// FailNext makes the next n requests fail with 500 Internal server error:
// Inject(n, Fault{Status: 500}).
func (s *Server) FailNext(n int) { s.Inject(n, Fault{Status: http.StatusInternalServerError}) }

// nextFault takes the fault for the request at hand. The caller holds s.mu.
func (s *Server) nextFault() (Fault, bool) {
	if len(s.faults) == 0 {
		return Fault{}, false
	}
	q := &s.faults[0]
	q.n--
	f := q.f
	if q.n == 0 {
		s.faults = s.faults[1:]
	}
	return f, true
}

// fault answers r as f says.
func (s *Server) fault(w *loggedWriter, r *http.Request, f Fault) {
	if f.Delay > 0 {
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if f.Drop {
		closeConn(w)
		return
	}
	// The answer: the documented one for the status, or the real one.
	rec := httptest.NewRecorder()
	if f.Status != 0 {
		body := f.Body
		if body == "" {
			body = documentedBody(f.Status)
		}
		rec.Header().Set("Content-Type", "application/json; charset=utf-8")
		rec.WriteHeader(f.Status)
		rec.WriteString(body)
		w.msg = "injected fault"
	} else {
		s.route(rec, r)
		if f.Body != "" {
			rec.Body.Reset()
			rec.Body.WriteString(f.Body)
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	for k, v := range f.Header {
		w.Header()[k] = append(w.Header()[k], v...)
	}
	body := rec.Body.Bytes()
	if !f.Cut {
		w.WriteHeader(rec.Code)
		w.Write(body)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	w.Write(body[:len(body)/2])
	http.NewResponseController(w).Flush()
	closeConn(w)
}

// closeConn closes the request's connection, without a word.
func closeConn(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
		return
	}
	panic(http.ErrAbortHandler) // HTTP/2: reset the stream
}

// documentedBody is the body the API documents for status.
func documentedBody(status int) string {
	msg := map[int]string{
		400: "Bad request", 401: "Invalid or expired API key", 403: "Permission required", 404: "Resource not found",
		422: "Unprocessable entity", 500: "Internal server error", 502: "Bad gateway", 503: "Service unavailable",
		504: "Gateway timeout",
	}[status]
	if msg == "" {
		msg = http.StatusText(status)
	}
	v := map[string]any{"error": msg}
	if status == http.StatusTooManyRequests {
		v = map[string]any{"error": "Rate limit exceeded", "retry_after": 60}
	}
	b, _ := json.Marshal(v)
	return string(b)
}
