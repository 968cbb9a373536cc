// Package idctest runs an in-memory IdentityCall API over real loopback
// HTTP, for tests and demos that need the documented behaviour without a
// live account, the way stripe-mock serves Stripe's.
//
// It follows net/http/httptest: [NewServer] starts a server on 127.0.0.1,
// [Server.URL] is its base URL (ending in /api/v1/public) and the caller
// closes it when done; [NewUnstartedServer] lets the caller choose the
// [Server.Listener] before [Server.Start]. In a test, [Start] does it all
// in one line:
//
//	srv := idctest.Start(t, idctest.WithRateLimit(5, 100*time.Millisecond))
//	key := srv.NewKey(idctest.Read, idctest.Write)
//	srv.Inject(1, idctest.Fault{Status: 503, Route: "GET /recordings"})
//
// Every documented endpoint is served: recordings (with their
// transcription, results and summary), projects, virtual numbers and
// operators, with the documented bodies, exported as [Recording],
// [Project], [VirtualNumber] and [Operator].
//
// # Order of checks
//
// A request that fails several checks gets the answer of the first one
// that fails, in this order:
//
//  1. An injected [Fault] that the request matches, before anything else,
//     as a load balancer's 503 or a dropped connection would be.
//  2. The path (404) and then the method (405, with Allow).
//  3. The API key: missing, malformed, unknown, revoked or expired (401).
//  4. The key's rate limit (429): only requests with a valid key count.
//  5. The key's permission for the endpoint (403).
//  6. A project-scoped key creating or deleting a project (403).
//  7. The resource the path names, in the key's account and scope (404).
//  8. The request's body and parameters: malformed (400), then invalid
//     (422), and last the project_id it names, if any: 403 when a
//     project-scoped key may not use it, 422 when it does not exist in the
//     key's account.
//
// Every error body is the documented JSON.
package idctest
