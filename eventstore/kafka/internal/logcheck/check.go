package logcheck

import (
	"fmt"
	"slices"
	"sync"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// Outcome is what an Append call returned.
type Outcome int

const (
	// Acked means Append returned nil: its events must be in the log
	// exactly once, consecutively, at the versions and positions it
	// reported.
	Acked Outcome = iota
	// Failed means Append returned an error that promises nothing was
	// written (a conflict, an invalid argument): none of its events may be
	// visible.
	Failed
	// Unknown means Append returned an error that leaves the outcome open
	// (a timeout, a broker failure, a killed writer): its events are all
	// visible or all absent, never some of them.
	Unknown
)

func (o Outcome) String() string {
	switch o {
	case Acked:
		return "acknowledged"
	case Failed:
		return "failed"
	default:
		return "unknown"
	}
}

// Append records one Append call and what it returned.
type Append struct {
	Writer  string // who appended, for messages
	Stream  string
	IDs     []string // event IDs, in order
	Outcome Outcome
	// Version and Positions are what an acknowledged append returned
	// (Positions may be nil when not reported).
	Version   int64
	Positions []eventstore.Position
	Err       error // the error of a failed or unknown append
}

// Journal collects appends from many goroutines.
type Journal struct {
	mu      sync.Mutex
	appends []Append
}

// Add records an append.
func (j *Journal) Add(a Append) {
	j.mu.Lock()
	j.appends = append(j.appends, a)
	j.mu.Unlock()
}

// Appends returns a copy of the recorded appends.
func (j *Journal) Appends() []Append {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.appends)
}

// Count returns how many appends had outcome o.
func (j *Journal) Count(o Outcome) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := 0
	for _, a := range j.appends {
		if a.Outcome == o {
			n++
		}
	}
	return n
}

// Report is the result of [Check].
type Report struct {
	// Problems lists every violation found (at most MaxProblems of them).
	Problems []string
	// Events and Streams count what the log holds.
	Events, Streams int
}

// MaxProblems caps the number of problems a report lists.
const MaxProblems = 50

func (r *Report) add(format string, args ...any) {
	if len(r.Problems) < MaxProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	} else if len(r.Problems) == MaxProblems {
		r.Problems = append(r.Problems, "... more problems left out")
	}
}

// OK reports whether no problem was found.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Check verifies the log (all committed events of a topic of partitions
// partitions, in offset order within each partition, as [ReadCommitted]
// returns them) against the appends made to it:
//
//   - every stream's events are in the partition its key hashes to, with
//     versions 1..n in offset order: no gap, no duplicate, no reordering;
//   - no event ID appears twice in a stream;
//   - every acknowledged append is present exactly once, consecutively
//     (no other event of the stream between its events), at the version
//     and positions it returned;
//   - no event of a failed append is visible;
//   - an append with an unknown outcome is all there or not at all.
func Check(log []eventstore.RecordedEvent, partitions int32, appends []Append) Report {
	var r Report
	type loc struct {
		stream  string
		version int64
		pos     eventstore.Position
		idx     int // index in the stream's event list
	}
	streams := map[string][]eventstore.RecordedEvent{}
	byID := map[string][]loc{}
	lastOffset := map[int32]int64{}
	for _, ev := range log {
		if prev, ok := lastOffset[ev.Position.Partition]; ok && ev.Position.Offset <= prev {
			r.add("log not in offset order: %v after offset %d", ev.Position, prev)
		}
		lastOffset[ev.Position.Partition] = ev.Position.Offset
		if want := wire.PartitionString(ev.StreamID, partitions); ev.Position.Partition != want {
			r.add("stream %q: event version %d at %v is not on partition %d, where the key hashes to", ev.StreamID, ev.Version, ev.Position, want)
		}
		evs := streams[ev.StreamID]
		want := int64(len(evs)) + 1
		switch {
		case ev.Version == want:
		case ev.Version < want:
			r.add("stream %q: duplicate or out-of-order version %d at %v after version %d", ev.StreamID, ev.Version, ev.Position, want-1)
		default:
			r.add("stream %q: gap: version %d at %v follows version %d", ev.StreamID, ev.Version, ev.Position, want-1)
		}
		byID[ev.ID] = append(byID[ev.ID], loc{ev.StreamID, ev.Version, ev.Position, len(evs)})
		streams[ev.StreamID] = append(evs, ev)
	}
	r.Events, r.Streams = len(log), len(streams)
	for _, id := range sortedKeys(byID) {
		if ls := byID[id]; len(ls) > 1 {
			r.add("event ID %s appears %d times: %+v", id, len(ls), ls)
		}
	}

	for _, a := range appends {
		var found []loc
		for _, id := range a.IDs {
			if ls := byID[id]; len(ls) > 0 {
				found = append(found, ls[0])
			}
		}
		switch a.Outcome {
		case Failed:
			if len(found) > 0 {
				r.add("%s: append to %q that failed (%v) is visible: %d of its %d events, first at %v", a.Writer, a.Stream, a.Err, len(found), len(a.IDs), found[0].pos)
			}
		case Unknown:
			if len(found) > 0 && len(found) < len(a.IDs) {
				r.add("%s: append to %q with unknown outcome (%v) is partly visible: %d of its %d events", a.Writer, a.Stream, a.Err, len(found), len(a.IDs))
			}
		case Acked:
			if len(found) < len(a.IDs) {
				missing := ""
				for _, id := range a.IDs {
					if len(byID[id]) == 0 {
						missing = id
						break
					}
				}
				r.add("%s: acknowledged append to %q (version %d) is missing: %d of its %d events absent, for example %s", a.Writer, a.Stream, a.Version, len(a.IDs)-len(found), len(a.IDs), missing)
				continue
			}
			for i, l := range found {
				if l.stream != a.Stream {
					r.add("%s: acknowledged event %s of stream %q is in stream %q", a.Writer, a.IDs[i], a.Stream, l.stream)
					continue
				}
				if i > 0 && l.idx != found[0].idx+i {
					r.add("%s: acknowledged append to %q is not consecutive: event %d at index %d, first at %d", a.Writer, a.Stream, i, l.idx, found[0].idx)
				}
				if wantV := a.Version - int64(len(a.IDs)-1-i); l.version != wantV {
					r.add("%s: acknowledged event %s of %q has version %d in the log, Append reported %d", a.Writer, a.IDs[i], a.Stream, l.version, wantV)
				}
				if a.Positions != nil && (i >= len(a.Positions) || a.Positions[i] != l.pos) {
					r.add("%s: acknowledged event %s of %q is at %v in the log, Append reported %v", a.Writer, a.IDs[i], a.Stream, l.pos, a.Positions)
				}
			}
		}
	}
	return r
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
