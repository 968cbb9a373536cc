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
// for a retry.
type form struct {
	parts    []formPart
	boundary string
}

func newForm(parts []formPart) *form {
	return &form{parts: parts, boundary: multipart.NewWriter(io.Discard).Boundary()}
}

// contentType is the Content-Type header that goes with every body of f.
func (f *form) contentType() string {
	return "multipart/form-data; boundary=" + f.boundary
}

// open returns a new body of f. It is the request's GetBody, too.
func (f *form) open() (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(f.write(pw)) }()
	return pr, nil
}

func (f *form) write(w io.Writer) error {
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
		if err := writeFile(mw, p.name, p.value); err != nil {
			return err
		}
	}
	return mw.Close()
}

func writeFile(mw *multipart.Writer, name, path string) error {
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("-F %s: %w", name, err)
	}
	defer file.Close()
	w, err := mw.CreateFormFile(name, filepath.Base(path))
	if err != nil {
		return err
	}
	_, err = io.Copy(w, file)
	return err
}
