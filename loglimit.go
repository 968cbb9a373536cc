package idctrace

import (
	"maps"
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

// kindOf is the kind of failure r records. Only a record without a status
// has an errType (record.finish sets it), so cause is empty for a status.
func kindOf(r *record) kind {
	return kind{method: r.method, route: r.route, status: r.status, cause: r.errType}
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
// summary entry per window stands for them. As in zap's sampler, the lock
// only guards the counting: summaries are written after it is released, by
// a timer that exists only while one is pending. A nil *logLimit writes
// every entry.
type logLimit struct {
	n     int
	per   time.Duration
	write func(summary)
	now   func() time.Time

	mu      sync.Mutex
	windows map[kind]*window
	pending []*window // windows with a summary to write, in no order
	timer   *time.Timer
	due     time.Time // when timer fires
	pruneAt int       // the size of windows past which ended ones are forgotten
	writing int       // summaries being written
	written sync.Cond // signalled when writing drops to 0
}

// minPrune is the fewest windows worth pruning.
const minPrune = 64

func newLogLimit(n int, per time.Duration, write func(summary)) *logLimit {
	l := &logLimit{n: n, per: per, write: write, now: time.Now, windows: make(map[kind]*window), pruneAt: minPrune}
	l.written.L = &l.mu
	return l
}

// allow reports whether r's entry is written; when it is not, r is counted
// into its kind's summary.
func (l *logLimit) allow(r *record, lvl zapcore.Level) bool {
	if l == nil {
		return true
	}
	k := kindOf(r)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.windows[k]
	if w == nil || now.Sub(w.start) >= l.per {
		if len(l.windows) >= l.pruneAt {
			// Forget the windows that have ended, and prune next at twice
			// the size left: a constant cost per window on average.
			maps.DeleteFunc(l.windows, func(_ kind, old *window) bool { return now.Sub(old.start) >= l.per })
			l.pruneAt = max(minPrune, 2*len(l.windows))
		}
		w = &window{start: now} // an ended window with a summary stays pending
		l.windows[k] = w
	}
	if w.logged < l.n {
		w.logged++
		return true
	}
	if w.sum.count == 0 {
		l.pending = append(l.pending, w)
		l.schedule(w.start.Add(l.per), now)
		w.sum = summary{kind: k, level: lvl, firstID: r.requestID, firstAt: r.started}
	}
	w.sum.count++
	w.sum.lastID, w.sum.lastAt = r.requestID, r.started
	return false
}

// schedule makes the timer fire at end, or earlier if it already will:
// it writes the summaries of the windows that have ended. The caller holds
// l.mu.
func (l *logLimit) schedule(end, now time.Time) {
	switch {
	case l.timer == nil:
		l.timer = time.AfterFunc(end.Sub(now), func() { l.writeSummaries(false) })
	case end.Before(l.due):
		l.timer.Reset(end.Sub(now))
	default:
		return
	}
	l.due = end
}

// flush writes every pending summary at once, and returns when they and
// those the timer is writing are written.
func (l *logLimit) flush() {
	if l != nil {
		l.writeSummaries(true)
	}
}

// writeSummaries writes the pending summaries of the windows that have
// ended, or of all.
func (l *logLimit) writeSummaries(all bool) {
	now := l.now()
	l.mu.Lock()
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil // scheduled again for the windows that have yet to end
	}
	var out []summary
	kept := l.pending[:0]
	for _, w := range l.pending {
		if end := w.start.Add(l.per); !all && now.Before(end) {
			kept = append(kept, w)
			l.schedule(end, now)
		} else {
			out = append(out, w.sum)
			w.sum = summary{}
		}
	}
	clear(l.pending[len(kept):])
	l.pending = kept
	l.writing += len(out)
	l.mu.Unlock()

	for _, s := range out {
		l.write(s)
	}

	l.mu.Lock()
	l.writing -= len(out)
	if l.writing == 0 {
		l.written.Broadcast()
	}
	for all && l.writing > 0 {
		l.written.Wait() // Flush returns once the timer's summaries are written too
	}
	l.mu.Unlock()
}

// writeSummary writes the entry of a storm summary.
func (t *Transport) writeSummary(s summary) {
	ce := check(t.logger, s.level, schema.Summarized)
	if ce == nil {
		return
	}
	fields := append(make([]zap.Field, 0, 9), zap.String(schema.Method, s.method))
	if s.route != "" {
		fields = append(fields, zap.String(schema.Route, s.route))
	}
	if s.status != 0 {
		fields = append(fields, zap.Int(schema.Status, s.status))
	} else {
		fields = append(fields, zap.String(schema.ErrorType, s.cause))
	}
	write(ce, append(fields,
		zap.Int(schema.Suppressed, s.count),
		zap.String(schema.FirstRequestID, s.firstID),
		zap.String(schema.LastRequestID, s.lastID),
		zap.Time(schema.FirstAt, s.firstAt.UTC()),
		zap.Time(schema.LastAt, s.lastAt.UTC()),
	))
}
