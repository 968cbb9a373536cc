//go:build !unix

package idctrace

import "testing"

// refusedAddr returns a loopback address where nothing listens: one a
// listener had, closed again. Another test may take the port meanwhile.
func refusedAddr(t testing.TB) string {
	t.Helper()
	ln := listen(t.(*testing.T))
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
