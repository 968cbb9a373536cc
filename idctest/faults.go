package idctest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/identitycall/idctrace/internal/api"
)

// A Fault is what a misbehaving API or network does to one request. It
// comes before every check the server makes, as a load balancer's 503 or a
// dropped connection would. The zero Fault changes nothing.
type Fault struct {
	// Route aims the fault at the requests of one documented endpoint,
	// written as its method and path template, as idctrace's Route gives
	// the template: "POST /recordings", "GET /recordings/{id}/transcription".
	// "" aims it at any request.
	Route string

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

// Inject makes the next n requests that f aims at get f: n requests of
// f.Route, however many others come between, or the next n requests of any
// route when f.Route is "". Each request takes the first fault, in the
// order injected, that aims at it and has requests left: faults aimed at
// the same requests follow one another, a fault without a Route takes a
// route's request when it was injected before that route's fault, and a
// request of no documented route takes only faults without one.
//
// With Status 0, the request is served as usual and f changes how the
// answer arrives: late, with more headers, or cut. Such a request does its
// work: an upload whose response is cut has still created its recording,
// as on a real network. A Status 429 without a Body asks for 1 s, in its
// body's retry_after and in a Retry-After header unless f.Header has one.
//
// n of zero or less injects nothing. Inject panics when f.Route is not a
// documented route.
func (s *Server) Inject(n int, f Fault) {
	if f.Route != "" && !documented(f.Route) {
		panic(fmt.Sprintf("idctest: Inject: %q is not a documented route, such as \"GET /recordings/{id}\"", f.Route))
	}
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

// documented reports whether route is a method and a path template of the
// route table, exactly.
func documented(route string) bool {
	for _, e := range api.Endpoints {
		if e.Method+" "+e.Path == route {
			return true
		}
	}
	return false
}

// routeOf returns r's route as a Fault names it, or "" when r is no
// documented endpoint. The path is cleaned first, as the server does
// before routing.
func routeOf(r *http.Request) string {
	rel, ok := api.Relative(r.URL.Path)
	if !ok {
		return ""
	}
	e, ok := api.Match(r.Method, rel)
	if !ok {
		return ""
	}
	return e.Method + " " + e.Path
}

// nextFault takes the first fault aimed at a request of route. The caller
// holds s.mu.
func (s *Server) nextFault(route string) (Fault, bool) {
	for i := range s.faults {
		q := &s.faults[i]
		if q.f.Route != "" && q.f.Route != route {
			continue
		}
		q.n--
		f := q.f
		if q.n == 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		return f, true
	}
	return Fault{}, false
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
		w.drop()
		return
	}
	// The answer: the documented one for the status, or the real one.
	rec := httptest.NewRecorder()
	if f.Status != 0 {
		body := f.Body
		if body == "" {
			body = documentedBody(f.Status)
			if f.Status == http.StatusTooManyRequests && f.Header.Get("Retry-After") == "" {
				rec.Header().Set("Retry-After", "1")
			}
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
	w.drop()
}

// documentedBody is the body the API documents for status; a 429 asks for
// 1 s, so that a test does not wait a minute by accident.
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
		v = map[string]any{"error": "Rate limit exceeded", "retry_after": 1}
	}
	b, _ := json.Marshal(v)
	return string(b)
}
