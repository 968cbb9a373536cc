package idcredis

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/identitycall/idctrace"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// redisServer is a redis-server the test started on a free loopback port,
// with no persistence.
type redisServer struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// startRedis starts redis-server for t and stops it when t ends. Without
// the program it skips t, unless IDCTRACE_CI=1, where it fails.
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("IDCTRACE_CI") == "1" {
			t.Fatal("redis-server is not installed, and IDCTRACE_CI=1 requires it")
		}
		t.Skip("redis-server is not installed (apt-get install redis-server)")
	}
	for range 5 { // a port found free can be taken before the server binds it
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		s := &redisServer{
			addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			cmd:  exec.Command(path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
			done: make(chan struct{}),
		}
		require.NoError(t, s.cmd.Start())
		go func() {
			s.cmd.Wait()
			close(s.done)
		}()
		t.Cleanup(s.stop)
		if s.ready() {
			return s
		}
		s.stop()
	}
	t.Fatal("redis-server did not start")
	return nil
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
