package idctrace

import (
	"encoding/json"
	"strings"
)

// wireError is the IdentityCall error body: {"error": "..."} or, for
// validation errors, {"errors": ["...", "..."]}; a 429 adds "retry_after".
type wireError struct {
	Error      string          `json:"error"`
	Errors     []string        `json:"errors"`
	RetryAfter json.RawMessage `json:"retry_after"`
}

// decodeWire decodes an error body into w. ok reports that it is a JSON
// object, possibly with fields of the wrong type (which are skipped, as
// encoding/json skips them).
//
// The documented bodies are flat objects of plain strings, so a small
// scanner handles them without encoding/json's reflection, at a third of its
// cost. Anything else — escapes, nesting, malformed input — goes to
// encoding/json, which stays the reference (FuzzDecodeWire holds the two to
// the same answers).
func decodeWire(body []byte) (w wireError, ok bool) {
	if w, ok := scanWire(body); ok {
		return w, true
	}
	return unmarshalWire(body)
}

// unmarshalWire is decodeWire's encoding/json path. It is a function of its
// own because Unmarshal moves its target to the heap: here that costs an
// allocation only when the scanner gave up.
func unmarshalWire(body []byte) (w wireError, ok bool) {
	err := json.Unmarshal(body, &w)
	if _, typeErr := err.(*json.UnmarshalTypeError); err != nil && !typeErr {
		return wireError{}, false // not JSON, truncated or too deep
	}
	return w, true
}

// scanWire decodes a flat JSON object whose strings hold no escapes or
// control characters. ok is false when the body is anything else; the
// caller then asks encoding/json.
func scanWire(b []byte) (w wireError, ok bool) {
	s := wireScanner{b: b}
	if !s.consume('{') {
		return w, false
	}
	if s.consume('}') {
		return w, s.end()
	}
	for {
		key, ok := s.str()
		if !ok || !s.consume(':') {
			return wireError{}, false
		}
		s.ws()
		switch string(key) { // no allocation: the compiler compares in place
		case "error":
			if v, ok := s.str(); ok {
				w.Error = string(v)
			} else if !s.scalar() { // a number, bool or null: skipped
				return wireError{}, false
			}
		case "errors":
			if !s.strArray(&w.Errors) {
				return wireError{}, false
			}
		case "retry_after":
			start := s.i
			if _, ok := s.str(); !ok && !s.scalar() {
				return wireError{}, false
			}
			w.RetryAfter = b[start:s.i:s.i]
		default:
			if isFieldFold(key) {
				return wireError{}, false // encoding/json matches "Error" too
			}
			if _, ok := s.str(); !ok && !s.scalar() {
				return wireError{}, false
			}
		}
		if s.consume('}') {
			return w, s.end()
		}
		if !s.consume(',') {
			return wireError{}, false
		}
	}
}

// isFieldFold reports whether key names a wireError field in another case.
func isFieldFold(key []byte) bool {
	for _, name := range [...]string{"error", "errors", "retry_after"} {
		if len(key) == len(name) && strings.EqualFold(string(key), name) {
			return true
		}
	}
	return false
}

type wireScanner struct {
	b []byte
	i int
}

func (s *wireScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// consume skips white space and then c, if c is next.
func (s *wireScanner) consume(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (s *wireScanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// str reads a string without escapes, control characters or invalid UTF-8,
// and returns its contents. On false nothing is consumed.
func (s *wireScanner) str() ([]byte, bool) {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	for j := s.i + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			v := s.b[s.i+1 : j]
			s.i = j + 1
			return v, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false // escapes and non-ASCII: encoding/json's job
		}
	}
	return nil, false
}

// strArray reads an array of strings into dst. An array holding other
// values is left to encoding/json.
func (s *wireScanner) strArray(dst *[]string) bool {
	if !s.consume('[') {
		return false
	}
	if s.consume(']') {
		*dst = []string{}
		return true
	}
	var out []string
	for {
		v, ok := s.str()
		if !ok {
			return false
		}
		out = append(out, string(v))
		if s.consume(']') {
			*dst = out
			return true
		}
		if !s.consume(',') {
			return false
		}
	}
}

// scalar reads a number, true, false or null.
func (s *wireScanner) scalar() bool {
	s.ws()
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
			s.i += len(lit)
			return true
		}
	}
	return s.number()
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *wireScanner) number() bool {
	i := s.i
	if i < len(s.b) && s.b[i] == '-' {
		i++
	}
	switch {
	case i < len(s.b) && s.b[i] == '0':
		i++
	case i < len(s.b) && '1' <= s.b[i] && s.b[i] <= '9':
		i = digits(s.b, i)
	default:
		return false
	}
	if i < len(s.b) && s.b[i] == '.' {
		if j := digits(s.b, i+1); j > i+1 {
			i = j
		} else {
			return false
		}
	}
	if i < len(s.b) && (s.b[i] == 'e' || s.b[i] == 'E') {
		i++
		if i < len(s.b) && (s.b[i] == '+' || s.b[i] == '-') {
			i++
		}
		j := digits(s.b, i)
		if j == i {
			return false
		}
		i = j
	}
	s.i = i
	return true
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}
