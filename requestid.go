package idctrace

import (
	"context"
	"crypto/rand"
	"maps"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/identitycall/idctrace/internal/redact"
)

// maxIDLen is the longest request ID the Transport forwards as given.
const maxIDLen = 128

type ctxKey struct{}

// idContext carries a request ID. The Transport sends every attempt of a
// call with one, to which it hangs the record of the last failed attempt:
// CheckResponse finds it there when a middleware above the Transport
// wrapped the body (see recordOf).
type idContext struct {
	context.Context
	id     string
	record *record // set by the Transport after a failed attempt
}

func (c *idContext) Value(key any) any {
	if key == (ctxKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// ContextWithRequestID returns a copy of ctx that carries id. A [Transport]
// sends id with a request made with that context unless the request already
// carries the request ID header. An id that a server or a reader of the
// error's text could read differently is ignored and replaced by a fresh
// one: it must be 1 to 128 bytes of visible ASCII (no space, no control
// character, nothing beyond ASCII), without parentheses, and hold no API key.
func ContextWithRequestID(ctx context.Context, id string) context.Context {
	return &idContext{Context: ctx, id: id}
}

// RequestIDFromContext returns the request ID ctx carries, if any. Inside a
// [Transport] and below it, the request's context carries the ID that is
// sent.
func RequestIDFromContext(ctx context.Context) (string, bool) {
	if c, ok := ctx.Value(ctxKey{}).(*idContext); ok && c.id != "" {
		return c.id, true
	}
	return "", false
}

// RequestID returns the request ID that was sent with the request behind
// resp, or "" when resp did not pass through a [Transport] and its request
// has no [DefaultRequestIDHeader].
func RequestID(resp *http.Response) string {
	if resp == nil {
		return ""
	}
	if r := recordOf(resp); r != nil {
		return r.requestID
	}
	if resp.Request == nil {
		return ""
	}
	if id, ok := RequestIDFromContext(resp.Request.Context()); ok {
		return id
	}
	return resp.Request.Header.Get(DefaultRequestIDHeader)
}

// requestHeader picks the ID for req: its header, under any spelling of
// the name, else the ID of the request whose redirect led to req, else its
// context's, else a new one. It returns the header to send every attempt
// with: nil when req's own carries that ID as the one value of its one,
// canonical key, and a copy with the ID otherwise.
func (t *Transport) requestHeader(req *http.Request) (id string, header http.Header) {
	values, exact := scanHeader(req.Header, t.header)
	switch {
	case len(values) > 0 && validID(values[0]) && exact:
		return values[0], nil
	case len(values) > 0 && validID(values[0]):
		id = values[0]
	default:
		id = t.newID(req)
	}
	header = req.Header.Clone()
	if header == nil {
		header = make(http.Header, 1)
	}
	if values != nil { // some spelling of the key is there: the server must receive one ID
		maps.DeleteFunc(header, func(k string, _ []string) bool {
			return len(k) == len(t.header) && strings.EqualFold(k, t.header)
		})
	}
	header[t.header] = []string{id}
	return id, header
}

// newID returns the ID of a request whose header has none: the ID of the
// request whose redirect led to it (http.Client builds a new request for
// each hop), else its context's, else the generator's, else a new UUID.
func (t *Transport) newID(req *http.Request) string {
	if id := RequestID(req.Response); validID(id) { // RequestID(nil) is "", which is not valid
		return id
	}
	if id, ok := RequestIDFromContext(req.Context()); ok && validID(id) {
		return id
	}
	if t.gen != nil {
		if id := t.gen(); validID(id) {
			return id
		}
	}
	return newUUID()
}

// scanHeader returns the values of the header whose canonical key is key,
// found under any spelling: the canonical one, else the first in byte
// order, as net/http writes them. exact reports one value under the
// canonical key and under no other spelling.
func scanHeader(h http.Header, key string) (values []string, exact bool) {
	spellings, first := 0, ""
	for k, vv := range h {
		if len(k) == len(key) && strings.EqualFold(k, key) {
			spellings++
			if first == "" || first != key && (k == key || k < first) {
				first, values = k, vv
			}
		}
	}
	return values, spellings == 1 && len(values) == 1 && first == key
}

// validID reports whether id may be sent as given: 1 to 128 bytes of
// visible ASCII, without parentheses, and no IdentityCall key in them. A
// server reads such an ID as it was sent, and [RequestIDFromError] reads it
// back from an error's text; anything else is replaced by a new ID.
func validID(id string) bool {
	return id != "" && len(id) <= maxIDLen && !redact.HasKey(id) &&
		!strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == '(' || r == ')' })
}

// newUUID returns a random (version 4) UUID with one allocation, its text:
// uuid.NewString's second allocation, on every call's path, puts a
// Transport with retries past its ceiling of 0.3 of otelhttp's overhead.
func newUUID() string {
	var u uuid.UUID
	rand.Read(u[:])         // never fails; crashes the program if the OS source does
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return u.String()
}
