//go:build idctest_listener

package main

import (
	"net"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
