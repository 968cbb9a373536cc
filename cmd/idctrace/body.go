package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// stdinBuffer is how much of standard input is read before the request is
// sent: a body that ends within it has a Content-Length and can be sent
// again for a retry; a longer one streams, chunked, and is sent once.
const stdinBuffer = 1 << 20

// body is what a call sends.
type body struct {
	contentType string
	length      int64 // -1: unknown, sent chunked
	// open returns a reader of the whole body. When replayable, each call
	// starts it again, for a retry; otherwise it must be called once.
	open       func() (io.ReadCloser, error)
	replayable bool
}

// readBody makes the body of BODY: a literal, @FILE or - for standard
// input. Nothing is read from a file yet, and what is not a regular file is
// refused, since its length cannot be known and it may never end.
func readBody(arg string, stdin io.Reader) (*body, error) {
	const contentType = "application/json"
	switch {
	case arg == "-":
		return stdinBody(stdin, contentType)
	case strings.HasPrefix(arg, "@"):
		path := arg[1:]
		info, err := regularFile(path)
		if err != nil {
			return nil, fmt.Errorf("BODY: %w", err)
		}
		size := info.Size()
		return &body{contentType: contentType, length: size, replayable: true,
			open: func() (io.ReadCloser, error) { return openFile(path, size) }}, nil
	}
	return bytesBody([]byte(arg), contentType), nil
}

func bytesBody(b []byte, contentType string) *body {
	return &body{contentType: contentType, length: int64(len(b)), replayable: true,
		open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
}

// stdinBody reads up to stdinBuffer bytes of standard input: what ends
// there is a body like a literal one; what goes on streams.
func stdinBody(stdin io.Reader, contentType string) (*body, error) {
	head := make([]byte, stdinBuffer+1) // one more, to know whether it ends within
	n, err := io.ReadFull(stdin, head)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return bytesBody(head[:n], contentType), nil
	case err != nil:
		return nil, fmt.Errorf("reading BODY from standard input: %w", err)
	}
	rest := io.MultiReader(bytes.NewReader(head), stdin)
	return &body{contentType: contentType, length: -1,
		open: func() (io.ReadCloser, error) { return io.NopCloser(rest), nil }}, nil
}

// regularFile returns the file information of path, or an error saying
// why it cannot be sent: only a regular file has a length known in
// advance and an end. Devices (/dev/zero), named pipes and directories are
// refused before anything is sent.
func regularFile(path string) (os.FileInfo, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is %s, not a regular file: only a file's content can be sent (for a stream, pipe it into BODY -)", path, fileKind(info.Mode()))
	}
	return info, nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "a special file"
}

// errFileChanged is the cause of every error about a file that changed
// between the moment its length was taken and the end of its sending.
var errFileChanged = errors.New("file changed while it was sent")

// changedError says that the file at path is not what the request's
// Content-Length was computed from.
type changedError struct {
	path       string
	size, now  int64 // the size the request announced; the size found
	sent       int64 // bytes read when the change was found
	sameLength bool  // the size is the same, but not the modification time
}

func (e *changedError) Error() string {
	what := fmt.Sprintf("its size went from %d to %d bytes", e.size, e.now)
	if e.sameLength {
		what = "it was modified"
	}
	return fmt.Sprintf("%s changed while it was sent (%s, after %d bytes): the request was cut short, so the server got no complete body; send it again once it is written",
		e.path, what, e.sent)
}

func (e *changedError) Unwrap() error { return errFileChanged }

// fileReader reads a regular file that must keep, until its last byte is
// sent, the size and modification time it had when the request's length
// was computed. It withholds the last bytes until it has checked, so that
// a file that changed never reaches the server as a complete body.
type fileReader struct {
	f        *os.File
	path     string
	size     int64
	modified time.Time
	read     int64
}

// openFile opens path for a body of size bytes.
func openFile(path string, size int64) (*fileReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = fmt.Errorf("%s is %s, not a regular file", path, fileKind(info.Mode()))
	}
	if err == nil && info.Size() != size {
		err = &changedError{path: path, size: size, now: info.Size()}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &fileReader{f: f, path: path, size: size, modified: info.ModTime()}, nil
}

func (r *fileReader) Read(p []byte) (int, error) {
	left := r.size - r.read
	if left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := r.f.Read(p)
	r.read += int64(n)
	switch {
	case r.read == r.size:
		if err := r.check(r.read - int64(n)); err != nil {
			return 0, err // the last bytes stay here
		}
		return n, io.EOF
	case err == io.EOF:
		return 0, r.check(r.read)
	}
	return n, err
}

// check compares the file with what it was when opened; sent is how much
// of it the request carries so far.
func (r *fileReader) check(sent int64) error {
	info, err := r.f.Stat()
	if err != nil {
		return err
	}
	now := info.Size()
	if r.read < r.size && now == r.size {
		now = r.read // read short of a size that fstat still reports
	}
	if now != r.size || !info.ModTime().Equal(r.modified) {
		return &changedError{path: r.path, size: r.size, now: now, sent: sent, sameLength: now == r.size}
	}
	return nil
}

func (r *fileReader) Close() error { return r.f.Close() }
