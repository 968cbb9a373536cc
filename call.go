package idctrace

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/identitycall/idctrace/internal/redact"
	"github.com/identitycall/idctrace/internal/ticket"
)

// call is one RoundTrip: the caller's request, its ID, and what its
// attempts leave for the next.
type call struct {
	t       *Transport
	req     *http.Request // the caller's, never modified
	id      string
	header  http.Header      // sent with every attempt; nil: req's own carries the ID
	ctx     *idContext       // sent with every attempt
	n       int              // the attempt being made
	charged charge           // what the retry budget gave for the retry about to be made
	began   time.Time        // when the call began: before the first attempt's wait for a slot
	started time.Time        // when the first attempt was sent
	history []ticket.Attempt // the attempts that failed and were retried

	// The last failed attempt, while the Transport waits to retry it: its
	// response stays open, so that the call can still return it, and its
	// observers learn its fate once it is known.
	kept    *http.Response
	pending *record

	held   *http.Response // the response of the attempt made, until the caller gets it
	unsent io.Closer      // a retry's body, from GetBody, until it is sent
}

// start gives the call its request ID, from the caller's request or made.
func (c *call) start() {
	c.id, c.header = c.t.requestHeader(c.req)
	c.ctx = &idContext{Context: c.req.Context(), id: c.id}
}

// release runs when RoundTrip returns, and when the caller's code panics
// in it (a callback, the ID generator, a Limiter, GetBody): it closes what
// the caller does not get, a request body nothing sent included, and gives
// back the charge of a retry that was not sent.
func (c *call) release() {
	closeBody(c.held)
	closeBody(c.kept)
	if c.unsent != nil {
		c.unsent.Close()
	}
	if c.started.IsZero() && c.req.Body != nil {
		c.req.Body.Close()
	}
	c.t.retry.Budget.refund(c.charged)
}

// attempt makes the next attempt: a retry first waits as the policy chose
// (retryIn); then it waits for a rate-limit slot, sends, and inspects what
// came back. The record is nil for a success; otherwise it records a failed
// attempt, or one that was not sent.
func (c *call) attempt() (*http.Response, *record) {
	t := c.t
	c.n++
	if c.pending != nil {
		if err := t.sleep(c.req.Context(), c.pending.retryIn); err != nil {
			return nil, c.notSent(fmt.Errorf("the wait before attempt %d ended: %w", c.n, err), 0)
		}
	}
	started, queued, err := c.waitForSlot()
	if c.n == 1 {
		c.began = started.Add(-queued)
	}
	var out *http.Request
	if err == nil {
		out, err = c.request()
	}
	if err != nil {
		return nil, c.notSent(err, queued)
	}
	if c.pending != nil { // a retry: the attempt it follows is observed and closed first
		c.unsent = out.Body
		c.sendingRetry()
		started = t.now()
	} else { // the first attempt
		c.started = started
		t.retry.Budget.deposit(started)
	}
	c.charged, c.unsent = charge{}, nil // sent: the budget keeps it
	resp, err := t.base.RoundTrip(out)
	switch {
	case err != nil:
		resp, err = nil, explain(c.req.Context(), err, t.now())
	case resp == nil:
		err = fmt.Errorf("idctrace: RoundTripper implementation (%T) returned a nil *Response with a nil error", t.base)
	}
	c.held = resp
	if err == nil && resp.StatusCode < 400 {
		if len(t.observers) > 0 {
			var r record
			r.init(out, c.id, started, c.n, t.logged)
			r.status, r.duration, r.queued = resp.StatusCode, t.now().Sub(started), queued
			c.observe(&r, true, nil)
		}
		return resp, nil
	}
	r := c.record(out, started, queued)
	end := t.now()
	r.duration = end.Sub(started)
	if err != nil {
		r.err, r.message = err, redact.Text(err.Error(), r.secrets, false)
		r.finish()
		return nil, r
	}
	if below := resp.Request; below != nil && below != out {
		// A transport below may have added credentials (an oauth2.Transport
		// does): the request it sent is the one to redact and hint by.
		r.sent, r.secrets = below, redact.AppendSecrets(r.secrets, below)
	}
	r.inspectHeader(resp, end)
	r.finish()
	c.ctx.record = r
	if resp.Body == nil || resp.Body == http.NoBody {
		return resp, r // finish has done all there is: no body to decode
	}
	// The record ends as the caller reads the body, unless a retry depends
	// on it (a retry_after): then its prefix is read now.
	b := newFailureBody(resp.Body, r, t.maxBody, t.bodyWait)
	resp.Body = b.asBody()
	if resp.StatusCode == http.StatusTooManyRequests || t.retry.MaxRetries > 0 && retryableStatus(resp.StatusCode) {
		b.settle(c.req.Context())
		r.duration = t.now().Sub(started)
	}
	return resp, r
}

// waitForSlot waits for a rate-limit slot, and returns when the attempt
// starts and how long it waited for the slot: none below a millisecond,
// what a free slot costs. An error means the attempt is not sent: no slot
// before the deadline, or the context ended. A limiter that cannot decide
// (its store is unreachable) lets the attempt go. An idle limiter of the
// Transport's own is skipped: timing it would only measure the scheduler.
func (c *call) waitForSlot() (started time.Time, queued time.Duration, err error) {
	t, ctx := c.t, c.req.Context()
	if l, ok := t.limiter.(*limiter); t.limiter == nil || ok && l.idle() && ctx.Err() == nil {
		return t.now(), 0, nil // nothing to wait for, and no wait to time
	}
	start := t.now()
	err = t.limiter.Wait(ctx)
	if err != nil && !errors.Is(err, ErrLocalRateLimit) && ctx.Err() == nil {
		t.failOpen(c.req, err)
		err = nil
	}
	started = t.now()
	if d := started.Sub(start); d >= time.Millisecond {
		queued = d
	}
	return started, queued, err
}

// request returns the request for this attempt: a copy of the caller's
// with the ID's header and context, and for a retry a new body.
func (c *call) request() (*http.Request, error) {
	out := c.req.WithContext(c.ctx)
	if c.header != nil {
		out.Header = c.header
	}
	if c.n > 1 && c.req.Body != nil && c.req.Body != http.NoBody {
		body, err := c.req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("GetBody for a retry: %w", err)
		}
		out.Body = body
	}
	return out, nil
}

// record starts the record of this attempt, sent as out.
func (c *call) record(out *http.Request, started time.Time, queued time.Duration) *record {
	r := new(record)
	r.init(out, c.id, started, c.n, c.t.logged)
	r.queued, r.callStart, r.ctx = queued, c.began, c.req.Context()
	r.history = c.history[:len(c.history):len(c.history)] // an append copies: the call's next attempts never write into it
	return r
}

// notSent records the attempt being made, which was not sent because of err.
func (c *call) notSent(err error, queued time.Duration) *record {
	r := c.record(c.req, c.t.now(), queued)
	r.notSent, r.err = true, err
	r.message = redact.Text(strings.TrimPrefix(err.Error(), "idctrace: "), r.secrets, false)
	if !strings.HasPrefix(r.message, "not sent: ") {
		r.message = "not sent: " + r.message // said once
	}
	if c.pending != nil && errors.Is(err, ErrLocalRateLimit) {
		r.retrySkipped = "deadline" // a retry with no slot in time: the call ends with the last attempt's outcome
	}
	r.finish()
	return r
}

// keep holds the failed attempt r, and its response, while the Transport
// waits to retry it.
func (c *call) keep(resp *http.Response, r *record) {
	c.kept, c.pending, c.held = resp, r, nil
	c.history = append(c.history, r.tried())
}

// sendingRetry is called when the retry of the kept attempt is about to be
// sent: it tells the observers the kept attempt's fate and closes its
// response.
func (c *call) sendingRetry() {
	c.observe(c.pending, false, nil)
	closeBody(c.kept)
	c.kept, c.pending = nil, nil
}

// closeBody closes resp's body, if any.
func closeBody(resp *http.Response) {
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
}

// end returns what the call returns after r, its last record: r's response
// or error, or, when a retry was not sent, the kept response or an error.
// Whatever the call holds and does not return, release closes.
func (c *call) end(r *record) (*http.Response, error) {
	last, observed := r, r
	if p := c.pending; r.notSent {
		observed = p  // nil when no attempt was sent
		if p != nil { // no retry followed after all
			p.retrying, p.retryIn, p.retrySkipped = false, 0, r.retrySkipped
			if r.retrySkipped == "deadline" {
				last, c.held, c.kept = p, c.kept, nil // the call ends as its last attempt did
			}
		}
	}
	if resp := c.held; resp != nil {
		c.observe(observed, true, nil)
		c.held = nil // the caller's from now on
		return resp, nil
	}
	err := last.failure()
	c.observe(observed, true, err)
	return nil, err
}

// failure returns the error of a call that ended with the record of a
// transport error or of an attempt not sent. A certificate error keeps the
// type net/http gives it, around the TransportError: retry policies assert
// on that type, and errors.As still reaches the TransportError.
func (r *record) failure() error {
	te := r.transportError()
	if cve, ok := errors.AsType[*tls.CertificateVerificationError](r.err); ok {
		return &tls.CertificateVerificationError{UnverifiedCertificates: cve.UnverifiedCertificates, Err: te}
	}
	return te
}

// explain adds to a base transport's error what the Transport knows of its
// cause. An HTTPS request answered in plain HTTP gets the error http.Client
// would give it: the client finds that case by a type assertion, which a
// TransportError defeats. An error that came when the request's context was
// done, or past its deadline, also wraps the context's error:
// http.Client's timer cancels a request as "request canceled", a moment
// before the deadline it enforces ends the context.
func explain(ctx context.Context, err error, now time.Time) error {
	if tlsErr, ok := err.(tls.RecordHeaderError); ok && string(tlsErr.RecordHeader[:]) == "HTTP/" {
		return fmt.Errorf("%w: %w", http.ErrSchemeMismatch, tlsErr)
	}
	ctxErr := ctx.Err()
	if deadline, ok := ctx.Deadline(); ok && !now.Before(deadline) {
		ctxErr = context.DeadlineExceeded
	}
	if ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("%w: %w", err, ctxErr)
	}
	return err
}
