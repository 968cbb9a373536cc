package idcredis

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/identitycall/idctrace"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestMain starts a redis-server for the examples, which take its address
// from REDIS_ADDR as a service would, and checks for leaked goroutines once
// the server has stopped. Without the program the examples are skipped,
// unless IDCTRACE_CI=1, where they fail.
func TestMain(m *testing.M) {
	flag.Parse()
	stop := func() {}
	switch s, err := launchRedis(); {
	case err == nil:
		os.Setenv("REDIS_ADDR", s.addr)
		stop = s.stop
	case errors.Is(err, errNoRedis) && os.Getenv("IDCTRACE_CI") != "1":
		fmt.Fprintf(os.Stderr, "idcredis: skipping the examples: %v\n", err)
		skip := "^Example"
		if s := flag.Lookup("test.skip").Value.String(); s != "" {
			skip = s + "|" + skip
		}
		flag.Set("test.skip", skip)
	default:
		fmt.Fprintf(os.Stderr, "idcredis: the examples need redis-server, and IDCTRACE_CI=1 requires it: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	stop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// redisServer is a redis-server the test started on a free loopback port,
// with no persistence.
type redisServer struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// errNoRedis says why a test that needs redis-server cannot run.
var errNoRedis = errors.New("redis-server is not installed (apt-get install redis-server)")

// startRedis starts redis-server for t and stops it when t ends. Without
// the program it skips t, unless IDCTRACE_CI=1, where it fails.
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	s, err := launchRedis()
	if errors.Is(err, errNoRedis) {
		if os.Getenv("IDCTRACE_CI") == "1" {
			t.Fatal("redis-server is not installed, and IDCTRACE_CI=1 requires it")
		}
		t.Skip(err)
	}
	require.NoError(t, err)
	t.Cleanup(s.stop)
	return s
}

// launchRedis starts redis-server, or returns errNoRedis without the
// program; the caller stops it.
func launchRedis() (*redisServer, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errNoRedis
	}
	for range 5 { // a port found free can be taken before the server binds it
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		s := &redisServer{
			addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			cmd:  exec.Command(path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
			done: make(chan struct{}),
		}
		if err := s.cmd.Start(); err != nil {
			return nil, err
		}
		go func() {
			s.cmd.Wait()
			close(s.done)
		}()
		if s.ready() {
			return s, nil
		}
		s.stop()
	}
	return nil, errors.New("redis-server did not start")
}

// ready reports whether the server answers PING within 5 s, or false once
// it has exited.
func (s *redisServer) ready() bool {
	rdb := redis.NewClient(&redis.Options{Addr: s.addr, MaxRetries: -1})
	defer rdb.Close()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		select {
		case <-s.done:
			return false
		case <-time.After(10 * time.Millisecond):
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return true
		}
	}
	return false
}

// stop kills the server and waits for it; stopping twice is harmless.
func (s *redisServer) stop() {
	s.cmd.Process.Kill()
	<-s.done
}

// silentStore returns the address of a listener that accepts connections
// and never answers, as a store that hangs: it reads and drops what it is
// sent, and closes everything when t ends.
func silentStore(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu       sync.Mutex
		conns    []net.Conn
		readers  sync.WaitGroup
		accepted = make(chan struct{}) // closed when the listener has stopped
	)
	go func() {
		defer close(accepted)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			readers.Go(func() { io.Copy(io.Discard, c) })
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-accepted
		for _, c := range conns {
			c.Close()
		}
		readers.Wait()
	})
	return l.Addr().String()
}

// client returns a client of s, closed when t ends: each stands for a
// process of the fleet.
func (s *redisServer) client(t *testing.T) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: s.addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// patient lets l wait 10 s for Redis, for tests that are not about a
// failing store: a loaded machine must not fail them with the second a
// real limiter allows.
func patient(l idctrace.Limiter) *limiter {
	rl := l.(*limiter)
	rl.timeout = 10 * time.Second
	return rl
}
