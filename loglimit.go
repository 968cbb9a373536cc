package idctrace

import (
	"sync"
	"time"

	"github.com/identitycall/idctrace/internal/schema"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// defaultLogLimit is the number of entries of one kind of failure written
// in full per second unless [WithLogLimit] says otherwise.
const defaultLogLimit = 10

// kind is what failures that one summary may stand for share.
type kind struct {
	method, route string
	status        int    // 0 for a transport error
	cause         string // the transport error's class
}

// kindOf is the kind of failure r records.
func kindOf(r *record) kind {
	k := kind{method: r.method, route: r.route, status: r.status}
	if r.status == 0 {
		k.cause = r.errType
	}
	return k
}

// window is one kind's current window: the entries written in it, and the
// summary of those counted.
type window struct {
	start  time.Time
	logged int
	sum    summary
}

// summary is the failures of one kind counted in one window.
type summary struct {
	kind
	level           zapcore.Level
	count           int
	firstID, lastID string
	firstAt, lastAt time.Time
}

// logLimit is the storm limit: per kind of failure, the first n entries of
// each window of length per are written, the others counted, and one
// summary entry per window stands for them. A timer, scheduled only while a
// summary is pending, writes it when its window ends; an idle Transport
// runs nothing. A nil *logLimit writes every entry.
type logLimit struct {
	n     int
	per   time.Duration
	write func(summary)
	now   func() time.Time

	// writing is held from taking summaries to writing them, so that a
	// Flush returns only once what the timer took is written too. It is
	// never taken while mu is held.
	writing sync.Mutex

	mu      sync.Mutex
	windows map[kind]*window
	timer   *time.Timer // set while a summary is pending
	due     time.Time   // when the timer fires
}

func newLogLimit(n int, per time.Duration, write func(summary)) *logLimit {
	return &logLimit{n: n, per: per, write: write, now: time.Now, windows: make(map[kind]*window)}
}

// admit reports whether r's entry is written; when it is not, r is counted
// into its kind's summary. A window that has ended gives its summary first.
func (l *logLimit) admit(r *record, lvl zapcore.Level) bool {
	if l == nil {
		return true
	}
	k := kindOf(r)
	now := l.now()
	l.mu.Lock()
	w := l.windows[k]
	var ended summary
	if w != nil && now.Sub(w.start) >= l.per {
		ended, w = w.sum, nil
	}
	if w == nil {
		if len(l.windows) >= pruneAt {
			l.prune(now)
		}
		w = &window{start: now}
		l.windows[k] = w
	}
	ok := w.logged < l.n
	if ok {
		w.logged++
	} else {
		w.sum.add(k, lvl, r.requestID, r.started)
		l.schedule(w.start.Add(l.per))
	}
	l.mu.Unlock()
	if ended.count > 0 {
		l.writing.Lock()
		l.write(ended)
		l.writing.Unlock()
	}
	return ok
}

// pruneAt is the number of windows past which admit forgets the ones that
// ended with nothing pending, so that the map stays small whatever the
// kinds: a pending one is written and forgotten by the timer.
const pruneAt = 64

// prune forgets the windows that have ended with nothing pending. The
// caller holds l.mu.
func (l *logLimit) prune(now time.Time) {
	for k, w := range l.windows {
		if w.sum.count == 0 && now.Sub(w.start) >= l.per {
			delete(l.windows, k)
		}
	}
}

func (s *summary) add(k kind, lvl zapcore.Level, id string, at time.Time) {
	if s.count == 0 {
		s.kind, s.level, s.firstID, s.firstAt = k, lvl, id, at
	}
	s.count++
	s.lastID, s.lastAt = id, at
}

// schedule makes the timer fire at end, or earlier if it already will. The
// caller holds l.mu.
func (l *logLimit) schedule(end time.Time) {
	switch {
	case l.timer == nil:
		l.timer = time.AfterFunc(end.Sub(l.now()), l.flushEnded)
	case end.Before(l.due):
		l.timer.Reset(end.Sub(l.now()))
	default:
		return
	}
	l.due = end
}

// flushEnded writes the summaries of the windows that have ended, and
// schedules the timer for the next one, if any.
func (l *logLimit) flushEnded() { l.take(false) }

// flush writes every pending summary at once, ended or not.
func (l *logLimit) flush() {
	if l != nil {
		l.take(true)
	}
}

// take writes the pending summaries of the windows that have ended, or of
// all windows, and forgets the windows that ended.
func (l *logLimit) take(all bool) {
	l.writing.Lock()
	defer l.writing.Unlock()
	now := l.now()
	var out []summary
	l.mu.Lock()
	var next time.Time
	for k, w := range l.windows {
		end := w.start.Add(l.per)
		ended := !now.Before(end)
		if (all || ended) && w.sum.count > 0 {
			out = append(out, w.sum)
			w.sum = summary{}
		}
		switch {
		case ended:
			delete(l.windows, k)
		case w.sum.count > 0 && (next.IsZero() || end.Before(next)):
			next = end
		}
	}
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	if !next.IsZero() {
		l.schedule(next)
	}
	l.mu.Unlock()
	for _, s := range out {
		l.write(s)
	}
}

// writeSummary writes the entry of a storm summary.
func (t *Transport) writeSummary(s summary) {
	ce := check(t.logger, s.level, schema.Summarized)
	if ce == nil {
		return
	}
	fields := make([]zap.Field, 0, 9)
	fields = append(fields, zap.String(schema.Method, s.method))
	if s.route != "" {
		fields = append(fields, zap.String(schema.Route, s.route))
	}
	if s.status != 0 {
		fields = append(fields, zap.Int(schema.Status, s.status))
	} else {
		fields = append(fields, zap.String(schema.Error, s.cause))
	}
	fields = append(fields,
		zap.Int(schema.Suppressed, s.count),
		zap.String(schema.FirstRequestID, s.firstID),
		zap.String(schema.LastRequestID, s.lastID),
		zap.Time(schema.FirstAt, s.firstAt.UTC()),
		zap.Time(schema.LastAt, s.lastAt.UTC()),
	)
	write(ce, fields)
}
