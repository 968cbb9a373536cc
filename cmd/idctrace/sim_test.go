package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syncBuffer is a strings.Builder safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startSimCLI runs `idctrace sim args...` until the test ends, and returns
// its base URL and key as it printed them, what it printed, and its stderr.
func startSimCLI(t *testing.T, args ...string) (url, key, out string, stderr *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stderr = &syncBuffer{}
	done := make(chan int)
	go func() {
		code := run(ctx, append([]string{"sim"}, args...), &system{getenv: func(string) string { return "" }, stdout: pw, stderr: stderr})
		pw.Close()
		done <- code
	}()
	t.Cleanup(func() {
		cancel()
		assert.Equal(t, 0, <-done, "an interrupt ends the simulator without an error")
		assert.Contains(t, stderr.String(), "idctrace sim: stopped")
	})
	sc := bufio.NewScanner(pr)
	var lines []string
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		if m := regexp.MustCompile(`^IdentityCall simulator at (http://\S+)$`).FindStringSubmatch(line); m != nil {
			url = m[1]
		}
		if m := regexp.MustCompile(`^  (idc_[A-Za-z0-9]{32})$`).FindStringSubmatch(line); m != nil {
			key = m[1]
		}
		if strings.HasSuffix(line, "Interrupt (Ctrl-C) to stop.") {
			break
		}
	}
	go io.Copy(io.Discard, pr) // whatever else it prints
	require.NotEmpty(t, url, "the URL is printed: %q", lines)
	require.NotEmpty(t, key, "the key is printed whole: %q", lines)
	out = strings.Join(lines, "\n")
	assert.Contains(t, out, "export IDENTITYCALL_BASE_URL="+url)
	assert.Contains(t, out, "export IDENTITYCALL_API_KEY="+key)
	return url, key, out, stderr
}

func TestSim(t *testing.T) {
	t.Parallel()
	url, key, out, simLog := startSimCLI(t)
	assert.Contains(t, out, "The simulator has a rate limit of 60 requests per 1m0s per key; a transcription takes 3s.")
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+/api/v1/public$`, url)
	env := map[string]string{"IDENTITYCALL_API_KEY": key, "IDENTITYCALL_BASE_URL": url}

	// The key may read, write and delete.
	code, out, stderr := runCLI(t, env, "", "POST", "/projects", `{"name":"Support","language":"en"}`)
	require.Equal(t, 0, code, stderr)
	id := regexp.MustCompile(`"id":(\d+)`).FindStringSubmatch(out)
	require.Len(t, id, 2, out)
	code, out, stderr = runCLI(t, env, "", "GET", "/projects")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, `"name":"Support"`)
	code, _, stderr = runCLI(t, env, "", "DELETE", "/projects/"+id[1])
	assert.Equal(t, 0, code, stderr)

	assert.Eventually(t, func() bool { return strings.Count(simLog.String(), "sim  request") == 3 }, 10*time.Second, 10*time.Millisecond,
		"the simulator logs each request: %s", simLog)
	assert.NotContains(t, simLog.String(), key[4:], "the simulator's log masks the key")
}

func TestSimRate(t *testing.T) {
	t.Parallel()
	url, key, out, _ := startSimCLI(t, "-rate", "2/h")
	assert.Contains(t, out, "The simulator has a rate limit of 2 requests per 1h0m0s per key;")
	env := map[string]string{"IDENTITYCALL_API_KEY": key, "IDENTITYCALL_BASE_URL": url}
	for range 2 {
		code, _, stderr := runCLI(t, env, "", "GET", "/projects")
		require.Equal(t, 0, code, stderr)
	}
	code, _, stderr := runCLI(t, env, "", "-retries", "0", "GET", "/projects")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "Status:      429 Too Many Requests")
}

func TestSimUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"sim", "-h"}, 0, "it is printed whole, the one secret\nthis command ever prints"},
		{[]string{"sim", "-processing", "soon"}, 2, `invalid value "soon" for flag -processing`},
		{[]string{"sim", "-rate", "60"}, 2, `-rate "60": want N/DURATION`},
		{[]string{"sim", "-rate", "0/1m"}, 2, `-rate "0/1m": want N/DURATION`},
		{[]string{"sim", "-rate", "5/0s"}, 2, `-rate "5/0s": want N/DURATION`},
		{[]string{"sim", "-rate", "5/soon"}, 2, `-rate "5/soon": want N/DURATION`},
		{[]string{"sim", "extra"}, 2, `idctrace sim: unexpected argument "extra"`},
		{[]string{"sim", "-port", "1"}, 2, "flag provided but not defined: -port"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			code, out, stderr := runCLI(t, nil, "", tt.args...)
			assert.Equal(t, tt.code, code)
			assert.Empty(t, out)
			assert.Contains(t, stderr, tt.want)
		})
	}
}

func TestParseRate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in  string
		n   int
		per time.Duration
	}{{"60/1m", 60, time.Minute}, {"10/s", 10, time.Second}, {"100/h", 100, time.Hour}, {"5/1.5s", 5, 1500 * time.Millisecond}, {"1/.5s", 1, 500 * time.Millisecond}} {
		n, per, err := parseRate(tt.in)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.n, n, tt.in)
		assert.Equal(t, tt.per, per, tt.in)
	}
	for _, in := range []string{"", "/", "60/", "/1m", "x/1m", "-1/1m", "1/-1m", "1/1m/2"} {
		_, _, err := parseRate(in)
		assert.Error(t, err, in)
	}
}

func TestSimAddr(t *testing.T) {
	t.Parallel()
	// Port 0 asks the system for a free one: -addr is honoured, and the
	// URL shows the port it got.
	url, key, _, _ := startSimCLI(t, "-addr", "127.0.0.1:0")
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+/api/v1/public$`, url)
	code, _, stderr := runCLI(t, map[string]string{"IDENTITYCALL_API_KEY": key, "IDENTITYCALL_BASE_URL": url}, "", "GET", "/projects")
	assert.Equal(t, 0, code, stderr)

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	code, out, stderr := runCLI(t, nil, "", "sim", "-addr", busy.Addr().String())
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Regexp(t, regexp.QuoteMeta("idctrace sim: listen tcp "+busy.Addr().String()+": bind: address already in use"), stderr)
}

// TestSimUnlimitedAndAtOnce: -rate 0 turns the quota off, -processing 0
// completes each transcription at once.
func TestSimUnlimitedAndAtOnce(t *testing.T) {
	t.Parallel()
	url, key, out, _ := startSimCLI(t, "-rate", "0", "-processing", "0")
	assert.Contains(t, out, "The simulator has no rate limit; a transcription takes 0s.")
	env := map[string]string{"IDENTITYCALL_API_KEY": key, "IDENTITYCALL_BASE_URL": url}
	for range 70 { // more than a minute's Free quota
		code, _, stderr := runCLI(t, env, "", "GET", "/projects")
		require.Equal(t, 0, code, stderr)
	}
}

// TestTheHelpsExamplesRunAsWritten: the commands `idctrace sim` prints, then
// the upload example of `idctrace -h`, run against the simulator as written
// (in a directory holding call.wav), all succeed. Not parallel: it changes
// the working directory.
func TestTheHelpsExamplesRunAsWritten(t *testing.T) {
	t.Chdir(t.TempDir())
	path, _ := audioFile(t)
	require.NoError(t, os.Rename(path, "call.wav"))
	url, key, out, _ := startSimCLI(t)
	_, _, help := runCLI(t, nil, "", "-h")
	var commands []string
	for _, text := range []string{out, help} {
		for _, line := range strings.Split(text, "\n") {
			if line = strings.TrimSpace(line); strings.HasPrefix(line, "idctrace ") && !strings.Contains(line, "[") {
				commands = append(commands, line)
			}
		}
	}
	require.Len(t, commands, 3, "the sim's two examples and the help's upload: %q", commands)
	env := map[string]string{"IDENTITYCALL_API_KEY": key, "IDENTITYCALL_BASE_URL": url}
	for _, command := range commands {
		code, stdout, stderr := runCLI(t, env, "", shellWords(t, command)[1:]...)
		assert.Equal(t, 0, code, "%s\n%s%s", command, stdout, stderr)
	}
}

// shellWords splits a command line as a shell does, for the few forms the
// help uses: words apart by spaces, and text in single quotes kept whole.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	for line != "" {
		line = strings.TrimLeft(line, " ")
		if strings.HasPrefix(line, "'") {
			word, rest, ok := strings.Cut(line[1:], "'")
			require.True(t, ok, "unclosed quote in %q", line)
			words, line = append(words, word), rest
			continue
		}
		word, rest, _ := strings.Cut(line, " ")
		words, line = append(words, word), rest
	}
	return words
}
