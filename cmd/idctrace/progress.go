package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progressEvery is the shortest time between two updates of the progress
// line: often enough to look alive, rarely enough to cost nothing.
const progressEvery = 100 * time.Millisecond

// progress shows, on one line rewritten in place as curl's meter is, how
// much of a body is sent: bytes of the total, rate and time left. Each
// attempt starts it again; each ends its line, complete or not. A nil
// *progress shows nothing.
type progress struct {
	w     *statusWriter
	now   func() time.Time
	total int64 // -1: unknown

	mu      sync.Mutex
	attempt int
	start   time.Time
	shown   time.Time // of the last update
	sent    int64
	done    bool // this attempt's final line is written
}

func newProgress(w *statusWriter, now func() time.Time, total int64) *progress {
	return &progress{w: w, now: now, total: total}
}

// count returns rc, counted as a new attempt.
func (p *progress) count(rc io.ReadCloser) io.ReadCloser {
	if p == nil {
		return rc
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.attempt++
	p.sent, p.done = 0, false
	p.start, p.shown = time.Time{}, time.Time{}
	return &countedBody{rc: rc, p: p, attempt: p.attempt}
}

type countedBody struct {
	rc      io.ReadCloser
	p       *progress
	attempt int
}

func (b *countedBody) Read(buf []byte) (int, error) {
	b.p.begin(b.attempt)
	n, err := b.rc.Read(buf)
	b.p.add(b.attempt, n, err == io.EOF)
	return n, err
}

func (b *countedBody) Close() error {
	b.p.add(b.attempt, 0, true)
	return b.rc.Close()
}

// begin starts the clock of attempt when the transport first asks for its
// bytes: the time to connect is not sending time.
func (p *progress) begin(attempt int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if attempt == p.attempt && p.start.IsZero() {
		p.start = p.now()
	}
}

// add counts n more bytes of attempt and shows them if the last update is
// old enough, or always when the attempt ends.
func (p *progress) add(attempt, n int, end bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if attempt != p.attempt || p.done {
		return // a Close after the end, or an attempt a retry replaced
	}
	now := p.now()
	if p.start.IsZero() {
		p.start = now // closed before its first read
	}
	p.sent += int64(n)
	if !end && !p.shown.IsZero() && now.Sub(p.shown) < progressEvery {
		return
	}
	p.shown, p.done = now, end
	p.w.status(p.line(now), end)
}

// line is the progress line at now.
func (p *progress) line(now time.Time) string {
	var b strings.Builder
	if p.attempt > 1 {
		fmt.Fprintf(&b, "attempt %d: ", p.attempt)
	}
	b.WriteString(size(p.sent))
	if p.total >= 0 {
		fmt.Fprintf(&b, " of %s (%d%%)", size(p.total), percent(p.sent, p.total))
	} else {
		b.WriteString(" sent")
	}
	elapsed := now.Sub(p.start)
	if elapsed <= 0 || !p.done && elapsed < progressEvery {
		return b.String() // too soon for a rate that means anything
	}
	rate := float64(p.sent) / elapsed.Seconds()
	fmt.Fprintf(&b, "  %s/s", size(int64(rate)))
	switch {
	case p.done:
		if p.total >= 0 && p.sent < p.total {
			b.WriteString("  stopped")
		}
		fmt.Fprintf(&b, "  in %s", clock(elapsed))
	case p.total >= 0 && rate > 0:
		left := time.Duration(float64(p.total-p.sent) / rate * float64(time.Second))
		fmt.Fprintf(&b, "  %s left", clock(left))
	}
	return b.String()
}

func percent(n, total int64) int64 {
	if total == 0 {
		return 100
	}
	return n * 100 / total
}

// size writes n bytes in binary units, as a human reads them.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n)/unit, 0
	for ; f >= unit && i < 3; i++ {
		f /= unit
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGT"[i])
}

// clock writes d as m:ss, or h:mm:ss from an hour.
func clock(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// statusWriter is stderr shared by a status line, rewritten in place, and
// whole lines such as the log's: a line written while the status line
// shows goes below it.
type statusWriter struct {
	mu   sync.Mutex
	w    io.Writer
	open int // length of the status line on screen; 0: none
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open > 0 {
		s.open = 0
		if _, err := io.WriteString(s.w, "\n"); err != nil {
			return 0, err
		}
	}
	return s.w.Write(b)
}

// status shows line in place of the status line; final ends it.
func (s *statusWriter) status(line string, final bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pad := strings.Repeat(" ", max(0, s.open-len(line))) // what is left of a longer line
	end := ""
	s.open = len(line)
	if final {
		end, s.open = "\n", 0
	}
	io.WriteString(s.w, "\r"+line+pad+end)
}
