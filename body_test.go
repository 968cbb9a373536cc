package idctrace

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWrapBodyYieldsTheSameBytes(t *testing.T) {
	t.Parallel()
	payload := strings.Repeat("0123456789", 500) // 5000 bytes
	tests := []struct {
		name   string
		limit  int64
		hint   int64
		reader func(io.Reader) io.Reader
	}{
		{"all in prefix", 16 << 10, -1, nil},
		{"prefix then rest", 100, -1, nil},
		{"exact limit", 5000, 5000, nil},
		{"one byte reads", 700, -1, iotest.OneByteReader},
		{"half reads", 1000, 5000, iotest.HalfReader},
		{"data with EOF", 100, -1, iotest.DataErrReader},
		{"wrong hint", 100, 3, nil},
	}
	for _, tt := range tests {
		for _, how := range []string{"Read", "WriteTo"} {
			t.Run(tt.name+"/"+how, func(t *testing.T) {
				t.Parallel()
				var r io.Reader = strings.NewReader(payload)
				if tt.reader != nil {
					r = tt.reader(r)
				}
				body, prefix := new(failureBody).wrap(context.Background(), io.NopCloser(r), tt.limit, tt.hint)
				assert.LessOrEqual(t, int64(len(prefix)), tt.limit)
				assert.Equal(t, payload[:len(prefix)], string(prefix))

				var got bytes.Buffer
				var err error
				if how == "Read" {
					_, err = io.Copy(&got, struct{ io.Reader }{body}) // hide WriteTo
				} else {
					_, err = body.(io.WriterTo).WriteTo(&got)
				}
				require.NoError(t, err)
				assert.Equal(t, payload, got.String())
			})
		}
	}
}

func TestWrapBodyReportsReadErrorsAfterPrefix(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset by peer")
	r := io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(boom))
	body, prefix := new(failureBody).wrap(context.Background(), io.NopCloser(r), 1024, -1)
	assert.Equal(t, "partial", string(prefix))

	got, err := io.ReadAll(body)
	assert.Equal(t, "partial", string(got))
	assert.ErrorIs(t, err, boom, "never a silent short read")

	var buf bytes.Buffer
	body, _ = new(failureBody).wrap(context.Background(), io.NopCloser(io.MultiReader(strings.NewReader("p"), iotest.ErrReader(boom))), 1024, -1)
	_, err = body.(io.WriterTo).WriteTo(&buf)
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, "p", buf.String())
}

type rwc struct {
	io.Reader
	written bytes.Buffer
}

func (c *rwc) Write(p []byte) (int, error) { return c.written.Write(p) }
func (c *rwc) Close() error                { return nil }

func TestWrapBodyKeepsReadWriteCloser(t *testing.T) {
	t.Parallel()
	orig := &rwc{Reader: strings.NewReader("hello")}
	body, _ := new(failureBody).wrap(context.Background(), orig, 1024, -1)
	w, ok := body.(io.ReadWriteCloser)
	require.True(t, ok, "a writable body stays writable")
	_, err := w.Write([]byte("ping"))
	require.NoError(t, err)
	assert.Equal(t, "ping", orig.written.String())
	got, err := io.ReadAll(w)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(got))
}
