package clusterfault_test

import (
	"strings"
	"testing"

	"github.com/kafkaes/kafkaes/eventstore"
)

// TestCheckCatches feeds check (the journal-against-log checker of
// TestClusterFaults) journals that break each invariant and requires a
// problem naming it; it needs no cluster.
func TestCheckCatches(t *testing.T) {
	s := streamName(1)
	p := partitionOf(s)
	ev := func(v int64, id string, off int64) eventstore.RecordedEvent {
		return eventstore.RecordedEvent{Event: eventstore.Event{ID: id}, StreamID: s, Version: v, Position: eventstore.Position{Partition: p, Offset: off}}
	}
	log := []eventstore.RecordedEvent{ev(1, "a", 0), ev(2, "b", 1)}
	ok := []rec{
		{K: kindTry, W: "w1", A: "c1.0", C: "c1", S: s, IDs: []string{"a"}, Exp: 0, T0: 10},
		{K: kindRes, W: "w1", A: "c1.0", C: "c1", S: s, T0: 10, T1: 20, Class: classNil, V: 1, Pos: [][2]int64{{int64(p), 0}}},
	}
	tl := &tail{seen: map[string]int64{}}
	cases := []struct {
		name string
		recs []rec
		want string
	}{
		{"clean", append(ok,
			rec{K: kindTry, W: "w2", A: "c2.0", C: "c2", S: s, IDs: []string{"b"}, Exp: 1, T0: 30},
			rec{K: kindRes, W: "w2", A: "c2.0", C: "c2", S: s, T0: 30, T1: 40, Class: classUnknown},
			rec{K: kindTry, W: "w2", A: "c2.1", C: "c2", S: s, IDs: []string{"b"}, Exp: 1, T0: 50},
			rec{K: kindRes, W: "w2", A: "c2.1", C: "c2", S: s, T0: 50, T1: 60, Class: classNil, V: 2, Pos: [][2]int64{{int64(p), 1}}},
			rec{K: kindRead, W: "w3", S: s, T0: 70, T1: 80, Class: classNil, V: 2, N: 2},
		), ""},
		{"unknown outcome whose retry says nothing was written", append(ok,
			rec{K: kindTry, W: "w2", A: "c2.0", C: "c2", S: s, IDs: []string{"b"}, Exp: 1, T0: 30},
			rec{K: kindRes, W: "w2", A: "c2.0", C: "c2", S: s, T0: 30, T1: 40, Class: classUnknown},
			rec{K: kindTry, W: "w2", A: "c2.1", C: "c2", S: s, IDs: []string{"b"}, Exp: 1, T0: 50},
			rec{K: kindRes, W: "w2", A: "c2.1", C: "c2", S: s, T0: 50, T1: 60, Class: classDeadline, Err: "context deadline exceeded (nothing was written)"},
		), "that failed"},
		{"stale read", append(ok,
			rec{K: kindRead, W: "w3", S: s, T0: 21, T1: 30, Class: classNil, V: 0},
			rec{K: kindTry, W: "w2", A: "c2.0", C: "c2", S: s, IDs: []string{"b"}, Exp: 1, T0: 30},
			rec{K: kindRes, W: "w2", A: "c2.0", C: "c2", S: s, T0: 30, T1: 40, Class: classNil, V: 2, Pos: [][2]int64{{int64(p), 1}}},
		), "stale read"},
		{"untyped error", append(ok,
			rec{K: kindTry, W: "w2", A: "c2.0", C: "c2", S: s, IDs: []string{"x"}, Exp: 1, T0: 30},
			rec{K: kindRes, W: "w2", A: "c2.0", C: "c2", S: s, T0: 30, T1: 40, Class: classOther, Err: "failed after 8 attempts"},
			rec{K: kindTry, W: "w2", A: "c3.0", C: "c3", S: s, IDs: []string{"b"}, Exp: 1, T0: 50},
			rec{K: kindRes, W: "w2", A: "c3.0", C: "c3", S: s, T0: 50, T1: 60, Class: classNil, V: 2, Pos: [][2]int64{{int64(p), 1}}},
		), "untyped error"},
		{"acknowledged append missing", append(ok,
			rec{K: kindTry, W: "w2", A: "c2.0", C: "c2", S: s, IDs: []string{"b"}, Exp: 1, T0: 30},
			rec{K: kindRes, W: "w2", A: "c2.0", C: "c2", S: s, T0: 30, T1: 40, Class: classNil, V: 2, Pos: [][2]int64{{int64(p), 1}}},
			rec{K: kindTry, W: "w2", A: "c3.0", C: "c3", S: s, IDs: []string{"c"}, Exp: 2, T0: 50},
			rec{K: kindRes, W: "w2", A: "c3.0", C: "c3", S: s, T0: 50, T1: 60, Class: classNil, V: 3, Pos: [][2]int64{{int64(p), 2}}},
		), "is missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := check(log, c.recs, tl)
			if c.want == "" {
				if len(r.problems) > 0 {
					t.Fatalf("problems in a clean journal: %q", r.problems)
				}
				return
			}
			for _, p := range r.problems {
				if strings.Contains(p, c.want) {
					return
				}
			}
			t.Fatalf("no problem containing %q; got %q", c.want, r.problems)
		})
	}
}
