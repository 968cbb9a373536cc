package idcredis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// storeTimeout bounds each call a Limiter makes to Redis.
const storeTimeout = time.Second

var (
	// errNoAnswer replaces the error of a call that the limiter's bound cut
	// short, so that it cannot read as the caller's own deadline.
	errNoAnswer = errors.New("idcredis: Redis did not answer in time")
	// errTaken reports a key of another type, perhaps another
	// application's: the limiter never overwrites it.
	errTaken = errors.New("idcredis: the key is taken: Redis holds another type than a hash under it")
)

// A call is one run of a script, which may outlive the Wait that made it.
type call struct {
	done chan struct{} // closed once v and err are set
	v    []int64
	err  error
	lost bool // under limiter.mu: given up at the bound, and still running
}

// run runs script on the key and returns its answer, two numbers, or why
// not: ctx's error when ctx ends first, else the store's.
func (l *limiter) run(ctx context.Context, script *redis.Script, args ...any) ([]int64, error) {
	c := l.start(ctx, script, args...)
	select {
	case <-c.done:
		return c.v, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// start runs script in a call of its own, which does not end with ctx (it
// keeps only ctx's values): a caller that leaves must not hide a store that
// hangs. A timer gives the call up at the limiter's bound even when the
// client ignores contexts; the store then counts as down until the call
// has returned. A store that is down is not asked.
func (l *limiter) start(ctx context.Context, script *redis.Script, args ...any) *call {
	c := &call{done: make(chan struct{})}
	if c.err = l.storeDown(); c.err != nil {
		close(c.done)
		return c
	}
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	timer := time.AfterFunc(l.timeout, func() {
		l.giveUp(c)
		cancel() // for a client that honours contexts
	})
	go func() {
		defer cancel()
		start := time.Now()
		v, err := script.Run(cctx, l.rdb, []string{l.key}, args...).Int64Slice()
		timer.Stop()
		switch {
		case err == nil && len(v) != 2:
			err = errors.New("idcredis: Redis answered a script with other than two numbers")
		case err == nil && v[0] == taken:
			err = errTaken
		case err != nil && time.Since(start) >= l.timeout: // whatever ended it: the bound, or the client's own timeout
			err = errNoAnswer
		case err != nil:
			err = fmt.Errorf("idcredis: Redis: %w", err)
		}
		l.returned(c, v, err)
	}()
	return c
}

// giveUp ends c, unless it has returned: the store is down until c
// returns, so that a hung store holds no more calls than were started
// before the first was given up.
func (l *limiter) giveUp(c *call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-c.done:
		return
	default:
	}
	c.lost, c.err = true, errNoAnswer
	l.lost++
	l.markDown(errNoAnswer)
	close(c.done)
}

// returned ends c with its answer, or counts it back when it was given up.
func (l *limiter) returned(c *call, v []int64, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.lost {
		l.lost--
		return
	}
	if err != nil {
		l.markDown(err)
	} else {
		l.downErr = nil // it answers
	}
	c.v, c.err = v, err
	close(c.done)
}

// markDown records a failure of the store: it is not asked again for the
// limiter's bound. The caller holds l.mu.
func (l *limiter) markDown(err error) {
	l.down, l.downErr = time.Now().Add(l.timeout), err
}

// storeDown returns the error of a store that failed less than the
// limiter's bound ago, or that still holds a call it gave up. Past that,
// one caller asks it again while the others keep its error for another
// bound: a store that stays down holds one caller at a time, not all.
func (l *limiter) storeDown() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.downErr == nil:
		return nil
	case l.lost > 0 || time.Now().Before(l.down):
		return l.downErr
	}
	l.down = time.Now().Add(l.timeout)
	return nil
}
