package idctrace

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var r io.Reader = strings.NewReader(payload)
			if tt.reader != nil {
				r = tt.reader(r)
			}
			body, prefix, cut := readFailureBody(context.Background(), io.NopCloser(r), tt.limit, time.Minute)
			assert.Equal(t, payload[:min(tt.limit, int64(len(payload)))], string(prefix), "the prefix is all there is, up to the limit")
			assert.Equal(t, tt.limit <= int64(len(payload)), cut, "a prefix that filled the limit may not be all")

			got, err := io.ReadAll(body)
			require.NoError(t, err)
			assert.Equal(t, payload, string(got))
		})
	}
}

func TestFailureBodyReportsReadErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset by peer")
	for _, limit := range []int64{1024, 3} { // the error inside the prefix, and after it
		r := io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(boom))
		body, _, cut := readFailureBody(context.Background(), io.NopCloser(r), limit, time.Minute)
		assert.True(t, cut)
		got, err := io.ReadAll(body)
		assert.Equal(t, "partial", string(got))
		assert.ErrorIs(t, err, boom, "never a silent short read")
	}
}

// TestFailureBodyDoesNotWaitForAStall: a body that stalls after its first
// bytes holds the read back only for the wait; the caller then reads the
// early bytes, the late ones and the end, in order.
func TestFailureBodyDoesNotWaitForAStall(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	go pw.Write([]byte(`{"error":`)) // then nothing, until the test says so
	var (
		body   *failureBody
		prefix []byte
		cut    bool
	)
	finishes(t, "readFailureBody", func() {
		body, prefix, cut = readFailureBody(context.Background(), pr, 1024, 50*time.Millisecond)
	})
	// The wait may have ended before the first write landed: the prefix is
	// some start of it.
	assert.True(t, strings.HasPrefix(`{"error":`, string(prefix)), "%q", prefix)
	assert.True(t, cut, "the body was still open")

	go func() {
		pw.Write([]byte(`"late"}`))
		pw.Close()
	}()
	got, err := io.ReadAll(body)
	require.NoError(t, err)
	assert.Equal(t, `{"error":"late"}`, string(got))
}

func TestFailureBodyEndsWithContext(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	finishes(t, "readFailureBody", func() { readFailureBody(ctx, pr, 1024, time.Hour) })
}

func TestFailureBodyCloseEndsAWaitingRead(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	defer pw.Close()
	body, _, _ := readFailureBody(context.Background(), pr, 1024, time.Millisecond)
	go func() {
		time.Sleep(10 * time.Millisecond) // let the Read below start waiting; the test passes either way
		body.Close()
	}()
	var err error
	finishes(t, "Read after Close", func() { _, err = body.Read(make([]byte, 8)) })
	assert.ErrorIs(t, err, errReadAfterClose)
}

type rwc struct {
	io.Reader
	written bytes.Buffer
}

func (c *rwc) Write(p []byte) (int, error) { return c.written.Write(p) }
func (c *rwc) Close() error                { return nil }

func TestFailureBodyKeepsReadWriteCloser(t *testing.T) {
	t.Parallel()
	orig := &rwc{Reader: strings.NewReader("hello")}
	b, _, _ := readFailureBody(context.Background(), orig, 1024, time.Minute)
	w, ok := b.asBody().(io.ReadWriteCloser)
	require.True(t, ok, "a writable body stays writable")
	_, err := w.Write([]byte("ping"))
	require.NoError(t, err)
	assert.Equal(t, "ping", orig.written.String())
	got, err := io.ReadAll(w)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(got))
}

// TestFailureBodyReadAfterClose: once closed, a body returns an error, even
// with prefix bytes still unread, as net/http's bodies do.
func TestFailureBodyReadAfterClose(t *testing.T) {
	t.Parallel()
	body, _, _ := readFailureBody(context.Background(), io.NopCloser(strings.NewReader(`{"error":"x"}`)), 1024, time.Minute)
	p := make([]byte, 4)
	n, err := body.Read(p)
	require.NoError(t, err)
	assert.Equal(t, `{"er`, string(p[:n]))
	require.NoError(t, body.Close())
	n, err = body.Read(p)
	assert.Zero(t, n)
	assert.ErrorIs(t, err, errReadAfterClose)
}
