package idctrace

import (
	"errors"
	"net/http"
	"time"
)

// errNilResponse is returned by CheckResponse for a nil response.
var errNilResponse = errors.New("idctrace: CheckResponse: nil response")

// CheckResponse returns nil when resp's status is below 400 and an
// [*APIError] otherwise. The body stays fully readable, byte for byte.
//
// For a response that came through a [Transport], CheckResponse returns
// what the Transport recorded, as its entry has it; when that record has
// not ended yet (see [Transport.RoundTrip]), CheckResponse ends it first,
// reading the body's prefix itself when nobody else is, for at most the
// Transport's body-read bound. The body still yields every byte. For any
// other response it reads a prefix of
// at most [defaultMaxBody] itself, waiting at most
// [defaultBodyWait] or until the request's context is done, and
// replaces resp.Body with a body that yields the prefix and then the rest.
func CheckResponse(resp *http.Response) error {
	if resp == nil {
		return errNilResponse
	}
	if resp.StatusCode < 400 {
		return nil
	}
	r := recordOf(resp)
	if r != nil && r.tee != nil {
		r = r.tee.await() // the caller may not have read the prefix yet
	}
	if r == nil {
		req := resp.Request
		if req == nil {
			req = &http.Request{}
		}
		r = newRecord(req, RequestID(resp), time.Now(), 0, nil)
		end := r.inspectResponse(resp, defaultMaxBody, defaultBodyWait, time.Now)
		r.duration = end.Sub(r.started)
		r.finish()
		r.sent, r.secrets = nil, nil
	}
	return r.apiError()
}

// recordOf finds the record a Transport attached to resp: on its body, or,
// when a middleware above the Transport wrapped the body, on the context of
// the request behind it.
func recordOf(resp *http.Response) *record {
	if fb, ok := resp.Body.(interface{ recordOf() *record }); ok {
		return fb.recordOf()
	}
	if resp.Request != nil {
		if c, ok := resp.Request.Context().Value(ctxKey{}).(*idContext); ok &&
			c.record != nil && c.record.status == resp.StatusCode {
			return c.record
		}
	}
	return nil
}
