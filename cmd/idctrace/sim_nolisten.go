//go:build !idctest_listener

package main

import (
	"errors"

	"github.com/identitycall/idctrace/idctest"
)

// startSim starts the simulator on a free port on 127.0.0.1. Listening on
// addr needs idctest.NewUnstartedServer, which this idctest lacks yet: see
// sim_listen.go, which replaces this file once it has it.
func startSim(addr string, opts ...idctest.Option) (*idctest.Server, error) {
	if addr != "" {
		return nil, errors.New("-addr is not available yet: it needs idctest.NewUnstartedServer, which this build's idctest lacks; without -addr the simulator listens on a free port on 127.0.0.1")
	}
	return idctest.NewServer(opts...), nil
}
