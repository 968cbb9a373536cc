package idctest

import (
	"fmt"
	"maps"
	"net/http"
	"strings"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/identitycall/idctrace/internal/redact"
)

// The bounds of the request log, so that a server that runs for days (as
// `idctrace sim` does) keeps a steady memory whatever its clients send.
const (
	// MaxLoggedRequests is how many requests the request log keeps: the
	// most recent. [Server.Counts] counts every request.
	MaxLoggedRequests = 1000

	// MaxLoggedPathBytes is the longest path the request log keeps. A
	// longer path is cut to this length, ending in "…", after its keys
	// are masked; so are a method and a request ID longer than 128
	// bytes.
	MaxLoggedPathBytes = 1024

	maxLoggedField = 128 // bytes of a method or a request ID
)

// RequestLine is one request the server received, as its log has it.
type RequestLine struct {
	Method    string // cut to 128 bytes
	Path      string // keys masked, cut to MaxLoggedPathBytes
	Status    int    // 0 for a dropped connection
	RequestID string // cut to 128 bytes
}

// String returns the line as [Start] logs it:
// GET /api/v1/public/recordings -> 200 (request_id "...").
func (r RequestLine) String() string {
	return fmt.Sprintf("%s %s -> %d (request_id %q)", r.Method, r.Path, r.Status, r.RequestID)
}

// RequestCounts counts the requests a [Server] received since it started:
// every one, however few of them its request log still keeps.
type RequestCounts struct {
	Received int         // every request, answered or not yet
	Answered int         // those answered, or dropped
	ByStatus map[int]int // the answered ones by status; 0 for a dropped connection
}

// Counts returns the counts of every request the server received. A test
// that counts what was sent uses them rather than the length of
// [Server.Requests], which keeps only the most recent.
func (s *Server) Counts() RequestCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.reqs.counts
	c.ByStatus = maps.Clone(c.ByStatus)
	if c.ByStatus == nil {
		c.ByStatus = map[int]int{}
	}
	return c
}

// Requests returns the request log: the most recent requests received, up
// to [MaxLoggedRequests], that have been answered (or dropped), in the
// order received, their paths cut to [MaxLoggedPathBytes]. A request is
// in it before its answer leaves the server, so a client that has its
// answer finds its line. To count requests, use [Server.Counts].
func (s *Server) Requests() []RequestLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []RequestLine
	for l := range s.reqs.each {
		if l.answered {
			out = append(out, l.RequestLine)
		}
	}
	return out
}

// RequestIDs returns the X-Request-ID header of the requests in the
// request log (see [Server.Requests]), answered or not yet, in the order
// received; "" for a request without one.
func (s *Server) RequestIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for l := range s.reqs.each {
		out = append(out, l.RequestID)
	}
	return out
}

// received adds r to the log and returns its number, for its answer. The
// caller holds s.mu.
func (s *Server) received(r *http.Request, id string) int {
	return s.reqs.add(RequestLine{Method: cut(r.Method, maxLoggedField),
		Path: cut(redact.MaskKeys(r.URL.Path), MaxLoggedPathBytes), RequestID: cut(id, maxLoggedField)})
}

// cut returns a copy of s, or when s is longer than n bytes, of its first
// whole characters and "…", n bytes at most. A copy, since s may share the
// memory of a much longer text, as a request's method shares its line's.
func cut(s string, n int) string {
	if len(s) <= n {
		return strings.Clone(s)
	}
	const more = "…"
	end := n - len(more)
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + more
}

// logLine is a RequestLine and whether its status is decided yet.
type logLine struct {
	RequestLine
	answered bool
}

// requestLog keeps the most recent requests and counts all of them.
type requestLog struct {
	lines   []logLine       // request n at n%MaxLoggedRequests, until request n+MaxLoggedRequests comes
	pending map[int]logLine // requests that left lines before their answer, by number
	counts  RequestCounts
}

// add logs l and returns its number.
func (g *requestLog) add(l RequestLine) int {
	n := g.counts.Received
	g.counts.Received++
	if len(g.lines) < MaxLoggedRequests {
		g.lines = append(g.lines, logLine{RequestLine: l})
		return n
	}
	i := n % MaxLoggedRequests
	if old := g.lines[i]; !old.answered {
		if g.pending == nil {
			g.pending = make(map[int]logLine)
		}
		g.pending[n-MaxLoggedRequests] = old // its answer still counts, and is logged
	}
	g.lines[i] = logLine{RequestLine: l}
	return n
}

// answer records the status of request n and returns its line.
func (g *requestLog) answer(n, status int) RequestLine {
	g.counts.Answered++
	if g.counts.ByStatus == nil {
		g.counts.ByStatus = make(map[int]int)
	}
	g.counts.ByStatus[status]++
	if l, ok := g.pending[n]; ok {
		delete(g.pending, n)
		l.Status = status
		return l.RequestLine
	}
	l := &g.lines[n%MaxLoggedRequests]
	l.Status, l.answered = status, true
	return l.RequestLine
}

// each yields the lines kept, oldest first.
func (g *requestLog) each(yield func(logLine) bool) {
	start := 0
	if len(g.lines) == MaxLoggedRequests {
		start = g.counts.Received % MaxLoggedRequests
	}
	for i := range g.lines {
		if !yield(g.lines[(start+i)%len(g.lines)]) {
			return
		}
	}
}

// loggedWriter completes the request's line once its status is decided and
// before the response leaves, so that a server line always comes before
// the client's line about the same request.
type loggedWriter struct {
	http.ResponseWriter
	s      *Server
	line   int // the request's number in s.reqs
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

// drop closes the request's connection without a word, once its line
// says so.
func (w *loggedWriter) drop() {
	w.record(0)
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
		return
	}
	panic(http.ErrAbortHandler) // HTTP/2: reset the stream
}

func (w *loggedWriter) record(status int) {
	if w.logged {
		return
	}
	w.logged = true
	w.s.mu.Lock()
	line := w.s.reqs.answer(w.line, status)
	w.s.mu.Unlock()
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
