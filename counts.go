package idctrace

import (
	"cmp"
	"slices"
	"time"
)

// countedMinutes is how far back a Recorder's counts per minute go.
const countedMinutes = 60

// maxKinds bounds the kinds a Recorder counts apart; failures of further
// kinds are counted under one kind with no method.
const maxKinds = 100

// kindCounts counts failures per kind, and per minute over the last hour,
// in memory bounded by maxKinds. Its owner's mutex guards it.
type kindCounts map[kind]*kindCount

// kindCount is what is counted of one kind.
type kindCount struct {
	kind
	total       int
	first, last time.Time
	minutes     [countedMinutes]int   // failures in minute m at m % countedMinutes
	minuteOf    [countedMinutes]int64 // which minute each slot counts
}

// add counts a failure of kind k at now, under "other kinds" when k is new
// and maxKinds kinds are counted already.
func (c kindCounts) add(k kind, now time.Time) {
	n, ok := c[k]
	if !ok && len(c) >= maxKinds {
		k = kind{route: "other kinds"}
		n = c[k]
	}
	if n == nil {
		n = &kindCount{kind: k, first: now}
		c[k] = n
	}
	n.total++
	n.last = now
	m := now.Unix() / 60
	i := m % countedMinutes
	if n.minuteOf[i] != m {
		n.minuteOf[i], n.minutes[i] = m, 0
	}
	n.minutes[i]++
}

// perMinute returns the failures of each of the last countedMinutes
// minutes up to now, oldest first.
func (n *kindCount) perMinute(now time.Time) []int {
	out := make([]int, countedMinutes)
	first := now.Unix()/60 - (countedMinutes - 1)
	for j := range out {
		m := first + int64(j)
		if i := m % countedMinutes; n.minuteOf[i] == m {
			out[j] = n.minutes[i]
		}
	}
	return out
}

// sorted returns copies of the counts, the most failures first, then the
// latest.
func (c kindCounts) sorted() []kindCount {
	out := make([]kindCount, 0, len(c))
	for _, n := range c {
		out = append(out, *n)
	}
	slices.SortFunc(out, func(a, b kindCount) int {
		return cmp.Or(cmp.Compare(b.total, a.total), b.last.Compare(a.last))
	})
	return out
}
