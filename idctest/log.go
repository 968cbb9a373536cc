package idctest

import (
	"fmt"
	"net/http"

	"go.uber.org/zap"

	"github.com/identitycall/idctrace/internal/redact"
)

// RequestLine is one request the server received, as its log has it.
type RequestLine struct {
	Method    string
	Path      string // keys masked
	Status    int    // 0 for a dropped connection
	RequestID string
}

// String returns the line as [Start] logs it:
// GET /api/v1/public/recordings -> 200 (request_id "...").
func (r RequestLine) String() string {
	return fmt.Sprintf("%s %s -> %d (request_id %q)", r.Method, r.Path, r.Status, r.RequestID)
}

// logLine is a RequestLine and whether its status is decided yet.
type logLine struct {
	RequestLine
	answered bool
}

// Requests returns the request log: every request answered (or dropped),
// in the order received. A request is in it before its answer leaves the
// server, so a client that has its answer finds its line.
func (s *Server) Requests() []RequestLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []RequestLine
	for _, l := range s.requests {
		if l.answered {
			out = append(out, l.RequestLine)
		}
	}
	return out
}

// RequestIDs returns the X-Request-ID header of every request received, in
// order, answered or not yet; "" for a request without one.
func (s *Server) RequestIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.requests))
	for i, l := range s.requests {
		out[i] = l.RequestID
	}
	return out
}

// received adds r to the log and returns its place there. The caller holds
// s.mu.
func (s *Server) received(r *http.Request, id string) int {
	s.requests = append(s.requests, logLine{RequestLine: RequestLine{
		Method: r.Method, Path: redact.MaskKeys(r.URL.Path), RequestID: id}})
	return len(s.requests) - 1
}

// loggedWriter completes the request's line once its status is decided and
// before the response leaves, so that a server line always comes before
// the client's line about the same request.
type loggedWriter struct {
	http.ResponseWriter
	s      *Server
	line   int // in s.requests
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
	l := &w.s.requests[w.line]
	l.Status, l.answered = status, true
	line := l.RequestLine
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
