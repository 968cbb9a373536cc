package main

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"os"
	"path/filepath"
	"strings"
)

// formFlags collects repeated -F flags, as curl writes them: name=value for
// a field, name=@path for a file. Uploads (POST /recordings) need them.
type formFlags []formPart

type formPart struct {
	name, value string
	file        bool // value is a path
}

func (f *formFlags) String() string { return "" }

func (f *formFlags) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return errors.New("want name=value or name=@file")
	}
	p := formPart{name: name, value: value}
	if path, isFile := strings.CutPrefix(value, "@"); isFile {
		info, err := os.Stat(path)
		if err != nil {
			return err
		}
		if info.IsDir() {
			return fmt.Errorf("%s is a directory", path)
		}
		p.value, p.file = path, true
	}
	*f = append(*f, p)
	return nil
}

// form is a multipart/form-data body that is written while it is sent, so
// a 500 MB recording is never held in memory, and that can be written again
// for a retry. Its length is known in advance, so the request carries a
// Content-Length instead of a chunked body that some servers refuse.
type form struct {
	parts    []formPart
	boundary string
	length   int64
}

func newForm(parts []formPart) (*form, error) {
	f := &form{parts: parts, boundary: multipart.NewWriter(io.Discard).Boundary()}
	// The length is that of the form with every file left out, plus the
	// files' sizes: a part's headers do not depend on its content.
	var files int64
	var count countingWriter
	err := f.write(&count, func(_ io.Writer, path string) error {
		info, err := os.Stat(path)
		if err != nil {
			return err
		}
		files += info.Size()
		return nil
	})
	f.length = int64(count) + files
	return f, err
}

// contentType is the Content-Type header that goes with every body of f.
func (f *form) contentType() string {
	return "multipart/form-data; boundary=" + f.boundary
}

// open returns a new body of f. It is the request's GetBody, too.
func (f *form) open() (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(f.write(pw, copyFile)) }()
	return pr, nil
}

// write writes f to w, calling file to write each file's content.
func (f *form) write(w io.Writer, file func(w io.Writer, path string) error) error {
	mw := multipart.NewWriter(w)
	if err := mw.SetBoundary(f.boundary); err != nil {
		return err
	}
	for _, p := range f.parts {
		if !p.file {
			if err := mw.WriteField(p.name, p.value); err != nil {
				return err
			}
			continue
		}
		pw, err := mw.CreateFormFile(p.name, filepath.Base(p.value))
		if err != nil {
			return err
		}
		if err := file(pw, p.value); err != nil {
			return fmt.Errorf("-F %s: %w", p.name, err)
		}
	}
	return mw.Close()
}

func copyFile(w io.Writer, path string) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	_, err = io.Copy(w, file)
	return err
}

type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}
