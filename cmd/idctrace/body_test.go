package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// received is what a sink server got of one request.
type received struct {
	contentLength int64 // -1: chunked
	n             int64 // bytes read
	complete      bool  // the body ended as its length said
	tail          string
}

// sink is a loopback server that reads every body whole, without keeping
// it, and answers with statuses in turn (201 once they run out).
type sink struct {
	*httptest.Server
	mu       sync.Mutex
	got      []received
	statuses []int
	// pause, when set, is called once the handler has read pauseAt bytes
	// of the first request, and the handler goes on when it returns.
	pauseAt int64
	pause   func()
}

func newSink(t *testing.T, statuses ...int) *sink {
	s := &sink{statuses: statuses}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	first := len(s.got) == 0
	s.mu.Unlock()
	var tail tailWriter
	var n int64
	var err error
	if first && s.pause != nil {
		n, err = io.CopyN(&tail, r.Body, s.pauseAt)
		if err == nil {
			s.pause()
		}
	}
	if err == nil {
		var m int64
		m, err = io.Copy(&tail, r.Body)
		n += m
	}
	s.mu.Lock()
	s.got = append(s.got, received{contentLength: r.ContentLength, n: n, complete: err == nil, tail: string(tail)})
	status := http.StatusCreated
	if len(s.statuses) > 0 {
		status, s.statuses = s.statuses[0], s.statuses[1:]
	}
	s.mu.Unlock()
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"received":%d}`, n)
}

func (s *sink) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

// tailWriter keeps the last 64 bytes written to it.
type tailWriter []byte

func (w *tailWriter) Write(p []byte) (int, error) {
	*w = append(*w, p[max(0, len(p)-64):]...)
	*w = (*w)[max(0, len(*w)-64):]
	return len(p), nil
}

func sinkEnv(s *sink) map[string]string {
	return map[string]string{"IDENTITYCALL_API_KEY": "idc_" + strings.Repeat("s", 32), "IDENTITYCALL_BASE_URL": s.URL}
}

// sparseFile creates a file of size bytes that takes no room on disk.
func sparseFile(t *testing.T, size int64) string {
	path := filepath.Join(t.TempDir(), "call.wav")
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(size))
	require.NoError(t, f.Close())
	return path
}

func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// TestLargeBodiesStream sends 64 MB from a sparse file, as BODY @FILE and
// as a form's file, and from standard input: the whole process
// (client and loopback server) allocates less than half of the smallest, so
// that no body was held in memory. Not parallel, so that no other test's
// allocations count.
func TestLargeBodiesStream(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 192 MB over loopback")
	}
	const size = 64 << 20
	const budget = 32 << 20 // what the process may allocate for one call
	path := sparseFile(t, size)
	tests := []struct {
		name    string
		stdin   io.Reader
		size    int64
		args    []string
		chunked bool
		tail    string // how the body ends
	}{
		{"BODY @FILE", nil, size, []string{"PUT", "/recordings/rec_1", "@" + path}, false, "\x00\x00\x00\x00"},
		{"-F file=@FILE", nil, size, []string{"-F", "file=@" + path, "-F", "language=en", "POST", "/recordings"}, false, "--\r\n"},
		{"BODY -", io.LimitReader(zeroReader{}, size), size, []string{"PUT", "/recordings/rec_1", "-"}, true, "\x00\x00\x00\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSink(t)
			runtime.GC()
			before, start := totalAlloc(), time.Now()
			code, out, stderr := runSys(t, &system{stdin: tt.stdin}, sinkEnv(srv), tt.args...)
			allocated, took := totalAlloc()-before, time.Since(start)
			require.Equal(t, 0, code, stderr)
			require.Len(t, srv.received(), 1)
			got := srv.received()[0]
			assert.True(t, got.complete)
			assert.True(t, strings.HasSuffix(got.tail, tt.tail), "%q", got.tail)
			assert.GreaterOrEqual(t, got.n, tt.size)
			assert.Equal(t, fmt.Sprintf(`{"received":%d}`, got.n), out)
			if tt.chunked {
				assert.Equal(t, int64(-1), got.contentLength)
			} else {
				assert.Equal(t, got.n, got.contentLength)
			}
			t.Logf("%d MB sent in %v; the process allocated %.1f MB", got.n>>20, took.Round(time.Millisecond), float64(allocated)/(1<<20))
			assert.Less(t, allocated, uint64(budget), "the body was streamed, not held in memory")
		})
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestStdinBody: standard input that ends within stdinBuffer has a length
// and is sent again after a 503; a longer one streams and is sent once.
func TestStdinBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		size     int
		code     int
		requests int
		length   int64
	}{
		{"short: replayed", 100, 0, 2, 100},
		{"exactly the buffer: replayed", stdinBuffer, 0, 2, stdinBuffer},
		{"longer: sent once", stdinBuffer + 1, 1, 1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newSink(t, http.StatusServiceUnavailable)
			stdin := bytes.Repeat([]byte("x"), tt.size)
			code, _, stderr := runSys(t, &system{stdin: bytes.NewReader(stdin)}, sinkEnv(srv), "-retries", "1", "PUT", "/recordings/rec_1", "-")
			assert.Equal(t, tt.code, code, stderr)
			got := srv.received()
			require.Len(t, got, tt.requests)
			for _, r := range got {
				assert.Equal(t, int64(tt.size), r.n)
				assert.Equal(t, tt.length, r.contentLength)
			}
			if tt.requests == 1 {
				assert.Contains(t, stderr, `"retry_skipped": "no_get_body"`, "the log says why it was not retried")
			}
		})
	}
}

func TestNotARegularFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := map[string]string{"IDENTITYCALL_API_KEY": "idc_" + strings.Repeat("a", 32)}
	for _, args := range [][]string{
		{"POST", "/projects", "@" + dir},
		{"-F", "file=@" + dir, "POST", "/recordings"},
	} {
		code, out, stderr := runCLI(t, key, "", args...)
		assert.Equal(t, 2, code)
		assert.Empty(t, out)
		assert.Contains(t, stderr, dir+" is a directory, not a regular file")
	}
	code, _, stderr := runCLI(t, key, "", "-F", "file=@-", "POST", "/recordings")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "a form cannot read standard input")
}

// TestFileChangedWhileSent: a file that grows, shrinks or is rewritten
// while it is sent fails the call with a message saying so, and the server
// never gets a complete body.
func TestFileChangedWhileSent(t *testing.T) {
	t.Parallel()
	// Larger than what loopback's socket buffers hold, so that the change
	// comes before the client reads the end.
	const size = 64 << 20
	tests := []struct {
		name   string
		change func(path string) error
		want   string
	}{
		{"grows", func(path string) error {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteString("more")
			return err
		}, fmt.Sprintf("its size went from %d to %d bytes", size, size+4)},
		{"shrinks", func(path string) error { return os.Truncate(path, size/2) },
			fmt.Sprintf("its size went from %d to %d bytes", size, size/2)},
		{"is rewritten", func(path string) error {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte("new"), size-3); err != nil {
				return err
			}
			later := time.Now().Add(time.Hour) // a modification time that differs, however coarse the file system's
			return os.Chtimes(path, later, later)
		}, "(it was modified"},
	}
	for _, tt := range tests {
		for _, form := range []bool{false, true} {
			t.Run(fmt.Sprint(tt.name, " form=", form), func(t *testing.T) {
				t.Parallel()
				path := sparseFile(t, size)
				srv := newSink(t)
				srv.pauseAt = 1 << 20
				srv.pause = func() { require.NoError(t, tt.change(path)) }
				args := []string{"PUT", "/recordings/rec_1", "@" + path}
				if form {
					args = []string{"-F", "file=@" + path, "POST", "/recordings"}
				}
				code, out, stderr := runSys(t, &system{}, sinkEnv(srv), args...)
				assert.Equal(t, 1, code)
				assert.Empty(t, out)
				assert.Contains(t, stderr, "idctrace: ")
				assert.Contains(t, stderr, path+" changed while it was sent ")
				assert.Contains(t, stderr, tt.want)
				assert.Contains(t, stderr, "the request was cut short, so the server got no complete body")
				assert.NotContains(t, stderr, "support request", "a local problem gets no ticket")
				for _, r := range srv.received() {
					assert.False(t, r.complete, "the server got no complete body: %+v", r)
				}
			})
		}
	}
}
