package main

// Samples that docs/cli.md and docs/support.md show: the command's output,
// kept as golden files under testdata/docs. A test fails when the output no
// longer matches; `go test ./cmd/idctrace -run Docs -update` rewrites them,
// and the root package's TestDocsShowTheGoldenSamples checks that the docs
// quote them as they are. Each file starts with the command line that
// printed it.

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/identitycall/idctrace/idctest"
	"github.com/identitycall/idctrace/internal/schema"
)

// docsDir holds the golden files, as a path that stays right when a test
// changes the working directory.
var docsDir = func() string {
	dir, err := filepath.Abs(filepath.Join("testdata", "docs"))
	if err != nil {
		panic(err)
	}
	return dir
}()

// checkDocGolden compares got with testdata/docs/name, or rewrites the
// file with -update.
func checkDocGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(docsDir, name)
	if *update {
		require.NoError(t, os.MkdirAll(docsDir, 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run 'go test ./cmd/idctrace -run Docs -update' to write it")
	assert.Equal(t, string(want), got, "the output changed: check it, then run 'go test ./cmd/idctrace -run Docs -update'")
}

// commandLine is args as the docs show them typed.
func commandLine(args ...string) string {
	return "$ " + strings.Join(append([]string{"idctrace"}, args...), " ") + "\n"
}

// TestDocsHelp: the help texts, as -h prints them on stderr.
func TestDocsHelp(t *testing.T) {
	t.Parallel()
	for name, args := range map[string][]string{
		"help.txt":        {"-h"},
		"help-ticket.txt": {"ticket", "-h"},
		"help-report.txt": {"report", "-h"},
		"help-sim.txt":    {"sim", "-h"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, out, stderr := runCLI(t, nil, "", args...)
			require.Equal(t, 0, code, stderr)
			assert.Empty(t, out)
			checkDocGolden(t, name, commandLine(args...)+stderr)
		})
	}
}

// TestDocsSim: what `idctrace sim` prints first, with its port and key,
// which differ each run, replaced by fixed ones.
func TestDocsSim(t *testing.T) {
	t.Parallel()
	url, key, out, _ := startSimCLI(t)
	port := portOf(url)
	require.NotEmpty(t, port, url)
	require.Equal(t, 2, strings.Count(out, key), "the key is printed twice: as itself and in the export")
	out = strings.ReplaceAll(out, "127.0.0.1:"+port+"/", "127.0.0.1:"+simPort+"/")
	out = strings.ReplaceAll(out, key, "idc_"+strings.Repeat("x", 32))
	checkDocGolden(t, "sim.txt", commandLine("sim")+out+"\n")
}

// TestDocsFailedCall: what a failed call prints, stdout and stderr in the
// order a terminal shows them, and its exit code. The request ID, the port
// and the times, which differ each run, are replaced by fixed ones.
func TestDocsFailedCall(t *testing.T) {
	t.Parallel()
	srv := idctest.Start(t, idctest.WithServiceDefaults())
	env := map[string]string{"IDENTITYCALL_BASE_URL": srv.URL, "IDENTITYCALL_API_KEY": srv.NewKey(idctest.Read)}
	var out syncBuffer
	sys := &system{getenv: func(k string) string { return env[k] }, stdin: strings.NewReader(""), stdout: &out, stderr: &out}
	args := []string{"-email", "ops@example.com", "GET", "/recordings/4815"}
	code := run(context.Background(), args, sys)
	require.Equal(t, 1, code, out.String())

	got := out.String() // no queued: the Transport skips its limiter while it only pauses, and no 429 came
	for _, r := range []struct{ re, with string }{
		{`[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`, "3f6c1d2e-8a4b-4c7e-9d15-2b7e0a9c4f81"},
		{`127\.0\.0\.1:` + portOf(srv.URL) + `/`, "127.0.0.1:" + simPort + "/"},
		{`(?m)^\d\d:\d\d:\d\d\.\d{3}  WARN`, "09:14:06.655  WARN"},
		{`"duration": "[^"]+"`, `"duration": "38ms"`},
		{`"started_at": "\d\d:\d\d:\d\d\.\d{3}"`, `"started_at": "09:14:06.617"`},
		{`(?m)^Time:        \S+$`, "Time:        2026-03-02T09:14:06Z"},
		{`(?m)^Waited:      \S+$`, "Waited:      38ms"},
	} {
		re := regexp.MustCompile(r.re)
		require.NotEmpty(t, re.FindAllString(got, -1), "%s in %s", r.re, got)
		got = re.ReplaceAllLiteralString(got, r.with)
	}
	checkDocGolden(t, "call.txt", commandLine(args...)+got+"$ echo $?\n"+strconv.Itoa(code)+"\n")
}

// TestDocsServiceLog: the service log that the docs' tickets and reports
// read, and what ticket and report print of it. The commands read the log
// by its full path and are shown as a user types them, in its directory.
func TestDocsServiceLog(t *testing.T) {
	t.Parallel()
	l := runService(t)
	log := normalizeLog(t, l)
	checkDocGolden(t, "service.log", log)
	checkOnlyTimesChanged(t, l, log)

	var ids struct{ ticket, limited string }
	for line := range strings.Lines(log) {
		if strings.Contains(line, `"status":404`) {
			ids.ticket = field(t, line, schema.RequestID)
		}
		if strings.Contains(line, `"status":429`) {
			ids.limited = field(t, line, schema.RequestID)
		}
	}
	require.Equal(t, l.ticket, ids.ticket)
	require.Equal(t, l.limited, ids.limited)

	path := filepath.Join(t.TempDir(), "service.log")
	require.NoError(t, os.WriteFile(path, []byte(log), 0o600))
	for _, c := range []struct {
		golden string
		args   []string
	}{
		{"ticket.txt", []string{"ticket", "-log", "service.log", "-email", "ops@example.com", l.ticket}},
		{"report.txt", []string{"report", "-log", "service.log"}},
		{"report-json.txt", []string{"report", "-json", "-log", "service.log"}},
	} {
		run := slices.Clone(c.args)
		run[slices.Index(run, "service.log")] = path
		code, out, stderr := runCLI(t, nil, "", run...)
		require.Equal(t, 0, code, stderr)
		assert.Empty(t, stderr, c.args)
		assert.NotContains(t, out, path, "the output names no path of the test's")
		checkDocGolden(t, c.golden, commandLine(c.args...)+out)
	}
}

// field is the string value of key in a JSON line.
func field(t *testing.T, line, key string) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(line), &m))
	s, _ := m[key].(string)
	return s
}

// checkOnlyTimesChanged checks that normalizeLog changed the times and the
// ports of the log (dropping a queued of scheduling noise), and nothing else.
func checkOnlyTimesChanged(t *testing.T, l *serviceLog, log string) {
	t.Helper()
	before, after := strings.Split(l.ports.Replace(string(l.raw)), "\n"), strings.Split(log, "\n")
	require.Len(t, after, len(before))
	for i := range before {
		if before[i] == "" {
			continue
		}
		var b, a map[string]any
		require.NoError(t, json.Unmarshal([]byte(before[i]), &b))
		require.NoError(t, json.Unmarshal([]byte(after[i]), &a))
		for _, key := range []string{"ts", schema.StartedAt, schema.Duration, schema.RetryIn, schema.Queued, schema.FirstAt, schema.LastAt} {
			delete(b, key)
			delete(a, key)
		}
		assert.Equal(t, b, a, "line %d", i+1)
	}
}

// TestDocsCommandsRun: the commands docs/cli.md shows run as written
// against the simulator, in a directory that holds call.wav and the docs'
// service.log, with REQUEST_ID standing for the ID of the ticket
// support.md shows. Not parallel: it changes the working directory.
func TestDocsCommandsRun(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "cli.md"))
	require.NoError(t, err)
	log, err := os.ReadFile(filepath.Join(docsDir, "service.log"))
	require.NoError(t, err)
	var id string
	for line := range strings.Lines(string(log)) {
		if strings.Contains(line, `"status":404`) {
			id = field(t, line, schema.RequestID)
		}
	}
	require.NotEmpty(t, id)

	t.Chdir(t.TempDir())
	wav, _ := audioFile(t)
	require.NoError(t, os.Rename(wav, "call.wav"))
	require.NoError(t, os.WriteFile("service.log", log, 0o600))
	url, key, _, _ := startSimCLI(t)
	env := map[string]string{"IDENTITYCALL_API_KEY": key, "IDENTITYCALL_BASE_URL": url}

	var commands []string
	for _, block := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(doc), -1) {
		for line := range strings.Lines(block[1]) {
			line, _, _ = strings.Cut(line, " #")
			if line = strings.TrimSpace(line); strings.HasPrefix(line, "idctrace ") {
				commands = append(commands, strings.ReplaceAll(line, "REQUEST_ID", id))
			}
		}
	}
	require.Len(t, commands, 5, "the calls, the upload, ticket and report: %q", commands)
	for _, command := range commands {
		code, stdout, stderr := runCLI(t, env, "", shellWords(t, command)[1:]...)
		assert.Equal(t, 0, code, "%s\n%s%s", command, stdout, stderr)
	}
}
