package idctrace

import (
	"context"
	"crypto/rand"
	"net/http"

	"github.com/google/uuid"

	"github.com/identitycall/idctrace/internal/redact"
)

// maxIDLen is the longest request ID the Transport forwards as given.
const maxIDLen = 128

type ctxKey struct{}

// idContext carries a request ID. The Transport gives every attempt its own
// idContext, so the failure record of that attempt can hang off the request
// behind the response (see recordOf). One struct instead of
// context.WithValue plus a separate state value saves an allocation per call.
type idContext struct {
	context.Context
	id  string
	rec *failure // set by the Transport after a failed attempt
}

func (c *idContext) Value(key any) any {
	if key == (ctxKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// ContextWithRequestID returns a copy of ctx that carries id. A [Transport]
// sends id with a request made with that context unless the request already
// carries the request ID header. An id that is empty, longer than 128 bytes
// or holds control characters is ignored and replaced by a fresh one.
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
	if f := recordOf(resp); f != nil {
		return f.requestID
	}
	if resp.Request == nil {
		return ""
	}
	if id, ok := RequestIDFromContext(resp.Request.Context()); ok {
		return id
	}
	return resp.Request.Header.Get(DefaultRequestIDHeader)
}

// requestID picks the ID for req: its header, else its context, else a new
// one. inHeader reports that req already carries exactly that header value,
// so the header map need not be copied.
func (t *Transport) requestID(req *http.Request) (id string, inHeader bool) {
	if v := req.Header[t.header]; len(v) > 0 && validID(v[0]) {
		return v[0], len(v) == 1
	}
	if id, ok := RequestIDFromContext(req.Context()); ok && validID(id) {
		return id, false
	}
	if t.gen != nil {
		if id := t.gen(); validID(id) {
			return id, false
		}
	}
	return newUUID(), false
}

// validID reports whether id may be sent as given: 1 to 128 bytes, none of
// them a control character, and no IdentityCall key in them.
func validID(id string) bool {
	if id == "" || len(id) > maxIDLen || redact.HasKey(id) {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// newUUID returns a random version 4 UUID. It reads crypto/rand into a stack
// array rather than calling uuid.NewString, whose io.Reader path moves the
// array to the heap: one allocation per request instead of two.
func newUUID() string {
	var u uuid.UUID
	rand.Read(u[:])         // never fails; crashes the program if the OS source does
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return u.String()
}

// cloneHeaderWith returns a copy of h with key set to the single value v.
// Like http.Header.Clone it backs the value slices with one shared array,
// but in a single pass over h: the array is sized for one value per header
// plus the ID, the rule for API requests, and a header with more values
// than are left starts a new one.
func cloneHeaderWith(h http.Header, key, v string) http.Header {
	sv := make([]string, len(h)+1)
	h2 := make(http.Header, len(h)+1)
	for k, vv := range h {
		switch {
		case k == key:
			continue
		case vv == nil:
			h2[k] = nil
			continue
		case len(vv) >= len(sv): // one slot stays free for the ID
			sv = make([]string, len(vv)+len(h)+1)
		}
		m := copy(sv, vv)
		h2[k] = sv[:m:m]
		sv = sv[m:]
	}
	sv[0] = v
	h2[key] = sv[:1:1]
	return h2
}
