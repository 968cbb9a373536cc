//go:build !idctest_listener

package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestSimAddrNotYet: until idctest can listen where it is told, -addr says
// so rather than listen elsewhere.
func TestSimAddrNotYet(t *testing.T) {
	t.Parallel()
	code, out, stderr := runCLI(t, nil, "", "sim", "-addr", "127.0.0.1:0")
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Contains(t, stderr, "idctrace sim: -addr is not available yet: it needs idctest.NewUnstartedServer")
}
