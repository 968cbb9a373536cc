package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct{ t time.Time }

func newFakeClock() *fakeClock               { return &fakeClock{t: time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)} }
func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// lines splits the output of a progress line into its updates.
func lines(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' })
}

// drain reads r to its end, with a buffer larger than any step of a
// stepReader, and returns how many bytes it read.
func drain(t *testing.T, r io.Reader) int {
	buf := make([]byte, 8<<20)
	var total int
	for {
		n, err := r.Read(buf)
		total += n
		if err == io.EOF {
			return total
		}
		require.NoError(t, err)
	}
}

func newMeter(total int64, clock *fakeClock) (*progress, *strings.Builder) {
	var out strings.Builder
	return newProgress(&statusWriter{w: &out}, clock.now, total), &out
}

// stepReader reads step bytes at a time, moving clock by tick before each.
type stepReader struct {
	left, step int
	clock      *fakeClock
	tick       time.Duration
}

func (r *stepReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	r.clock.advance(r.tick)
	n := min(r.step, r.left, len(p))
	r.left -= n
	return n, nil
}

func TestProgressUpdatesAtMostTenTimesASecond(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	meter, out := newMeter(10<<20, clock)
	// 10 MiB in 10 KiB reads, one every 5 ms: 1024 reads over 5.1 s.
	body := meter.count(io.NopCloser(&stepReader{left: 10 << 20, step: 10 << 10, clock: clock, tick: 5 * time.Millisecond}))
	assert.Equal(t, 10<<20, drain(t, body))
	require.NoError(t, body.Close())

	got := lines(out.String())
	assert.LessOrEqual(t, len(got), 53, "the first read, then at most one every 100 ms over 5.115 s, then the last")
	assert.GreaterOrEqual(t, len(got), 50)
	assert.Equal(t, "10.0 KiB of 10.0 MiB (0%)", got[0], "the first read shows at once, too soon for a rate")
	assert.Equal(t, "2.0 MiB of 10.0 MiB (19%)  2.0 MiB/s  0:04 left", got[10], "after 201 reads in 1.005 s: 2,010 KiB")
	assert.Regexp(t, `\r10\.0 MiB of 10\.0 MiB \(100%\)  2\.0 MiB/s  in 0:05 *\n$`, out.String(), "the final line ends the line")
	assert.Equal(t, 1, strings.Count(out.String(), "\n"), "every other update rewrites the line")
}

func TestProgressAttempts(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	meter, out := newMeter(4<<20, clock)
	first := meter.count(io.NopCloser(&stepReader{left: 4 << 20, step: 1 << 20, clock: clock, tick: time.Second}))
	buf := make([]byte, 1<<20)
	_, err := first.Read(buf)
	require.NoError(t, err)
	_, err = first.Read(buf)
	require.NoError(t, err)
	// The server answered early and the transport closed the body.
	require.NoError(t, first.Close())
	// A log line comes between the attempts, on a line of its own.
	_, err = io.WriteString(meter.w, "a log line\n")
	require.NoError(t, err)

	second := meter.count(io.NopCloser(&stepReader{left: 4 << 20, step: 4 << 20, clock: clock, tick: time.Second}))
	assert.Equal(t, 4<<20, drain(t, second))
	require.NoError(t, first.Close(), "a late Close of a replaced attempt shows nothing")
	require.NoError(t, second.Close())

	assert.Equal(t, "\r1.0 MiB of 4.0 MiB (25%)  1.0 MiB/s  0:03 left"+
		"\r2.0 MiB of 4.0 MiB (50%)  1.0 MiB/s  0:02 left"+
		"\r2.0 MiB of 4.0 MiB (50%)  1.0 MiB/s  stopped  in 0:02\n"+
		"a log line\n"+
		"\rattempt 2: 4.0 MiB of 4.0 MiB (100%)  4.0 MiB/s  0:00 left"+
		"\rattempt 2: 4.0 MiB of 4.0 MiB (100%)  4.0 MiB/s  in 0:01  \n", out.String(), "a shorter line covers what is left of a longer one")
}

func TestProgressUnknownLength(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	meter, out := newMeter(-1, clock)
	body := meter.count(io.NopCloser(&stepReader{left: 3 << 20, step: 1 << 20, clock: clock, tick: time.Second}))
	drain(t, body)
	assert.Equal(t, "\r1.0 MiB sent  1.0 MiB/s\r2.0 MiB sent  1.0 MiB/s\r3.0 MiB sent  1.0 MiB/s\r3.0 MiB sent  1.0 MiB/s  in 0:03\n", out.String())
}

func TestProgressFormat(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {600 << 20, "600.0 MiB"}, {3 << 30, "3.0 GiB"}, {5 << 40, "5.0 TiB"}, {5 << 50, "5120.0 TiB"}} {
		assert.Equal(t, tt.want, size(tt.n))
	}
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{{0, "0:00"}, {1500 * time.Millisecond, "0:02"}, {75 * time.Second, "1:15"}, {3*time.Hour + 2*time.Minute + 1*time.Second, "3:02:01"}} {
		assert.Equal(t, tt.want, clock(tt.d))
	}
}

// TestProgressInTheCommand: with -progress, or a terminal, the command
// shows progress while it sends a body; otherwise it prints nothing.
func TestProgressInTheCommand(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "call.json")
	require.NoError(t, os.WriteFile(path, []byte(strings.Repeat(" ", 3<<20)+"{}"), 0o600))
	tests := []struct {
		name     string
		terminal bool
		args     []string
		shown    bool
	}{
		{"not a terminal", false, nil, false},
		{"not a terminal, -progress", false, []string{"-progress"}, true},
		{"a terminal", true, nil, true},
		{"a terminal, -progress=false", true, []string{"-progress=false"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newSink(t)
			args := append(tt.args, "PUT", "/recordings/rec_1", "@"+path)
			code, out, stderr := runSys(t, &system{terminal: tt.terminal}, sinkEnv(srv), args...)
			require.Equal(t, 0, code, stderr)
			assert.Equal(t, `{"received":3145730}`, out)
			if !tt.shown {
				assert.Empty(t, stderr)
				return
			}
			assert.Regexp(t, `\r3\.0 MiB of 3\.0 MiB \(100%\)  \S+ \S+/s  in 0:\d\d *\n$`, stderr)
		})
	}
}
