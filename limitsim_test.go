package idctrace

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"net/http"
	"time"
)

// A simulation runs workers that send requests through a limiter to a
// server with fixed windows, in virtual time: deterministic, and minutes of
// traffic take milliseconds. The workers do what a Transport does with its
// limiter: take a slot, check for a pause when it comes, send, observe the
// response, pause after a 429, and start again at once.
type simulation struct {
	quota   int           // the server's: quota requests per window
	window  time.Duration // fixed; starts with the first request after the last one ended
	workers int
	length  time.Duration // no slot is taken after it
	latency time.Duration // each way, drawn from [latency/10, latency]
	maxWait time.Duration // the cap on a pause, as the retry policy's MaxDelay
	// bodyRead is the time from a 429's answer to the Pause: the
	// Transport reads the body for its retry_after first.
	bodyRead time.Duration
}

// simResult counts what the server saw. After counts the requests sent at or
// after the first pause's end, and after429 those of them answered 429.
type simResult struct {
	sent, ok, tooMany int
	after, after429   int
	slots             []time.Duration
}

// run takes slots from core (whose clock it sets) and pauses lim, as a
// Transport does.
func (s simulation) run(core *limiter, lim Limiter) simResult {
	q := &eventQueue{}
	var now time.Duration // since core.base
	core.clock = func() time.Duration { return now }
	rng := rand.New(rand.NewPCG(1, 2))
	delay := func() time.Duration {
		return s.latency/10 + time.Duration(rng.Int64N(int64(s.latency-s.latency/10)+1))
	}
	var (
		res         simResult
		windowStart time.Duration
		used        int
		firstPause  time.Duration
	)
	server := func(at time.Duration) (int, time.Duration) {
		if used == 0 || at-windowStart >= s.window {
			windowStart, used = at, 0
		}
		used++
		if used <= s.quota {
			return http.StatusOK, 0
		}
		left := windowStart + s.window - at
		if s.window >= time.Second { // whole seconds, rounded up, as the API
			left = time.Duration(math.Ceil(left.Seconds())) * time.Second
		}
		return http.StatusTooManyRequests, left
	}
	for range s.workers {
		heap.Push(q, event{do: evTake})
	}
	for q.Len() > 0 {
		e := heap.Pop(q).(event)
		now = e.at
		switch e.do {
		case evTake:
			if now >= s.length {
				continue
			}
			slot, _ := core.take(now, noDeadline)
			heap.Push(q, event{at: slot, do: evSlot})
		case evSlot:
			if now >= s.length {
				continue // the batch is over
			}
			if core.paused() {
				heap.Push(q, event{at: now, do: evTake})
				continue
			}
			res.slots = append(res.slots, now)
			res.sent++
			if firstPause > 0 && now >= firstPause {
				res.after++
				e.after = true
			}
			heap.Push(q, event{at: now + delay(), do: evArrive, after: e.after})
		case evArrive:
			status, wait := server(now)
			if status == http.StatusOK {
				res.ok++
			} else {
				res.tooMany++
				if e.after {
					res.after429++
				}
			}
			heap.Push(q, event{at: now + delay(), do: evAnswer, status: status, wait: wait})
		case evAnswer:
			if e.status == http.StatusTooManyRequests {
				heap.Push(q, event{at: now + s.bodyRead, do: evPause, wait: e.wait})
				continue
			}
			heap.Push(q, event{at: now, do: evTake})
		case evPause:
			until := now + min(e.wait, s.maxWait)
			lim.Pause(core.base.Add(until))
			if firstPause == 0 {
				firstPause = until
			}
			heap.Push(q, event{at: now, do: evTake})
		}
	}
	return res
}

type eventKind int

const (
	evTake   eventKind = iota // a worker asks for a slot
	evSlot                    // its slot has come
	evArrive                  // its request reaches the server
	evAnswer                  // its response arrives
	evPause                   // its 429's body is read: the limiter pauses
)

type event struct {
	at     time.Duration
	seq    int
	do     eventKind
	after  bool // sent after the first pause ended
	status int
	wait   time.Duration
}

// eventQueue orders events by time, then by the order they were pushed.
type eventQueue struct {
	events []event
	seq    int
}

func (q *eventQueue) Len() int { return len(q.events) }
func (q *eventQueue) Less(i, j int) bool {
	a, b := q.events[i], q.events[j]
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}
func (q *eventQueue) Swap(i, j int) { q.events[i], q.events[j] = q.events[j], q.events[i] }
func (q *eventQueue) Push(x any) {
	e := x.(event)
	e.seq = q.seq
	q.seq++
	q.events = append(q.events, e)
}
func (q *eventQueue) Pop() any {
	e := q.events[len(q.events)-1]
	q.events = q.events[:len(q.events)-1]
	return e
}

// maxInWindow returns the most slots in any window of length per.
func maxInWindow(slots []time.Duration, per time.Duration) int {
	most, j := 0, 0
	for i := range slots {
		for slots[i]-slots[j] >= per {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}
