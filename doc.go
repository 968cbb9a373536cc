// Package idctrace is HTTP client middleware for the IdentityCall API: an
// [http.RoundTripper] that sends every request with a request ID and, when
// a call fails, logs what IdentityCall support asks for, with zap, without
// a secret and without changing the response.
//
// Wrap the client you have:
//
//	client := idctrace.WrapClient(httpClient, logger)
//
// # Every call
//
// A [Transport] sends each request with an X-Request-ID: the caller's, one
// from the context ([ContextWithRequestID]), or a new UUID. A call that
// succeeds costs a header copy and the ID: nothing is logged and no byte
// of its body is read.
//
// # A failed call
//
// A status of 400 or more, or an error from the transport below, gets one
// entry per attempt. Its body is replaced by one that yields the same bytes
// while it keeps a copy of the first 16 KiB ([WithMaxBodyBytes]), from which
// the entry's error text is decoded. RoundTrip returns at once, and the entry
// is written when the caller has read those bytes or the whole body, when
// it closes the body (Close first reads what is missing, waiting at most a
// second, [WithBodyReadTimeout]), when [CheckResponse] or [Transport.Flush]
// asks (each reads the body itself, waiting at most that second), or a
// second after RoundTrip returned, with whatever was read by then: a body
// nobody reads, closes or checks in time gets an entry without its text.
// For a 429, and for a status the retry policy retries, RoundTrip reads the
// prefix itself before it returns, waiting at most that second, since the
// retry depends on it.
//
// [CheckResponse] turns a failed response into an [*APIError], which
// [errors.Is] matches to [ErrNotFound], [ErrRateLimited] and the other
// statuses. Every error RoundTrip returns reaches a [*TransportError]. Both
// carry the request ID and write a support ticket; [RequestIDFromError]
// finds the ID in any error, even in the text [http.Client] keeps when its
// Timeout fires. http.Client wraps the error in a [*url.Error] that holds the
// URL as given: return or log the TransportError instead (errors.As), whose
// URL is redacted.
//
// # Log entries
//
// A failed attempt's entry has the message "identitycall request failed"
// and these fields, the empty ones left out:
//
//	request_id     the ID sent in X-Request-ID
//	method, url    the request; the URL redacted (see Secrets)
//	route          the documented endpoint, such as /recordings/{id} ([Route])
//	status         the HTTP status; absent for a transport error
//	duration       until the response headers (and the body's prefix when RoundTrip read it)
//	started_at     when the attempt was sent
//	attempt        1, or more with retries
//	queued         the wait for a rate-limit slot before it was sent
//	error          the body's "error", or the transport error
//	error_type     a transport error's class: timeout, canceled, name_resolution,
//	               connection_refused, connection_reset, tls, local_rate_limit or _OTHER
//	errors         the body's "errors" (422)
//	retry_after    the wait a 429 asked for (body, else Retry-After header)
//	body           the body's text, when it is not the documented JSON
//	retry_in       the wait before the retry that follows
//	retry_skipped  why a failure the policy retries was not: budget, deadline,
//	               max_delay, max_retries, not_idempotent or no_get_body
//	hint           what to check, when the cause is most likely local
//
// A call that ends without sending what it meant to (no rate-limit slot
// before its deadline, its context ended during a retry wait, GetBody
// failed) gets an entry whose error starts "not sent: ". Levels: Debug for
// the documented not-ready answer polling meets (a 422 from a recording's
// transcription, results or summary), Warn for other 4xx and for a call the
// limiter held back, Error for 5xx and other transport errors ([WithLevel]).
//
// During a storm, per kind of failure (method, route, and status or
// error_type), the first 10 entries a second are written and the others
// counted ([WithLogLimit]); when the second ends, one entry with the message
// "identitycall request failures summarized", at their level, stands for
// them: the kind's method, route, and status or error_type, then
// suppressed (the count), first_request_id, last_request_id, first_at and
// last_at. Entries plus the summaries' counts equal the failures.
//
// A [Limiter] that cannot decide (its store is unreachable) gets a warning
// at most once a minute: "identitycall rate limiter unavailable; pacing
// locally", with its error.
//
// # Secrets
//
// No header is logged, URL user info is dropped, query values are logged
// only for documented parameters ([WithLoggedQueryParams] adds more), any
// IdentityCall key (idc_..., in any escaping) is masked to at most its last
// four characters, and the request's own credentials are replaced wherever
// a server echoes them. The same redacted record feeds the entry, the
// errors, the tickets, the [Recorder] and the observers.
//
// # Retries and quotas
//
// [WithRetry] retries as the IdentityCall docs ask. A 429 is retried after
// its retry_after (a minute when it says nothing), never sooner than the
// backoff, and pauses every caller of the Transport until then. 500, 502,
// 503, 504 and dropped connections are retried with jittered backoff,
// within a retry budget ([RetryBudget]) that keeps an outage from
// multiplying the load, and only for requests that cannot do their work
// twice: reads, documented updates and deletes, an Idempotency-Key header,
// or [AllowRetry]. A 429 asking for less than the backoff (a gateway's
// retry_after of 0) is charged to the budget like a 503.
//
// Without a [Limiter] of its own, a Transport that retries only pauses after
// a 429: nothing it learns outlives the pause. [NewLimiter] paces requests
// under the plan's quota (60 a minute on Free, 300 on Pro), so that 429s do
// not happen; an attempt whose slot would come after its context's
// deadline is not sent ([ErrLocalRateLimit]). A call with a 30 s timeout
// that meets a 429 asking for 60 s returns the 429 at once, and the calls
// after it fail with ErrLocalRateLimit until the pause ends.
//
// Package idctest runs the whole documented API on loopback, for tests.
package idctrace
