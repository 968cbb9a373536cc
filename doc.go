// Package idctrace is HTTP client middleware for the IdentityCall API: an
// [http.RoundTripper] that tags every request with a request ID and, when a
// call fails, logs what IdentityCall support asks for, with zap, without a
// secret and without disturbing the response.
//
// Wrap the client you have:
//
//	client := idctrace.WrapClient(httpClient, logger)
//
// # Every call
//
// A [Transport] sends each request with an X-Request-ID: the caller's,
// one from the context ([ContextWithRequestID]), or a new UUID. A call that
// succeeds costs a header copy and the ID; nothing is logged and no body
// byte is read.
//
// # A failed call
//
// A status of 400 or more, or an error from the transport below, gets one
// zap entry: request ID, method, redacted URL, the documented endpoint
// ([Route]), status, duration, start time and the decoded IdentityCall
// error body, and a hint when the cause is most likely local (no key sent,
// a base URL without /api/v1/public, a refused connection...). The
// Transport reads at most a capped prefix of a failed body, waits for it at
// most [WithBodyReadTimeout], and hands back a body that yields the same
// bytes. [CheckResponse] turns a failed response into an [*APIError]; every
// error RoundTrip returns is a [*TransportError]. Both carry the request ID
// ([RequestIDFromError] finds it even in the text http.Client keeps after a
// timeout) and write a support ticket. A [Recorder] keeps recent failures
// for a ticket's attachment.
//
// # Secrets
//
// No header is logged, URL user info is dropped, query values are logged
// only for documented parameters ([WithLoggedQueryParams] adds more), any
// IdentityCall key (idc_..., in any escaping) is masked to at most its last
// four characters, and the request's own credentials are replaced wherever
// a server echoes them. The same redacted record feeds the entry, the
// errors, the tickets, the bundle and the observers.
//
// # Retries, levels and observers
//
// [WithRetry] retries as the IdentityCall docs ask: a 429 after its
// retry_after (a minute when it says nothing), 5xx and dropped connections
// with backoff, never a purchase without [AllowRetry]. [WithLevel] sets the
// entries' levels; the documented not-ready answers that polling meets log
// at Debug. [WithObserver] sees every attempt, successes included; the
// idcotel module turns attempts into OpenTelemetry metrics, and package
// idcslog sends the entries to a log/slog handler.
//
// Package idctest runs the whole documented API on loopback, with faults of
// every kind, for tests.
package idctrace
