package main

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"path/filepath"
	"strings"
)

// formFlags collects repeated -F flags, as curl writes them: name=value for
// a field, name=@path for a file. Uploads (POST /recordings) need them.
type formFlags []formPart

type formPart struct {
	name, value string
	file        bool  // value is a path
	size        int64 // the file's, when its part was given
}

func (f *formFlags) String() string { return "" }

func (f *formFlags) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return errors.New("want name=value or name=@file")
	}
	p := formPart{name: name, value: value}
	if path, isFile := strings.CutPrefix(value, "@"); isFile {
		if path == "-" {
			return errors.New("a form cannot read standard input: save it to a file and give name=@file")
		}
		info, err := regularFile(path)
		if err != nil {
			return err
		}
		p.value, p.file, p.size = path, true, info.Size()
	}
	*f = append(*f, p)
	return nil
}

// form is a multipart/form-data body that is written while it is sent, so
// a 500 MB recording is never held in memory, and that can be written again
// for a retry. Its length is known in advance, so the request carries a
// Content-Length instead of a chunked body that some servers refuse: a
// file that changes size while it is sent fails the request (see
// fileReader) rather than send a form of another length.
type form struct {
	parts    []formPart
	boundary string
	length   int64
}

func newForm(parts []formPart) *form {
	f := &form{parts: parts, boundary: multipart.NewWriter(io.Discard).Boundary()}
	// The length is that of the form with every file left out, plus the
	// files' sizes: a part's headers do not depend on its content.
	var count countingWriter
	_ = f.write(&count, func(io.Writer, formPart) error { return nil }) // a countingWriter never fails
	f.length = int64(count)
	for _, p := range parts {
		f.length += p.size
	}
	return f
}

// body returns f as a call's body.
func (f *form) body() *body {
	return &body{contentType: f.contentType(), length: f.length, open: f.open, replayable: true}
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
func (f *form) write(w io.Writer, file func(w io.Writer, p formPart) error) error {
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
		if err := file(pw, p); err != nil {
			return fmt.Errorf("-F %s: %w", p.name, err)
		}
	}
	return mw.Close()
}

func copyFile(w io.Writer, p formPart) error {
	file, err := openFile(p.value, p.size)
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
