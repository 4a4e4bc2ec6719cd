package main

import (
	"fmt"
	"time"
)

// progress reports how far a read of offset ranges has got, on stderr, at
// most once per interval, and once at the end when the read took long
// enough that a progress line was printed.
type progress struct {
	e          *env
	what       string
	start, end map[int32]int64
	total      int64
	began      time.Time
	last       time.Time
	interval   time.Duration
	printed    bool
	done       int64
	// shown is the done count of the last line printed.
	shown int64
}

func newProgress(e *env, what string, start, end map[int32]int64) *progress {
	p := &progress{e: e, what: what, start: start, end: end, began: time.Now(), interval: time.Second}
	p.last = p.began
	for part, s := range start {
		p.total += max(0, end[part]-s)
	}
	return p
}

// update is given the next offset of the partitions still being read;
// partitions missing from next are done.
func (p *progress) update(next map[int32]int64) {
	var done int64
	for part, s := range p.start {
		if n, ok := next[part]; ok {
			done += max(0, n-s)
		} else {
			done += max(0, p.end[part]-s)
		}
	}
	p.done = done
	now := time.Now()
	if now.Sub(p.last) < p.interval {
		return
	}
	p.last = now
	p.printed = true
	p.shown = p.done
	p.e.progressf("%s", p.line(now))
}

func (p *progress) line(now time.Time) string {
	el := now.Sub(p.began)
	pct := 100.0
	if p.total > 0 {
		pct = 100 * float64(p.done) / float64(p.total)
	}
	rate := float64(p.done) / max(el.Seconds(), 1e-3)
	s := fmt.Sprintf("%s: %d/%d offsets (%.1f%%), %.0f offsets/s", p.what, p.done, p.total, pct, rate)
	if p.done > 0 && p.done < p.total {
		eta := time.Duration(float64(p.total-p.done) / rate * float64(time.Second))
		s += fmt.Sprintf(", about %s left", eta.Round(time.Second))
	}
	return s
}

// finish prints the final state if progress was shown and the last line
// printed is not already it.
func (p *progress) finish() {
	if p.printed && p.shown != p.done {
		p.e.progressf("%s", p.line(time.Now()))
	}
}
