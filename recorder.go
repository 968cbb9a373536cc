package idctrace

import (
	"bufio"
	"cmp"
	"encoding/json"
	"io"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/identitycall/idctrace/internal/redact"
)

// defaultRecorderSize is the number of failures a [Recorder] keeps when
// [NewRecorder] is given zero or less.
const defaultRecorderSize = 50

// A Recorder keeps the most recent failed attempts of one or more
// Transports in memory, so they can be attached to a support ticket as one
// bundle ([Recorder.WriteBundle]) or looked at on a debug page
// ([Recorder.ServeHTTP]). Attach it with [WithRecorder]. It holds exactly
// what is logged, already redacted, and no request or response. It keeps
// failures at Warn and above, so not the not-ready answers polling meets,
// which log at Debug. It is safe for concurrent use.
type Recorder struct {
	now  func() time.Time
	size int // failures kept

	mu     sync.Mutex
	held   []record // copies, oldest first until full, then a circular buffer
	next   int      // the oldest once held is full, where the next one goes
	counts kindCounts
}

// NewRecorder returns a Recorder that keeps the last size failures; zero or
// less means 50.
func NewRecorder(size int) *Recorder {
	size = cmp.Or(max(size, 0), defaultRecorderSize)
	return &Recorder{now: time.Now, size: size, held: make([]record, 0, size), counts: make(kindCounts)}
}

// add keeps and counts f, whose entry has level lvl, when lvl is at least
// the Recorder's. It keeps a copy without the references that would keep a
// request, a response body or an unredacted error alive. A nil *Recorder
// keeps nothing.
func (r *Recorder) add(f *record, lvl zapcore.Level) {
	if r == nil || lvl < zapcore.WarnLevel {
		return
	}
	c := *f
	c.sent, c.err, c.secrets, c.ctx, c.respBody, c.extra = nil, nil, nil, nil, nil, nil
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.held) < r.size {
		r.held = append(r.held, c)
	} else {
		r.held[r.next] = c
		r.next = (r.next + 1) % r.size
	}
	r.counts.add(kindOf(f), now)
}

// Len returns the number of failures held.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.held)
}

// snapshot returns the failures held, oldest first.
func (r *Recorder) snapshot() []record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Concat(r.held[r.next:], r.held[:r.next])
}

// bundleHeader is the first line of a bundle.
type bundleHeader struct {
	Bundle      string    `json:"bundle"`
	Account     string    `json:"account,omitempty"`
	GeneratedAt time.Time `json:"generated_at"`
	Failures    int       `json:"failures"`
}

// WriteBundle writes the failures held to w as JSON lines, to attach to a
// support ticket: first a header line with accountEmail, the time and the
// count, then one line per failed attempt, oldest first, with the fields of
// the log entry. Times are UTC, RFC 3339; durations are Go duration strings.
func (r *Recorder) WriteBundle(w io.Writer, accountEmail string) error {
	failures := r.snapshot()
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(bundleHeader{
		Bundle:      "identitycall-failures",
		Account:     redact.Text(accountEmail, nil, false),
		GeneratedAt: r.now().UTC().Truncate(time.Second),
		Failures:    len(failures),
	}); err != nil {
		return err
	}
	// Only the record's fields, with times in RFC 3339 and durations as Go
	// duration strings.
	lines := zapcore.NewJSONEncoder(zapcore.EncoderConfig{
		EncodeTime:     zapcore.RFC3339NanoTimeEncoder,
		EncodeDuration: zapcore.StringDurationEncoder,
		LineEnding:     "\n",
	})
	for i := range failures {
		buf, err := lines.EncodeEntry(zapcore.Entry{}, failures[i].fields())
		if err != nil {
			return err
		}
		bw.Write(buf.Bytes()) // a write error sticks: Flush returns it
		buf.Free()
	}
	return bw.Flush()
}
