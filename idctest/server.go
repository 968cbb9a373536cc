// Package idctest runs an in-memory IdentityCall API over real loopback
// HTTP, for tests and demos that need the documented behaviour without a
// live account, the way stripe-mock serves Stripe's.
//
// It follows net/http/httptest: [NewServer] starts a server on 127.0.0.1,
// [Server.URL] is its base URL (ending in /api/v1/public) and the caller
// closes it when done. In a test, [Start] does both in one line:
//
//	srv := idctest.Start(t, idctest.WithRateLimit(10, time.Minute))
//	key := srv.NewKey(idctest.Read, idctest.Write)
//
// Every documented endpoint is served: recordings (with their
// transcription, results and summary), projects, virtual numbers and
// operators. The server checks, in order: the path and method (404, 405),
// the API key (401), the rate limit (429), the key's permission for the
// endpoint (403), the key's scope and whether the resource exists in its
// account (403, 404), and then the request's parameters (400, 422). Every
// error body is the documented JSON. [Server.Inject] adds faults of every
// kind in front of all of it.
package idctest

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/identitycall/idctrace/internal/api"
)

// BasePath is the path prefix of every API endpoint.
const BasePath = api.BasePath

// DefaultAccount is the account of the keys that [Server.NewKey] makes.
const DefaultAccount = "default"

// A Permission is what an API key may do.
type Permission string

// The permissions of an API key. Each endpoint asks for the one its
// documentation names: reads need Read, most writes Write, and deleting a
// recording or a project Delete.
const (
	Read   Permission = "read"
	Write  Permission = "write"
	Delete Permission = "delete"
)

// Default upload limits, as documented: 100 MB for compressed audio, 500 MB
// for WAV and FLAC.
const (
	DefaultMaxUploadBytes         = 100 << 20
	DefaultMaxLosslessUploadBytes = 500 << 20
)

// Server is an IdentityCall API on a loopback address. Its methods are safe
// for concurrent use, also while it serves requests.
type Server struct {
	// URL is the base URL of the API, of the form
	// http://127.0.0.1:port/api/v1/public, without a trailing slash.
	URL string

	ts          *httptest.Server
	mux         *http.ServeMux
	log         *zap.Logger
	limit       int
	window      time.Duration
	retryAfter  time.Duration // > 0: what every 429 asks for
	maxUpload   int64
	maxLossless int64
	now         func() time.Time

	mu         sync.Mutex
	keys       map[string]*apiKey
	data       store
	faults     []queuedFault
	requestIDs []string

	// The request log has a lock of its own: handlers answer while they
	// hold mu.
	logMu    sync.Mutex
	requests []RequestLine
}

// apiKey is a key's account, scope and permissions, and its rate-limit
// window.
type apiKey struct {
	account string
	project int // 0 for an account-wide key
	perms   map[Permission]bool
	revoked bool
	expired bool

	windowStart time.Time
	used        int
}

// NewServer starts and returns a new Server. The caller should call Close
// when finished, to shut it down.
func NewServer(opts ...Option) *Server {
	s := &Server{
		log:         zap.NewNop(),
		now:         time.Now,
		maxUpload:   DefaultMaxUploadBytes,
		maxLossless: DefaultMaxLosslessUploadBytes,
		keys:        make(map[string]*apiKey),
		data:        newStore(),
	}
	for _, opt := range opts {
		opt.apply(s)
	}
	s.mux = s.routes()
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.ts.URL + BasePath
	return s
}

// Start starts a Server for the test t and closes it when t ends. When t
// fails, the server's request log (method, path, status and request ID of
// every request, keys masked) is written with t.Log.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := NewServer(opts...)
	t.Cleanup(func() {
		s.Close()
		if t.Failed() {
			for _, r := range s.Requests() {
				t.Log("idctest:", r)
			}
		}
	})
	return s
}

// Close shuts down the server and blocks until all outstanding requests on
// it have completed.
func (s *Server) Close() { s.ts.Close() }

// Client returns an HTTP client configured for requests to the server. It
// is not wrapped by idctrace and sends no key: tests do both, as their code
// under test would.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// NewKey returns a new account-wide key of [DefaultAccount] with perms:
// "idc_" followed by 32 letters and digits.
func (s *Server) NewKey(perms ...Permission) string {
	return s.NewAccountKey(DefaultAccount, perms...)
}

// NewAccountKey returns a new account-wide key of the named account with
// perms. Keys of different accounts see different resources.
func (s *Server) NewAccountKey(account string, perms ...Permission) string {
	return s.addKey(&apiKey{account: account}, perms)
}

// NewProjectKey returns a new key scoped to the project with projectID (its
// numeric ID, as the API returns it), in the project's account, with perms.
// Such a key sees only that project and what belongs to it: other
// projects' resources are 404, a project_id not its own is 403, and
// creating or deleting a project is 403. It panics when projectID is not a
// positive integer.
func (s *Server) NewProjectKey(projectID string, perms ...Permission) string {
	id, err := strconv.Atoi(projectID)
	if err != nil || id <= 0 {
		panic(fmt.Sprintf("idctest: NewProjectKey: project ID %q is not a positive integer", projectID))
	}
	s.mu.Lock()
	account := DefaultAccount
	if p, ok := s.data.projects[id]; ok {
		account = p.account
	}
	s.mu.Unlock()
	return s.addKey(&apiKey{account: account, project: id}, perms)
}

func (s *Server) addKey(k *apiKey, perms []Permission) string {
	k.perms = make(map[Permission]bool, len(perms))
	for _, p := range perms {
		k.perms[p] = true
	}
	key := "idc_" + randomAlphanumerics(32)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[key] = k
	return key
}

const alphanumerics = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomAlphanumerics(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphanumerics[int(b[i])%len(alphanumerics)] // a slight bias is fine for a simulator
	}
	return string(b)
}

// RevokeKey makes key fail with 401 from now on.
func (s *Server) RevokeKey(key string) { s.setKey(key, func(k *apiKey) { k.revoked = true }) }

// ExpireKey makes key fail with 401 from now on, as an expired key does.
func (s *Server) ExpireKey(key string) { s.setKey(key, func(k *apiKey) { k.expired = true }) }

func (s *Server) setKey(key string, f func(*apiKey)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.keys[key]; ok {
		f(k)
	}
}

// RequestIDs returns the X-Request-ID header of every request received, in
// order; "" for a request without one.
func (s *Server) RequestIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requestIDs...)
}

// RequestLine is one request the server answered, as its log has it.
type RequestLine struct {
	Method    string
	Path      string // keys masked
	Status    int    // 0 for a dropped connection
	RequestID string
}

func (r RequestLine) String() string {
	return fmt.Sprintf("%s %s -> %d (request_id %q)", r.Method, r.Path, r.Status, r.RequestID)
}

// Requests returns the request log: every request answered, in order.
func (s *Server) Requests() []RequestLine {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return append([]RequestLine(nil), s.requests...)
}
