package idctrace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"testing/synctest"
	"time"

	"github.com/identitycall/idctrace/internal/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const notFoundBody = `{"error":"Resource not found"}`

const recordingURL = "https://api.identitycall.ai/api/v1/public/recordings/7"

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	return req
}

// stalledBody answers with head, then stalls until it is closed: a server
// that sent its headers and the start of a body, then stopped.
func stalledBody(head string) func() io.ReadCloser {
	return func() io.ReadCloser { return newCloseOnceBody(head) }
}

// closeOnceBody yields head, then blocks until closed, as a server that
// stopped sending; like an *os.File or a net.Conn, a second Close is an
// error (io.Closer: "The behavior of Close after the first call is
// undefined").
type closeOnceBody struct {
	head   string
	closed chan struct{}

	mu     sync.Mutex
	off    int
	closes int
}

func newCloseOnceBody(head string) *closeOnceBody {
	return &closeOnceBody{head: head, closed: make(chan struct{})}
}

func (b *closeOnceBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.off < len(b.head) {
		n := copy(p, b.head[b.off:])
		b.off += n
		b.mu.Unlock()
		return n, nil
	}
	b.mu.Unlock()
	<-b.closed
	return 0, errors.New("read on closed body")
}

func (b *closeOnceBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closes++
	if b.closes > 1 {
		return errors.New("close of a closed body")
	}
	close(b.closed)
	return nil
}

func (b *closeOnceBody) closeCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closes
}

// prefixOf returns what b holds of the prefix, and whether it may be cut.
func prefixOf(b *failureBody) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.prefix), b.err != io.EOF
}

func TestFailureBodyYieldsTheSameBytes(t *testing.T) {
	t.Parallel()
	payload := strings.Repeat("0123456789", 1000) // 10,000 bytes
	tests := []struct {
		name   string
		limit  int64
		reader func(io.Reader) io.Reader
	}{
		{"all in prefix", 16 << 10, nil},
		{"prefix then rest", 100, nil},
		{"exact limit", 10000, nil},
		{"limit past one chunk", 9000, nil},
		{"one byte reads", 700, iotest.OneByteReader},
		{"half reads", 1000, iotest.HalfReader},
		{"data with EOF", 100, iotest.DataErrReader},
	}
	for _, tt := range tests {
		for _, ahead := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/read ahead %v", tt.name, ahead), func(t *testing.T) {
				t.Parallel()
				var r io.Reader = strings.NewReader(payload)
				if tt.reader != nil {
					r = tt.reader(r)
				}
				b := newFailureBody(io.NopCloser(r), new(record), tt.limit, time.Minute)
				if ahead {
					b.settle(context.Background())
				}
				got, err := io.ReadAll(b)
				require.NoError(t, err)
				assert.Equal(t, payload, string(got))
				prefix, cut := prefixOf(b)
				assert.Equal(t, payload[:min(tt.limit, int64(len(payload)))], prefix, "the prefix is all there is, up to the limit")
				if ahead {
					assert.Equal(t, tt.limit <= int64(len(payload)), cut, "a prefix that filled the limit may not be all")
				}
			})
		}
	}
}

func TestFailureBodyReportsReadErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset by peer")
	for _, limit := range []int64{1024, 3} { // the error inside the prefix, and after it
		for _, ahead := range []bool{false, true} {
			r := io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(boom))
			b := newFailureBody(io.NopCloser(r), new(record), limit, time.Minute)
			if ahead {
				b.settle(context.Background())
				_, cut := prefixOf(b)
				assert.True(t, cut)
			}
			got, err := io.ReadAll(b)
			assert.Equal(t, "partial", string(got))
			assert.ErrorIs(t, err, boom, "never a silent short read (limit %d, ahead %v)", limit, ahead)
		}
	}
}

// TestFailureBodyCloseEndsAWaitingRead: a Read waiting for the bytes a read
// ahead has not got returns an error once the body is closed.
func TestFailureBodyCloseEndsAWaitingRead(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := newFailureBody(newCloseOnceBody(""), new(record), 1024, time.Millisecond)
		b.want() // the read ahead stalls
		errs := make(chan error)
		go func() {
			_, err := b.Read(make([]byte, 8))
			errs <- err
		}()
		synctest.Wait()
		require.NoError(t, b.Close())
		assert.ErrorIs(t, <-errs, errReadAfterClose)
	})
}

type rwc struct {
	io.Reader
	written bytes.Buffer
}

func (c *rwc) Write(p []byte) (int, error) { return c.written.Write(p) }
func (c *rwc) Close() error                { return nil }

// TestFailureBodyKeepsWriter: a writable body stays writable.
func TestFailureBodyKeepsWriter(t *testing.T) {
	t.Parallel()
	orig := &rwc{Reader: strings.NewReader(notFoundBody)}
	tr := New(stubRT{status: 400, body: func() io.ReadCloser { return orig }}, nil)
	resp, err := tr.RoundTrip(mustRequest(t, "GET", "http://h/x"))
	require.NoError(t, err)
	w, ok := resp.Body.(io.ReadWriteCloser)
	require.True(t, ok, "a writable body stays writable")
	_, err = w.Write([]byte("ping"))
	require.NoError(t, err)
	assert.Equal(t, "ping", orig.written.String())
	assert.Equal(t, notFoundBody, readAll(t, resp))
}

// TestFailureBodyReadAfterClose: once closed, a body returns an error, even
// with prefix bytes still unread, as net/http's bodies do.
func TestFailureBodyReadAfterClose(t *testing.T) {
	t.Parallel()
	b := newFailureBody(io.NopCloser(strings.NewReader(`{"error":"x"}`)), new(record), 1024, time.Minute)
	b.settle(context.Background())
	p := make([]byte, 4)
	n, err := b.Read(p)
	require.NoError(t, err)
	assert.Equal(t, `{"er`, string(p[:n]))
	require.NoError(t, b.Close())
	n, err = b.Read(p)
	assert.Zero(t, n)
	assert.ErrorIs(t, err, errReadAfterClose)
}

// TestFailureBodyEndsTheRecord: a failure that needs nothing from its body
// is returned at once, and its record ends (decoded, logged) by the first
// of: a read that completes the prefix, Close, CheckResponse, Flush, or the
// body-read bound, which writes what has been read. What the caller reads
// is the body, byte for byte. The bubble's clock jumps: no test waits.
func TestFailureBodyEndsTheRecord(t *testing.T) {
	t.Parallel()
	const wait = time.Second
	tests := []struct {
		name    string
		body    func() io.ReadCloser
		opts    []Option
		use     func(t *testing.T, tr *Transport, resp *http.Response) string // what the caller does; returns what it read
		message string                                                        // the entry's error; "" when it has none
		bodyF   string                                                        // the entry's body field
		reads   string                                                        // what the caller reads in all
	}{
		{name: "read to the end", body: stringBody(notFoundBody),
			use:     func(t *testing.T, _ *Transport, resp *http.Response) string { return readAll(t, resp) },
			message: "Resource not found", reads: notFoundBody},
		{name: "read past the cap", body: stringBody("0123456789abcdef"), opts: []Option{WithMaxBodyBytes(8)},
			use: func(t *testing.T, _ *Transport, resp *http.Response) string {
				b := make([]byte, 10)
				_, err := io.ReadFull(resp.Body, b)
				require.NoError(t, err)
				return string(b) // the entry is written before the rest is read
			},
			bodyF: "01234567", reads: "0123456789"},
		{name: "closed unread", body: stringBody(notFoundBody),
			use:     func(t *testing.T, _ *Transport, resp *http.Response) string { resp.Body.Close(); return "" },
			message: "Resource not found"},
		{name: "CheckResponse first", body: stringBody(notFoundBody),
			use: func(t *testing.T, _ *Transport, resp *http.Response) string {
				var apiErr *APIError
				require.ErrorAs(t, CheckResponse(resp), &apiErr)
				assert.Equal(t, "Resource not found", apiErr.Message)
				return readAll(t, resp)
			},
			message: "Resource not found", reads: notFoundBody},
		{name: "held unread: the bound writes the entry without text", body: stringBody(notFoundBody),
			use: func(t *testing.T, _ *Transport, resp *http.Response) string {
				time.Sleep(2 * wait) // a leak in the caller's code: the entry cannot wait for ever
				return readAll(t, resp)
			},
			reads: notFoundBody},
		{name: "held unread: Flush reads it", body: stringBody(notFoundBody),
			use: func(t *testing.T, tr *Transport, resp *http.Response) string {
				tr.Flush()
				return readAll(t, resp)
			},
			message: "Resource not found", reads: notFoundBody},
		{name: "held unread while stalled: Flush writes what came", body: stalledBody(`{"error":"Reso`),
			use: func(t *testing.T, tr *Transport, resp *http.Response) string {
				tr.Flush()
				b := make([]byte, len(`{"error":"Reso`))
				_, err := io.ReadFull(resp.Body, b)
				require.NoError(t, err, "the bytes the Transport read come first")
				return string(b)
			},
			bodyF: `{"error":"Reso`, reads: `{"error":"Reso`},
		{name: "closed while stalled", body: stalledBody(`{"error":"Reso`),
			use: func(t *testing.T, _ *Transport, resp *http.Response) string {
				start := time.Now()
				resp.Body.Close()
				assert.LessOrEqual(t, time.Since(start), wait, "Close reads for the bound at most")
				return ""
			},
			bodyF: `{"error":"Reso`},
		{name: "read while stalled: the bound", body: stalledBody(`{"error":"Reso`),
			use: func(t *testing.T, _ *Transport, resp *http.Response) string {
				b := make([]byte, 64)
				n, err := resp.Body.Read(b) // the head
				require.NoError(t, err)
				go func() {
					time.Sleep(2 * wait) // past the bound, the entry written: unblock the read below
					resp.Body.Close()
				}()
				_, err = resp.Body.Read(b[n:])
				assert.Error(t, err)
				return string(b[:n])
			},
			bodyF: `{"error":"Reso`, reads: `{"error":"Reso`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				log, logs := observed()
				tr := New(stubRT{status: 404, body: tt.body}, log, append(tt.opts, WithBodyReadTimeout(wait))...)
				resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
				require.NoError(t, err)

				assert.Equal(t, tt.reads, tt.use(t, tr, resp))
				time.Sleep(2 * wait) // any timer has run by now
				require.Equal(t, 1, logs.Len())
				f := logs.All()[0].ContextMap()
				assert.EqualValues(t, 404, f[schema.Status])
				assert.Equal(t, "/recordings/{id}", f[schema.Route])
				if tt.message != "" {
					assert.Equal(t, tt.message, f[schema.Error])
				} else {
					assert.NotContains(t, f, schema.Error)
				}
				if tt.bodyF != "" {
					assert.Equal(t, tt.bodyF, f[schema.Body])
				}
				resp.Body.Close()
				tr.Flush()
				assert.Equal(t, 1, logs.Len(), "one entry")
			})
		})
	}
}

// TestFailureBodyDoesNotWaitForTheBody: RoundTrip returns a failure whose
// body has not begun to arrive, and the caller's Read gets it as it comes.
func TestFailureBodyDoesNotWaitForTheBody(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	log, logs := observed()
	tr := New(stubRT{status: 500, body: func() io.ReadCloser { return pr }}, log)
	var resp *http.Response
	finishes(t, "RoundTrip", func() { resp, _ = tr.RoundTrip(mustRequest(t, "GET", "http://h/x")) })
	assert.Equal(t, 0, logs.Len(), "nothing read yet")
	go func() {
		io.WriteString(pw, `{"error":"Internal server error"}`)
		pw.Close()
	}()
	assert.Equal(t, `{"error":"Internal server error"}`, readAll(t, resp))
	require.Equal(t, 1, logs.Len())
	assert.Equal(t, "Internal server error", logs.All()[0].ContextMap()[schema.Error])
}

// TestFailureBodyReadBeforeRoundTripReturns: a failure the Transport needs
// the body of (a retry the policy may make, a 429) is decoded and logged
// before RoundTrip returns; an observer does not need it.
func TestFailureBodyReadBeforeRoundTripReturns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		opts   []Option
		eager  bool
		logged int // entries in all
	}{
		{"plain 404", 404, nil, false, 1},
		{"404 with a retry policy", 404, []Option{WithRetry(RetryPolicy{MaxRetries: 1})}, false, 1},
		{"503 with the zero policy", 503, []Option{WithRetry(RetryPolicy{})}, false, 1},
		{"503 with a retry policy", 503, []Option{WithRetry(RetryPolicy{MaxRetries: 1})}, true, 2},
		{"observer", 404, []Option{WithObserver(func(Attempt) {})}, false, 1},
		{"429", 429, nil, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				log, logs := observed()
				tr := New(stubRT{status: tt.status, body: stringBody(notFoundBody)}, log, tt.opts...)
				resp, err := tr.RoundTrip(mustRequest(t, "GET", "http://h/x"))
				require.NoError(t, err)
				assert.Equal(t, tt.eager, logs.Len() == tt.logged, "logged before the body is read")
				assert.Equal(t, notFoundBody, readAll(t, resp))
				assert.Equal(t, tt.logged, logs.Len())
			})
		})
	}
}

// TestFailureBodyConcurrentEnds: many calls whose bodies are read, closed,
// checked, held or all at once from two goroutines, with a bound short
// enough to race them, and Flush running meanwhile: every failure is
// written or counted exactly once, every caller reads its whole body, and
// nothing is left running (goleak, in TestMain).
func TestFailureBodyConcurrentEnds(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	tr := New(stubRT{status: 404, body: stringBody(notFoundBody)}, jsonLogger(&buf),
		WithBodyReadTimeout(time.Millisecond), WithLogLimit(3, time.Hour), WithRecorder(NewRecorder(0)))
	const calls = 200
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			resp, err := tr.RoundTrip(mustRequest(t, "GET", fmt.Sprintf("http://h/recordings/%d", i)))
			if !assert.NoError(t, err) {
				return
			}
			switch i % 5 {
			case 0:
				assert.Equal(t, notFoundBody, readAll(t, resp))
			case 1:
				resp.Body.Close()
			case 2:
				assert.Error(t, CheckResponse(resp))
				assert.Equal(t, notFoundBody, readAll(t, resp))
			case 3:
				time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
				assert.Equal(t, notFoundBody, readAll(t, resp))
			case 4:
				done := make(chan struct{})
				go func() { defer close(done); io.Copy(io.Discard, resp.Body) }()
				resp.Body.Close()
				<-done
			}
			if i%17 == 0 {
				tr.Flush()
			}
		})
	}
	wg.Wait()
	tr.Flush()
	entries, suppressed := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		switch {
		case strings.Contains(line, schema.Failed):
			entries++
		case strings.Contains(line, schema.Summarized):
			var n int
			_, err := fmt.Sscanf(line[strings.Index(line, `"suppressed":`)+len(`"suppressed":`):], "%d", &n)
			require.NoError(t, err)
			suppressed += n
		}
	}
	assert.Equal(t, calls, entries+suppressed, "every failure written or counted, once")
	assert.Equal(t, 3, entries)
}

// TestFailureBodyRecorderKeepsNoBody: the Recorder's copy of a record holds
// no response body (a review found it kept every one alive).
func TestFailureBodyRecorderKeepsNoBody(t *testing.T) {
	t.Parallel()
	rec := NewRecorder(10)
	log, _ := observed()
	tr := New(stubRT{status: 404, body: stringBody(`{"error":"idc_abcdefghijklmnopqrstuvwxyz012345 is bad"}`)}, log, WithRecorder(rec))
	req := mustRequest(t, "GET", recordingURL)
	req.Header.Set("Authorization", "Bearer idc_abcdefghijklmnopqrstuvwxyz012345")
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	readAll(t, resp)
	tr.Flush()
	held := rec.snapshot()
	require.Len(t, held, 1)
	assert.Nil(t, held[0].respBody, "the Recorder holds the response body and its raw prefix")
}

// TestFailureBodySuppressedRedactedAfterReuse: a failure counted into a
// storm summary names the URL that failed, even when the caller reuses the
// request before CheckResponse: the request is redacted in RoundTrip.
func TestFailureBodySuppressedRedactedAfterReuse(t *testing.T) {
	t.Parallel()
	log, _ := observed()
	tr := New(stubRT{status: 404, body: stringBody(notFoundBody)}, log, WithLogLimit(1, time.Hour))
	defer tr.Flush()
	first, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
	require.NoError(t, err)
	readAll(t, first) // the kind's one entry

	req := mustRequest(t, "GET", recordingURL) // counted into the summary
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	readAll(t, resp)                             // read to the end and closed:
	req.URL.Path = "/api/v1/public/recordings/8" // the caller may reuse its request
	var apiErr *APIError
	require.ErrorAs(t, CheckResponse(resp), &apiErr)
	assert.Equal(t, recordingURL, apiErr.URL, "the APIError names the URL that failed")
}

// trickleBody yields one byte per Read, after pause, until stall is set:
// from then on a Read blocks until the body is closed, as a server that
// stops sending does. Close unblocks it with an error.
type trickleBody struct {
	stall  *atomic.Bool
	closed chan struct{}
	once   sync.Once
	pause  time.Duration // before each byte
}

func (b *trickleBody) Read(p []byte) (int, error) {
	select {
	case <-b.closed:
		return 0, errors.New("closed")
	default:
	}
	if b.stall.Load() {
		<-b.closed
		return 0, errors.New("closed")
	}
	if len(p) == 0 {
		return 0, nil
	}
	time.Sleep(b.pause)
	p[0] = 'x'
	return 1, nil
}

func (b *trickleBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// TestFailureBodyCloseReturnsWhateverFlushDoes: Close on a body that
// streams, then stalls, returns however its own read and Flush's
// interleave (a review found an interleaving where Close read for ever).
// Real time: the stream never blocks, so a bubble's clock would not move.
func TestFailureBodyCloseReturnsWhateverFlushDoes(t *testing.T) {
	t.Parallel()
	for i := range 300 {
		var stall atomic.Bool
		body := &trickleBody{stall: &stall, closed: make(chan struct{})}
		log, _ := observed()
		tr := New(stubRT{status: 404, body: func() io.ReadCloser { return body }}, log,
			WithMaxBodyBytes(1<<30), WithBodyReadTimeout(2*time.Millisecond))
		resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
		require.NoError(t, err)
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			resp.Body.Close() // reads the prefix: one byte per read
		}()
		time.Sleep(200 * time.Microsecond) // let the read run
		stall.Store(true)                  // the server stops sending
		tr.Flush()                         // the record ends; Close must return
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			body.Close() // release the stuck goroutine
			<-closed
			t.Fatalf("iteration %d: Close still blocked 5 s after the record ended", i)
		}
	}
}

// TestFailureBodyCloseWaitsForTheReadAhead: Close while Flush reads an
// untouched body's prefix returns once the record has ended, with what
// the read got.
func TestFailureBodyCloseWaitsForTheReadAhead(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const wait = time.Second
		log, logs := observed()
		tr := New(stubRT{status: 404, body: stalledBody(`{"error":"Reso`)}, log, WithBodyReadTimeout(wait))
		resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
		require.NoError(t, err)
		go tr.Flush()
		synctest.Wait() // Flush reads ahead, and the body stalls
		start := time.Now()
		require.NoError(t, resp.Body.Close())
		assert.LessOrEqual(t, time.Since(start), wait)
		require.Equal(t, 1, logs.Len(), "the entry is written once the body is closed")
		assert.Equal(t, `{"error":"Reso`, logs.All()[0].ContextMap()[schema.Body])
	})
}

// TestFailureBodyClosesTheOriginalOnce: whoever closes the original body
// first (the bound cutting Close's read short, Flush, Close), it is closed
// once (a review found it closed twice).
func TestFailureBodyClosesTheOriginalOnce(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"bound", "Flush"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				body := newCloseOnceBody(`{"error":"Reso`)
				log, logs := observed()
				tr := New(stubRT{status: 404, body: func() io.ReadCloser { return body }}, log, WithBodyReadTimeout(time.Second))
				resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
				require.NoError(t, err)
				if how == "Flush" {
					go func() {
						time.Sleep(500 * time.Millisecond) // Close is reading the prefix by then
						tr.Flush()
					}()
				}
				assert.NoError(t, resp.Body.Close(), "Close returned the error of a second close of the base body")
				tr.Flush()
				synctest.Wait()
				assert.Equal(t, 1, logs.Len())
				assert.Equal(t, 1, body.closeCount(), "the base body was closed more than once")
			})
		})
	}
}

// TestFailureBodyFlushWithinTheBound: Flush ends many waiting records within
// one bound, reading the untouched bodies all at once.
func TestFailureBodyFlushWithinTheBound(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const wait = time.Second
		log, logs := observed()
		tr := New(stubRT{status: 404, body: stalledBody(`{"error":"Reso`)}, log, WithBodyReadTimeout(wait), WithLogLimit(-1, 0))
		var resps []*http.Response
		for i := range 40 {
			if i == 20 {
				time.Sleep(900 * time.Millisecond) // the first twenty's bounds end first
			}
			resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
			require.NoError(t, err)
			resps = append(resps, resp)
		}
		start := time.Now()
		tr.Flush()
		assert.LessOrEqual(t, time.Since(start), wait, "Flush blocked longer than the body-read bound")
		assert.Equal(t, 40, logs.Len())
		for _, r := range resps {
			r.Body.Close()
		}
	})
}

// TestFailureBodyCloseWithinTheBound: Close of a stalled body waits for its
// prefix at most one bound, and only for a record something waits for: an
// admitted failure's record ended at the bound, so its Close returns at
// once; a failure counted into a storm summary, with no Recorder, waits for
// nothing either. (Close waited a bound for the second, only so that a
// CheckResponse after it had text; TestCheckResponseClosedFirst.)
func TestFailureBodyCloseWithinTheBound(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const wait = time.Second
		log, logs := observed()
		tr := New(stubRT{status: 404, body: stalledBody(`{"error":"Reso`)}, log,
			WithBodyReadTimeout(wait), WithLogLimit(1, time.Hour))
		defer tr.Flush()
		var resps [2]*http.Response
		for i := range resps {
			resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
			require.NoError(t, err)
			resps[i] = resp
		}
		time.Sleep(2 * wait) // past the bound of both
		for i, want := range []time.Duration{0, 0} {
			start := time.Now()
			resps[i].Body.Close()
			assert.Equal(t, want, time.Since(start), "call %d", i)
		}
		tr.Flush()
		assert.Equal(t, 2, accounted(logs))
	})
}

// TestFailureBodyCloseAtTheBound: Close on an untouched body once the bound
// has passed but before its timer has run (a busy process; here
// GOMAXPROCS(1) and a spin) ends the record itself: it has the body's text
// when Close returns.
func TestFailureBodyCloseAtTheBound(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const wait = 2 * time.Millisecond
	log, logs := observed()
	tr := New(stubRT{status: 404, body: stringBody(notFoundBody)}, log, WithBodyReadTimeout(wait))
	defer tr.Flush()
	req := mustRequest(t, "GET", recordingURL)
	runtime.GC()
	resp, err := tr.RoundTrip(req)
	returned := time.Now()
	require.NoError(t, err)
	for time.Since(returned) < wait+wait/2 { // spin past the bound without yielding
	}
	require.NoError(t, resp.Body.Close())
	n := logs.Len() // before anything yields
	assert.Equal(t, 1, n, "Close returned before the entry was written")
	tr.Flush()
	require.Equal(t, 1, logs.Len())
	assert.Equal(t, "Resource not found", logs.All()[0].ContextMap()[schema.Error], "the entry lost the body's text")
}

// TestFailureBodyFlushWaitsForTheEntryBeingWritten: when the timer ends
// the record of a body nobody reads and its entry's write is under way, a
// Flush returns only once it is written: at shutdown (Flush, logger.Sync,
// exit) it would be lost otherwise, as a review found it was. Real time,
// not a bubble: a Flush that waits blocks on a sync.Once, which is not
// durably blocking.
func TestFailureBodyFlushWaitsForTheEntryBeingWritten(t *testing.T) {
	t.Parallel()
	core := &blockingEntries{LevelEnabler: zapcore.DebugLevel, entered: make(chan struct{}), release: make(chan struct{})}
	tr := New(stubRT{status: 404, body: stringBody(notFoundBody)}, zap.New(core), WithBodyReadTimeout(5*time.Millisecond))
	resp, err := tr.RoundTrip(mustRequest(t, "GET", recordingURL))
	require.NoError(t, err)
	defer resp.Body.Close()
	finishes(t, "the timer's entry write", func() { <-core.entered }) // nobody read the body: the bound ends it

	flushed := make(chan struct{})
	released := make(chan struct{})
	go func() {
		defer close(released)
		select { // a correct Flush blocks until the write ends: let it end
		case <-flushed:
		case <-time.After(50 * time.Millisecond):
		}
		close(core.release)
	}()
	tr.Flush()
	written := core.written.Load()
	close(flushed)
	<-released
	assert.EqualValues(t, 1, written, "when Flush returns, the entry the timer is writing is written")
}

// blockingEntries is a core that holds every failure entry's write until
// release is closed.
type blockingEntries struct {
	zapcore.LevelEnabler
	entered chan struct{} // closed when a failure entry's write begins
	release chan struct{}
	once    sync.Once
	written atomic.Int32 // failure entries written
}

func (c *blockingEntries) With([]zapcore.Field) zapcore.Core { return c }

func (c *blockingEntries) Sync() error { return nil }

func (c *blockingEntries) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	return ce.AddCore(e, c)
}

func (c *blockingEntries) Write(e zapcore.Entry, _ []zapcore.Field) error {
	if e.Message == schema.Failed {
		c.once.Do(func() { close(c.entered) })
		<-c.release
		c.written.Add(1)
	}
	return nil
}
