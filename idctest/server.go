package idctest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/identitycall/idctrace/internal/api"
)

// BasePath is the path prefix of every API endpoint.
const BasePath = api.BasePath

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
	// http://ipaddr:port/api/v1/public, without a trailing slash. Start
	// sets it.
	URL string

	// Listener is where the server accepts connections: a new one on
	// 127.0.0.1 and a port the system chose. It may be changed after
	// NewUnstartedServer and before Start; Start closes the one it
	// replaces.
	Listener net.Listener

	ts          *httptest.Server
	started     bool
	mux         *http.ServeMux
	log         *zap.Logger
	limit       int
	window      time.Duration
	processing  time.Duration
	maxUpload   int64
	maxLossless int64
	now         func() time.Time

	// mu guards what follows. No response is written while it is held,
	// so that a slow client can hold up nothing but its own request.
	mu     sync.Mutex
	keys   map[string]*apiKey
	data   store
	faults []queuedFault
	reqs   requestLog
}

// NewServer starts and returns a new Server. The caller should call Close
// when finished, to shut it down.
func NewServer(opts ...Option) *Server {
	s := NewUnstartedServer(opts...)
	s.Start()
	return s
}

// NewUnstartedServer returns a new Server but doesn't start it. After
// changing its Listener, the caller should call Start. The caller should
// call Close when finished, to shut it down.
func NewUnstartedServer(opts ...Option) *Server {
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
	s.data.now, s.data.processing = s.now, s.processing
	s.mux = s.routes()
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Listener = s.ts.Listener
	return s
}

// Start starts a server from NewUnstartedServer, on its Listener, and sets
// its URL. It panics when the server was started already or its Listener
// is nil.
func (s *Server) Start() {
	if s.started {
		panic("idctest: Server already started")
	}
	if s.Listener == nil {
		panic("idctest: Start: nil Listener")
	}
	s.takeListener()
	s.started = true
	s.ts.Start()
	s.URL = s.ts.URL + BasePath
}

// takeListener makes the caller's Listener the one served, and closes the
// one it replaced, which would otherwise hold its port until the process
// ends.
func (s *Server) takeListener() {
	if s.Listener != s.ts.Listener {
		s.ts.Listener.Close()
		s.ts.Listener = s.Listener
	}
}

// Start starts a Server for the test t and closes it when t ends. When t
// fails, the server's request log (method, path, status and request ID of
// the most recent requests, keys masked; see [Server.Requests]) is written
// with t.Log, after a line that counts the others when there were more.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := NewServer(opts...)
	t.Cleanup(func() {
		s.Close()
		if t.Failed() {
			lines := s.Requests()
			if n := s.Counts().Answered; n > len(lines) {
				t.Logf("idctest: %d requests answered; the last %d:", n, len(lines))
			}
			for _, r := range lines {
				t.Log("idctest:", r)
			}
		}
	})
	return s
}

// Close shuts down the server and blocks until all outstanding requests on
// it have completed. On a server never started, it closes its Listener.
func (s *Server) Close() {
	if !s.started && s.Listener != nil {
		s.takeListener()
	}
	s.ts.Close()
}

// Client returns an HTTP client configured for requests to the server, nil
// until Start. It is not wrapped by idctrace and sends no key: tests do
// both, as their code under test would.
func (s *Server) Client() *http.Client { return s.ts.Client() }
