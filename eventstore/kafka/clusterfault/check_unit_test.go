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
	// A second stream on another partition, for multi-stream appends.
	s2 := streamName(2)
	for i := 3; partitionOf(s2) == p; i++ {
		s2 = streamName(i)
	}
	p2 := partitionOf(s2)
	multiLog := append(log, eventstore.RecordedEvent{Event: eventstore.Event{ID: "m"}, StreamID: s2, Version: 1, Position: eventstore.Position{Partition: p2, Offset: 0}})
	ok := []rec{
		{K: kindTry, W: "w1", A: "c1.0", C: "c1", S: s, IDs: []string{"a"}, Exp: 0, T0: 10},
		{K: kindRes, W: "w1", A: "c1.0", C: "c1", S: s, T0: 10, T1: 20, Class: classNil, V: 1, Pos: [][2]int64{{int64(p), 0}}},
	}
	tl := &tail{seen: map[string]int64{}}
	logs := map[string][]eventstore.RecordedEvent{} // case name -> log, where not log
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
	// Multi-stream appends: "b" (stream s, version 2) and "m" (stream s2,
	// version 1) in one AppendMulti.
	multiTry := rec{K: kindTry, W: "w2", A: "c2.0", C: "c2", S: s, IDs: []string{"b"}, Exp: 1, T0: 30, More: []entry{{S: s2, IDs: []string{"m"}, Exp: 0}}}
	multiCases := []struct {
		name string
		log  []eventstore.RecordedEvent
		recs []rec
		want string
	}{
		{"multi-stream append acknowledged", multiLog, append(ok, multiTry,
			rec{K: kindRes, W: "w2", A: "c2.0", C: "c2", S: s, T0: 30, T1: 40, Class: classNil, V: 2, Pos: [][2]int64{{int64(p), 1}},
				More: []entry{{S: s2, V: 1, Pos: [][2]int64{{int64(p2), 0}}}}},
			rec{K: kindRead, W: "w3", S: s2, T0: 50, T1: 60, Class: classNil, V: 1, N: 1},
		), ""},
		{"multi-stream append acknowledged, one stream's events missing", log, append(ok, multiTry,
			rec{K: kindRes, W: "w2", A: "c2.0", C: "c2", S: s, T0: 30, T1: 40, Class: classNil, V: 2, Pos: [][2]int64{{int64(p), 1}},
				More: []entry{{S: s2, V: 1, Pos: [][2]int64{{int64(p2), 0}}}}},
		), "is missing"},
		{"multi-stream append with an unknown outcome, partly in the log", log, append(ok, multiTry,
			rec{K: kindRes, W: "w2", A: "c2.0", C: "c2", S: s, T0: 30, T1: 40, Class: classUnknown},
		), "partly in the log"},
		{"multi-stream append refused, one stream's events in the log", log, append(ok, multiTry,
			rec{K: kindRes, W: "w2", A: "c2.0", C: "c2", S: s, T0: 30, T1: 40, Class: classConflict},
		), "that failed"},
		{"stale read of a multi-stream append's second stream", multiLog, append(ok, multiTry,
			rec{K: kindRes, W: "w2", A: "c2.0", C: "c2", S: s, T0: 30, T1: 40, Class: classNil, V: 2, Pos: [][2]int64{{int64(p), 1}},
				More: []entry{{S: s2, V: 1, Pos: [][2]int64{{int64(p2), 0}}}}},
			rec{K: kindRead, W: "w3", S: s2, T0: 50, T1: 60, Class: classNil, V: 0},
		), "stale read"},
	}
	for _, c := range multiCases {
		cases = append(cases, struct {
			name string
			recs []rec
			want string
		}{c.name, c.recs, c.want})
		logs[c.name] = c.log
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lg := log
			if l, ok := logs[c.name]; ok {
				lg = l
			}
			r := check(lg, c.recs, tl)
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
