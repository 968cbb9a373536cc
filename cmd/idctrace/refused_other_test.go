//go:build !unix

package main

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// refusedAddr returns a loopback address where nothing listens: one a
// listener had, closed again. Another test may take the port meanwhile.
func refusedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
