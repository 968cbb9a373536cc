package idctrace

// Failure bodies of every size: a Content-Length that lies, a body far past
// the cap, the heap while 64 MiB stream through.

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// TestFaultHugeContentLength: no Content-Length, however large or odd,
// changes how much the Transport reads or lets it panic.
func TestFaultHugeContentLength(t *testing.T) {
	t.Parallel()
	const body = `{"error":"Resource not found"}`
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "9223372036854775807")
				w.WriteHeader(404)
				io.WriteString(w, body)
				http.NewResponseController(w).Flush()
				panic(http.ErrAbortHandler) // the rest never comes
			}))
			log, logs := observed()
			resp, err := WrapClient(srv.Client(), log).Get(srv.URL)
			require.NoError(t, err)
			assert.EqualValues(t, math.MaxInt64, resp.ContentLength)
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, body, string(got))
			assert.Error(t, err, "the body broke off")
			assert.Equal(t, 1, logs.Len())
			assert.ErrorIs(t, CheckResponse(resp), ErrNotFound)
		})
	}
	for _, length := range []int64{math.MaxInt64, math.MaxInt64 - 1, -1, -5, 0, 3} {
		t.Run(fmt.Sprint("stub/", length), func(t *testing.T) {
			t.Parallel()
			base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
				return &http.Response{StatusCode: 404, Header: http.Header{}, ContentLength: length,
					Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
			})
			resp, err := New(base, nil).RoundTrip(httptest.NewRequest("GET", "http://h/", nil))
			require.NoError(t, err)
			assert.Equal(t, body, readAll(t, resp))
			assert.ErrorIs(t, CheckResponse(resp), ErrNotFound)

			// A response that never went through a Transport.
			resp = &http.Response{StatusCode: 404, ContentLength: length, Body: io.NopCloser(strings.NewReader(body))}
			assert.ErrorIs(t, CheckResponse(resp), ErrNotFound)
			assert.Equal(t, body, readAll(t, resp))
		})
	}
}

func TestTransportBoundsBodyMemory(t *testing.T) {
	t.Parallel()
	const size = 8 << 20
	body := &countingBody{r: io.LimitReader(zeros{}, size)}
	tr := New(stubRT{status: 500, body: func() io.ReadCloser { return body }}, zap.NewNop(), WithMaxBodyBytes(1024))
	req, err := http.NewRequest("GET", "http://example.invalid/", nil)
	require.NoError(t, err)

	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	assert.LessOrEqual(t, body.n, int64(1024), "the Transport reads no more than the cap")

	n, err := io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	assert.Equal(t, int64(size), n, "the caller still reads every byte")
	require.NoError(t, resp.Body.Close())
	assert.True(t, body.closed, "Close closes the original body")
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// patternReader yields size bytes of a fixed pseudo-random pattern.
type patternReader struct {
	left  int64
	block []byte
	off   int
}

func newPatternReader(size int64) *patternReader {
	block := make([]byte, 64<<10)
	x := uint32(2463534242)
	for i := range block {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		block[i] = byte(x)
	}
	return &patternReader{left: size, block: block}
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(int64(len(p)), r.left)], r.block[r.off:])
	r.off = (r.off + n) % len(r.block)
	r.left -= int64(n)
	return n, nil
}

func TestFaultLargeFailureBody(t *testing.T) {
	// Not parallel: the heap is measured, and Go runs serial tests while
	// the parallel ones wait.
	const size = 64 << 20 // 4,096 times the cap: a leak of the body would show
	serverSum := make(chan []byte, 1)
	srv := newServer(t, "HTTP/1.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		w.WriteHeader(500)
		h := sha256.New()
		io.Copy(io.MultiWriter(w, h), newPatternReader(size))
		serverSum <- h.Sum(nil)
	}))
	resp, err := WrapClient(srv.Client(), zap.NewNop()).Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()

	var base runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)
	h := sha256.New()
	buf := make([]byte, 256<<10)
	var peak uint64
	var read int64
	for {
		n, err := resp.Body.Read(buf)
		h.Write(buf[:n])
		read += int64(n)
		if read%(4<<20) < int64(n) { // every 4 MiB
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
		}
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
	require.EqualValues(t, size, read)
	assert.Equal(t, <-serverSum, h.Sum(nil), "the caller's SHA-256 matches the server's")
	grown := int64(peak) - int64(base.HeapInuse)
	t.Logf("heap in use grew by %d KiB while 64 MiB streamed through", grown>>10)
	assert.Less(t, grown, int64(8<<20), "the heap grew by %d bytes while 64 MiB streamed through", grown)
}
