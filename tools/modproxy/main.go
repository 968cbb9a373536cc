// Command modproxy writes a Go module proxy on disk, in the layout that
// GOPROXY=file://DIR reads, holding modules of a git repository at one
// version, as a tag on the repository's HEAD would publish them.
//
// Usage:
//
//	modproxy -repo DIR -version vX.Y.Z -o OUT [SUBDIR ...]
//
// Each SUBDIR (relative to DIR; "." is the repository's root) holds a go.mod.
// For each, modproxy writes OUT/<escaped module path>/@v/ with list,
// VERSION.info, VERSION.mod and VERSION.zip. The zip is made by
// golang.org/x/mod/zip from `git archive HEAD`, as the go command makes it
// from a tag: committed files only, nested modules and vendor directories
// left out. The .mod file is the go.mod inside that zip, and .info carries
// HEAD's commit time.
//
// DIR must be the top of a git clone (its .git a directory, not a
// worktree's .git file), which is what zip.CreateFromVCS accepts.
//
// modproxy lives in the tools module so that golang.org/x/mod never enters
// the module graph of anyone who imports idctrace.
package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("modproxy: ")
	repo := flag.String("repo", ".", "top `dir`ectory of the git clone")
	version := flag.String("version", "", "the `version` every module is published at, e.g. v0.1.0")
	out := flag.String("o", "", "the proxy's `dir`ectory, created if missing")
	flag.Parse()
	if *version == "" || *out == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	repoDir, err := filepath.Abs(*repo)
	if err != nil {
		log.Fatal(err)
	}
	t, err := commitTime(repoDir)
	if err != nil {
		log.Fatal(err)
	}
	for _, sub := range flag.Args() {
		mod, err := publish(repoDir, sub, *version, t, *out)
		if err != nil {
			log.Fatalf("%s: %v", sub, err)
		}
		fmt.Printf("%s@%s\n", mod, *version)
	}
}

// publish writes the proxy files of the module in repo/sub at version and
// returns its module path.
func publish(repo, sub, version string, t time.Time, out string) (string, error) {
	gomod, err := os.ReadFile(filepath.Join(repo, sub, "go.mod"))
	if err != nil {
		return "", err
	}
	modPath := modfile.ModulePath(gomod)
	if modPath == "" {
		return "", fmt.Errorf("no module path in go.mod")
	}
	m := module.Version{Path: modPath, Version: version}

	subdir := path.Clean(filepath.ToSlash(sub))
	if subdir == "." {
		subdir = ""
	}
	var zbuf bytes.Buffer
	if err := modzip.CreateFromVCS(&zbuf, m, repo, "HEAD", subdir); err != nil {
		return "", err
	}
	// The .mod file must be the go.mod the zip holds: the go command reads
	// the first for the module graph and builds from the second.
	zipMod, err := fileInZip(zbuf.Bytes(), modPath+"@"+version+"/go.mod")
	if err != nil {
		return "", err
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{version, t.UTC()})
	if err != nil {
		return "", err
	}

	escPath, err := module.EscapePath(modPath)
	if err != nil {
		return "", err
	}
	escVersion, err := module.EscapeVersion(version)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(out, filepath.FromSlash(escPath), "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	files := []struct {
		name string
		data []byte
	}{
		{escVersion + ".zip", zbuf.Bytes()},
		{escVersion + ".mod", zipMod},
		{escVersion + ".info", info},
		{"list", []byte(version + "\n")},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return "", err
		}
	}
	return modPath, nil
}

// fileInZip returns the contents of the file called name in the zip z.
func fileInZip(z []byte, name string) ([]byte, error) {
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		return nil, err
	}
	f, err := zr.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// commitTime returns the commit time of HEAD in repo, the time a proxy
// reports for a version tagged there.
func commitTime(repo string) (time.Time, error) {
	cmd := exec.Command("git", "show", "-s", "--format=%cI", "HEAD")
	cmd.Dir = repo
	b, err := cmd.Output()
	if err != nil {
		return time.Time{}, fmt.Errorf("git show HEAD: %w", err)
	}
	return time.Parse(time.RFC3339, strings.TrimSpace(string(b)))
}
