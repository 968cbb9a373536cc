//go:build unix

package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDevicesAndPipesAreRefused: a named pipe, /dev/zero or /dev/stdin as
// BODY @FILE or a form's file is refused before anything is sent or read:
// at once, with no memory spent. Not parallel, so that the allocations
// measured are this test's.
func TestDevicesAndPipesAreRefused(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "audio.fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	tests := []struct {
		path, kind string
	}{
		{fifo, "a named pipe (FIFO)"},
		{"/dev/zero", "a character device"},
	}
	for _, tt := range tests {
		for _, args := range [][]string{
			{"PUT", "/recordings/rec_1", "@" + tt.path},
			{"-F", "file=@" + tt.path, "POST", "/recordings"},
		} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				srv := newSink(t)
				runtime.GC()
				before := totalAlloc()
				done := make(chan struct{})
				var code int
				var out, stderr string
				go func() {
					defer close(done)
					code, out, stderr = runSys(t, &system{}, sinkEnv(srv), args...)
				}()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					// Opening the FIFO blocks until a writer comes: be one.
					if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
						w.Close()
					}
					<-done
					t.Fatal("the command opened the file instead of refusing it")
				}
				assert.Less(t, totalAlloc()-before, uint64(4<<20))
				assert.Equal(t, 2, code)
				assert.Empty(t, out)
				assert.Contains(t, stderr, tt.path+" is "+tt.kind+", not a regular file: only a file's content can be sent (for a stream, pipe it into BODY -)")
				assert.Empty(t, srv.received(), "nothing was sent")
			})
		}
	}
}
