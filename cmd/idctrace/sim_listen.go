//go:build idctest_listener

// This file needs idctest.NewUnstartedServer and Server.Listener, in
// httptest's shape, which idctest is gaining on another branch. Once they
// are on main, delete sim_nolisten.go and this build constraint.

package main

import (
	"net"

	"github.com/identitycall/idctrace/idctest"
)

// startSim starts the simulator on addr, or on a free port on 127.0.0.1
// when addr is empty.
func startSim(addr string, opts ...idctest.Option) (*idctest.Server, error) {
	var ln net.Listener
	if addr != "" {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return nil, err
		}
	}
	srv := idctest.NewUnstartedServer(opts...)
	if ln != nil {
		srv.Listener.Close() // the loopback listener it came with, as httptest's does
		srv.Listener = ln
	}
	srv.Start()
	return srv, nil
}
