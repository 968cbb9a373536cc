// Package idctest runs an in-memory IdentityCall API over real loopback
// HTTP, for tests and demos that need the documented behaviour without a
// live account.
//
// It follows net/http/httptest: [NewServer] starts a server on 127.0.0.1,
// [Server.URL] is its base URL (ending in /api/v1/public) and the caller
// closes it when done:
//
//	srv := idctest.NewServer(idctest.WithRateLimit(10, time.Minute))
//	defer srv.Close()
//	key := srv.NewKey(idctest.Read, idctest.Write)
//
// The server checks, in order: the API key (401), the rate limit (429), the
// key's permission for the method (403), whether the resource exists in the
// key's account (404), and then the request's parameters (400, 422). Every
// error body is the documented JSON.
package idctest

import (
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"go.uber.org/zap"
)

// BasePath is the path prefix of every API endpoint.
const BasePath = "/api/v1/public"

// DefaultAccount is the account of the keys that [Server.NewKey] makes.
const DefaultAccount = "default"

// A Permission is what an API key may do.
type Permission string

// The permissions of an API key: GET needs Read, POST and PATCH need Write,
// DELETE needs Delete.
const (
	Read   Permission = "read"
	Write  Permission = "write"
	Delete Permission = "delete"
)

// An Option configures a [Server].
type Option interface {
	apply(*Server)
}

type optionFunc func(*Server)

func (f optionFunc) apply(s *Server) { f(s) }

// WithRateLimit allows each key n requests per window of length per; the
// next request in the window gets 429 with retry_after and a Retry-After
// header, in whole seconds until the window ends. The default is no limit;
// n or per of zero or less keeps it.
func WithRateLimit(n int, per time.Duration) Option {
	return optionFunc(func(s *Server) {
		if n > 0 && per > 0 {
			s.limit, s.window = n, per
		}
	})
}

// WithClock makes the server read the time from now instead of
// [time.Now]: rate-limit windows and created_at times follow it, so a test
// can move past a window without sleeping. now must be safe for concurrent
// use; nil keeps the default.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(s *Server) {
		if now != nil {
			s.now = now
		}
	})
}

// WithLogger makes the server log one Info entry per request, with its
// request ID, method, path, status and account: the server side of the
// correlation a support engineer makes. nil, the default, logs nothing.
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(s *Server) {
		if l != nil {
			s.log = l
		}
	})
}

// Server is an IdentityCall API on a loopback address. Its methods are safe
// for concurrent use, also while it serves requests.
type Server struct {
	// URL is the base URL of the API, of the form
	// http://127.0.0.1:port/api/v1/public, without a trailing slash.
	URL string

	ts     *httptest.Server
	log    *zap.Logger
	limit  int
	window time.Duration
	now    func() time.Time

	mu         sync.Mutex
	keys       map[string]*apiKey
	recordings map[string]*recording // by public ID
	order      []string              // public IDs, oldest first
	failNext   int
	requestIDs []string
}

type apiKey struct {
	account string
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
		log:        zap.NewNop(),
		now:        time.Now,
		keys:       make(map[string]*apiKey),
		recordings: make(map[string]*recording),
	}
	for _, opt := range opts {
		opt.apply(s)
	}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.ts.URL + BasePath
	return s
}

// Close shuts down the server and blocks until all outstanding requests on
// it have completed.
func (s *Server) Close() { s.ts.Close() }

// Client returns an HTTP client configured for requests to the server. It
// is not wrapped by idctrace and sends no key: tests do both, as their code
// under test would.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// NewKey returns a new key of [DefaultAccount] with perms: "idc_" followed
// by 32 letters and digits.
func (s *Server) NewKey(perms ...Permission) string {
	return s.NewAccountKey(DefaultAccount, perms...)
}

// NewAccountKey returns a new key of the named account with perms. Keys of
// different accounts see different recordings.
func (s *Server) NewAccountKey(account string, perms ...Permission) string {
	k := &apiKey{account: account, perms: make(map[Permission]bool, len(perms))}
	for _, p := range perms {
		k.perms[p] = true
	}
	key := newKey()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[key] = k
	return key
}

const alphanumerics = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func newKey() string {
	var b [32]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = alphanumerics[int(b[i])%len(alphanumerics)] // a slight bias is fine for a simulator
	}
	return "idc_" + string(b[:])
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

// FailNext makes the next n requests fail with 500, before any other check.
func (s *Server) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = max(n, 0)
}

// RequestIDs returns the X-Request-ID header of every request received, in
// order; "" for a request without one.
func (s *Server) RequestIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requestIDs...)
}
