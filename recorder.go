package idctrace

import (
	"bufio"
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/identitycall/idctrace/internal/redact"
)

// DefaultRecorderSize is the number of failures a [Recorder] keeps when
// [NewRecorder] is given zero or less.
const DefaultRecorderSize = 50

// A Recorder keeps the most recent failed attempts of one or more
// Transports in memory, so they can be attached to a support ticket as one
// bundle. Attach it with [WithRecorder]. It records exactly what is logged,
// already redacted, and holds no request or response. It is safe for
// concurrent use.
type Recorder struct {
	mu    sync.Mutex
	ring  []failure // a circular buffer of copies
	next  int       // where the next failure goes
	count int       // failures held, at most len(ring)
}

// NewRecorder returns a Recorder that keeps the last size failures; zero or
// less means [DefaultRecorderSize].
func NewRecorder(size int) *Recorder {
	if size <= 0 {
		size = DefaultRecorderSize
	}
	return &Recorder{ring: make([]failure, size)}
}

// WithRecorder makes the Transport add every failed attempt to r, whether or
// not the logger writes it. nil records nothing.
func WithRecorder(r *Recorder) Option {
	return optionFunc(func(t *Transport) { t.recorder = r })
}

// add stores a copy of f without the references that would keep a request,
// a response body or an unredacted error alive.
func (r *Recorder) add(f *failure) {
	c := *f
	c.sent, c.err, c.secrets = nil, nil, nil
	r.mu.Lock()
	r.ring[r.next] = c
	r.next = (r.next + 1) % len(r.ring)
	r.count = min(r.count+1, len(r.ring))
	r.mu.Unlock()
}

// Len returns the number of failures held.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count
}

// Reset forgets every failure held.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.ring)
	r.next, r.count = 0, 0
}

// snapshot returns the failures held, oldest first.
func (r *Recorder) snapshot() []failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]failure, 0, r.count)
	start := (r.next - r.count + len(r.ring)) % len(r.ring)
	for i := range r.count {
		out = append(out, r.ring[(start+i)%len(r.ring)])
	}
	return out
}

// bundleHeader is the first line of a bundle.
type bundleHeader struct {
	Bundle      string    `json:"bundle"`
	Account     string    `json:"account,omitempty"`
	GeneratedAt time.Time `json:"generated_at"`
	Failures    int       `json:"failures"`
}

// bundleLine is one failed attempt, with the field names of the log entry.
type bundleLine struct {
	RequestID  string   `json:"request_id"`
	Method     string   `json:"method"`
	URL        string   `json:"url"`
	Route      string   `json:"route,omitempty"`
	Status     int      `json:"status,omitempty"`
	StartedAt  string   `json:"started_at"`
	Duration   string   `json:"duration"`
	Attempt    int      `json:"attempt"`
	Error      string   `json:"error,omitempty"`
	Errors     []string `json:"errors,omitempty"`
	RetryAfter string   `json:"retry_after,omitempty"`
	RetryIn    string   `json:"retry_in,omitempty"`
	Body       string   `json:"body,omitempty"`
	Hint       string   `json:"hint,omitempty"`
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
		GeneratedAt: time.Now().UTC().Truncate(time.Second),
		Failures:    len(failures),
	}); err != nil {
		return err
	}
	for i := range failures {
		if err := enc.Encode(failures[i].bundleLine()); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func (f *failure) bundleLine() bundleLine {
	l := bundleLine{
		RequestID: f.requestID,
		Method:    f.method,
		URL:       f.url,
		Route:     f.route,
		Status:    f.status,
		StartedAt: f.started.UTC().Format(time.RFC3339Nano),
		Duration:  f.duration.String(),
		Attempt:   f.attempt,
		Error:     f.message,
		Errors:    f.errs,
		Body:      f.body,
		Hint:      f.hint,
	}
	if f.showsRetryAfter() {
		l.RetryAfter = f.retryAfter.String()
	}
	if f.retrying {
		l.RetryIn = f.retryIn.String()
	}
	return l
}
