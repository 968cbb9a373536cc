package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/identitycall/idctrace/idctest"
	"github.com/identitycall/idctrace/internal/redact"
)

// runSim is `idctrace sim`: the simulator, until ctx ends.
func runSim(ctx context.Context, args []string, sys *system) int {
	fs := flag.NewFlagSet("idctrace sim", flag.ContinueOnError)
	fs.SetOutput(sys.stderr)
	addr := fs.String("addr", "", "listen on HOST:PORT; default: a free port on 127.0.0.1")
	rate := fs.String("rate", "60/1m", "each key's rate limit, N/DURATION such as 60/1m (the Free plan's) or 300/1m; 0 for none")
	processing := fs.Duration("processing", 3*time.Second, "how long a transcription takes after its upload; 0 for at once")
	fs.Usage = func() {
		fmt.Fprint(sys.stderr, `Usage: idctrace sim [-addr HOST:PORT] [-rate N/DURATION] [-processing DURATION]

Runs the IdentityCall simulator (package idctest) until interrupted, and
prints its base URL and an API key with every permission, so that this
command and code in any language can be tried without an account. Like the
service for a new account, it allows each key 60 requests a minute and
completes each transcription a few seconds after its upload. The key is the
simulator's own and opens nothing else: it is printed whole, the one secret
this command ever prints. Each request is logged on stderr.

Flags:
`)
		fs.PrintDefaults()
	}
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(sys.stderr, "idctrace sim: unexpected argument %q\n", redact.Text(fs.Arg(0), nil, false))
		return 2
	}
	logger := newLogger(sys.stderr, false, zapcore.InfoLevel).Named("sim")
	defer logger.Sync()
	opts := []idctest.Option{idctest.WithLogger(logger), idctest.WithProcessingTime(max(*processing, time.Nanosecond))}
	limit := "no rate limit"
	if *rate != "0" {
		n, per, err := parseRate(*rate)
		if err != nil {
			fmt.Fprintln(sys.stderr, "idctrace sim:", redact.Text(err.Error(), nil, false))
			return 2
		}
		opts = append(opts, idctest.WithRateLimit(n, per))
		limit = fmt.Sprintf("a rate limit of %d requests per %v per key", n, per)
	}
	srv, err := startSim(*addr, opts...)
	if err != nil {
		fmt.Fprintln(sys.stderr, "idctrace sim:", redact.Text(err.Error(), nil, false))
		return 1
	}
	defer srv.Close()
	key := srv.NewKey(idctest.Read, idctest.Write, idctest.Delete)
	fmt.Fprintf(sys.stdout, `IdentityCall simulator at %s
API key with every permission (read, write, delete), the simulator's own:
  %s

  export IDENTITYCALL_BASE_URL=%s
  export IDENTITYCALL_API_KEY=%s
  idctrace POST /projects '{"name":"Support","language":"en"}'
  idctrace GET /projects

`, srv.URL, key, srv.URL, key)
	fmt.Fprintf(sys.stdout, "The simulator has %s; a transcription takes %v. Interrupt (Ctrl-C) to stop.\n",
		limit, max(*processing, 0))
	<-ctx.Done()
	fmt.Fprintln(sys.stderr, "idctrace sim: stopped")
	return 0
}

// parseRate reads -rate: N/DURATION, where a duration without a number,
// such as s or m, means one of that unit.
func parseRate(s string) (int, time.Duration, error) {
	bad := fmt.Errorf("-rate %q: want N/DURATION with N and DURATION above zero, such as 60/1m or 10/s", s)
	count, window, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, bad
	}
	n, err := strconv.Atoi(count)
	if err != nil || n <= 0 {
		return 0, 0, bad
	}
	if window != "" && (window[0] < '0' || window[0] > '9') && window[0] != '.' {
		window = "1" + window
	}
	per, err := time.ParseDuration(window)
	if err != nil || per <= 0 {
		return 0, 0, bad
	}
	return n, per, nil
}

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
		srv.Listener = ln // Start closes the one it came with
	}
	srv.Start()
	return srv, nil
}
