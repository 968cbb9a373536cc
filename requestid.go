package idctrace

import (
	"context"
	"crypto/rand"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/identitycall/idctrace/internal/redact"
)

// maxIDLen is the longest request ID the Transport forwards as given.
const maxIDLen = 128

type ctxKey struct{}

// idContext carries a request ID. The Transport gives every attempt its own
// idContext, so that the failure record of that attempt hangs off the
// request behind the response, where CheckResponse finds it when a
// middleware above the Transport wrapped the body (see failureOf).
type idContext struct {
	context.Context
	id      string
	failure *failure // set by the Transport after a failed attempt
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
	if f := failureOf(resp); f != nil {
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

// requestHeader picks the ID for req: its header, under any spelling of
// the name, else its context, else a new one. It returns the header to send
// all attempts with: nil when req's own carries that ID as the header's one
// value under its one, canonical key, and a copy with the ID otherwise.
func (t *Transport) requestHeader(req *http.Request) (id string, header http.Header) {
	values, exact, n := scanHeader(req.Header, t.header)
	switch {
	case len(values) > 0 && validID(values[0]) && exact:
		return values[0], nil
	case len(values) > 0 && validID(values[0]):
		id = values[0]
	default:
		id = t.newID(req.Context())
	}
	return id, cloneHeaderWith(req.Header, t.header, id, n)
}

// newID returns the ID of a request whose header has none: its context's,
// else the generator's, else a new UUID.
func (t *Transport) newID(ctx context.Context) string {
	if id, ok := RequestIDFromContext(ctx); ok && validID(id) {
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
// found under any spelling, the canonical one first, and n, the number of
// values in h. exact reports one value under the canonical key and under no
// other spelling. It walks h once: this is every request's path.
func scanHeader(h http.Header, key string) (values []string, exact bool, n int) {
	spellings := 0
	for k, vv := range h {
		n += len(vv)
		if len(k) == len(key) && strings.EqualFold(k, key) {
			spellings++
			if k == key || values == nil {
				values = vv
			}
		}
	}
	return values, spellings == 1 && len(values) == 1 && h[key] != nil, n
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
// array rather than calling uuid.NewString, which allocates twice: the
// success path's ceiling of six allocations (allocs_test.go) has no room
// for the second.
func newUUID() string {
	var u uuid.UUID
	rand.Read(u[:])         // never fails; crashes the program if the OS source does
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return u.String()
}

// cloneHeaderWith returns a copy of h, which holds n values, with key set
// to the single value v, and no other spelling of key. Like
// [http.Header.Clone], it backs the values with one shared array, with a
// slot more for v.
func cloneHeaderWith(h http.Header, key, v string, n int) http.Header {
	sv := make([]string, n+1)
	h2 := make(http.Header, len(h)+1)
	for k, vv := range h {
		switch {
		case len(k) == len(key) && strings.EqualFold(k, key):
			continue
		case vv == nil:
			h2[k] = nil // as Clone, which keeps nil apart from empty
			continue
		}
		n := copy(sv, vv)
		h2[k] = sv[:n:n]
		sv = sv[n:]
	}
	sv[0] = v
	h2[key] = sv[:1:1]
	return h2
}
