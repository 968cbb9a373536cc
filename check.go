package idctrace

import (
	"cmp"
	"errors"
	"net/http"
	"time"
)

// errNilResponse is returned by CheckResponse for a nil response.
var errNilResponse = errors.New("idctrace: CheckResponse: nil response")

// CheckResponse returns nil when resp's status is below 400 and an
// [*APIError] otherwise; the body stays readable, byte for byte. For a
// response that came through a [Transport], the error is what the
// Transport recorded, as its entry has it. Either way, CheckResponse reads
// the body's prefix itself when nobody has, waiting at most the
// Transport's [WithBodyReadTimeout] (a second without a Transport).
func CheckResponse(resp *http.Response) error {
	if resp == nil {
		return errNilResponse
	}
	if resp.StatusCode < 400 {
		return nil
	}
	r := recordOf(resp)
	if r == nil {
		r = new(record) // of a response that came through no Transport, maybe without its request
		r.init(cmp.Or(resp.Request, &http.Request{}), RequestID(resp), time.Now(), 0, nil)
		r.inspectHeader(resp, r.started)
		r.finish()
		if resp.Body != nil && resp.Body != http.NoBody {
			resp.Body = newFailureBody(resp.Body, r, defaultMaxBody, defaultBodyWait).asBody()
		}
	}
	if b := r.respBody; b != nil {
		b.settle(r.ctx)
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
