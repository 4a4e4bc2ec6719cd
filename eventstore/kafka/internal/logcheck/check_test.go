package logcheck

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/wire"
)

const parts = 4

// logBuilder builds a log as ReadCommitted returns it: events placed on the
// partition of their key, offsets increasing per partition.
type logBuilder struct {
	next map[int32]int64
	log  []eventstore.RecordedEvent
}

func (b *logBuilder) add(stream string, version int64, id string) eventstore.Position {
	if b.next == nil {
		b.next = map[int32]int64{}
	}
	p := wire.PartitionString(stream, parts)
	pos := eventstore.Position{Partition: p, Offset: b.next[p]}
	b.next[p] += 2 // leave room, as commit markers do
	b.log = append(b.log, eventstore.RecordedEvent{Event: eventstore.Event{ID: id, Type: "T"}, StreamID: stream, Version: version, Position: pos})
	return pos
}

// sortedLog returns the log ordered by partition then offset, as read.
func (b *logBuilder) sortedLog() []eventstore.RecordedEvent {
	var out []eventstore.RecordedEvent
	for p := int32(0); p < parts; p++ {
		for _, ev := range b.log {
			if ev.Position.Partition == p {
				out = append(out, ev)
			}
		}
	}
	return out
}

// healthy returns a valid log of three streams and its journal.
func healthy() (*logBuilder, []Append) {
	var b logBuilder
	var appends []Append
	for _, s := range []string{"a", "b", "c"} {
		v := int64(0)
		for i := range 3 {
			n := 1 + i%2
			a := Append{Writer: "w", Stream: s, Outcome: Acked}
			for range n {
				v++
				id := fmt.Sprintf("%s-%d", s, v)
				a.IDs = append(a.IDs, id)
				a.Positions = append(a.Positions, b.add(s, v, id))
			}
			a.Version = v
			appends = append(appends, a)
		}
	}
	appends = append(appends, Append{Writer: "w", Stream: "a", IDs: []string{"lost-1"}, Outcome: Failed})
	appends = append(appends, Append{Writer: "w", Stream: "b", IDs: []string{"maybe-1", "maybe-2"}, Outcome: Unknown})
	return &b, appends
}

func TestCheckAcceptsHealthyLog(t *testing.T) {
	b, appends := healthy()
	r := Check(b.sortedLog(), parts, appends)
	if !r.OK() || r.Events != 12 || r.Streams != 3 {
		t.Fatalf("healthy log: %+v", r)
	}
}

// TestCheckDetects proves the checker can fail: every kind of violation is
// injected into a healthy log and must be reported.
func TestCheckDetects(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(b *logBuilder, appends []Append) []Append
		want   string
	}{
		{"duplicate version", func(b *logBuilder, a []Append) []Append {
			b.add("a", 4, "dup-x")
			return a
		}, `stream "a": duplicate or out-of-order version 4`},
		{"duplicate event", func(b *logBuilder, a []Append) []Append {
			b.add("a", 5, "a-2")
			return a
		}, "event ID a-2 appears 2 times"},
		{"gap", func(b *logBuilder, a []Append) []Append {
			b.add("c", 7, "gap-x")
			return a
		}, `stream "c": gap: version 7`},
		{"acknowledged append missing", func(b *logBuilder, a []Append) []Append {
			return append(a, Append{Writer: "w2", Stream: "b", IDs: []string{"ghost"}, Outcome: Acked, Version: 6})
		}, `w2: acknowledged append to "b" (version 6) is missing`},
		{"acknowledged at another version", func(b *logBuilder, a []Append) []Append {
			a[0].Version = 2
			return a
		}, "has version 1 in the log, Append reported 2"},
		{"acknowledged at another position", func(b *logBuilder, a []Append) []Append {
			a[0].Positions = []eventstore.Position{{Partition: 9, Offset: 9}}
			return a
		}, "Append reported [9/9]"},
		{"failed append visible", func(b *logBuilder, a []Append) []Append {
			b.add("a", 5, "lost-1")
			return a
		}, `append to "a" that failed`},
		{"unknown append torn", func(b *logBuilder, a []Append) []Append {
			b.add("b", 5, "maybe-1")
			return a
		}, "partly visible: 1 of its 2 events"},
		{"acknowledged append not consecutive", func(b *logBuilder, a []Append) []Append {
			b.add("a", 5, "x-5")
			b.add("a", 6, "y-6")
			b.add("a", 7, "x-7")
			return append(a, Append{Writer: "w", Stream: "a", IDs: []string{"x-5", "x-7"}, Outcome: Acked, Version: 7})
		}, "is not consecutive"},
		{"wrong partition", func(b *logBuilder, a []Append) []Append {
			p := wire.PartitionString("d", parts)
			b.log = append(b.log, eventstore.RecordedEvent{Event: eventstore.Event{ID: "d-1"}, StreamID: "d", Version: 1,
				Position: eventstore.Position{Partition: (p + 1) % parts, Offset: 1000}})
			return a
		}, "where the key hashes to"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, appends := healthy()
			appends = c.mutate(b, appends)
			r := Check(b.sortedLog(), parts, appends)
			if r.OK() {
				t.Fatal("violation not detected")
			}
			if !strings.Contains(strings.Join(r.Problems, "\n"), c.want) {
				t.Errorf("problems %q do not mention %q", r.Problems, c.want)
			}
		})
	}
}

func TestCheckDetectsOffsetDisorder(t *testing.T) {
	b, appends := healthy()
	log := b.sortedLog()
	log[0], log[1] = log[1], log[0]
	if r := Check(log, parts, appends); r.OK() {
		t.Fatal("reordered log accepted")
	}
}

func TestReportCapsProblems(t *testing.T) {
	var b logBuilder
	for i := range 200 {
		b.add("s", int64(i*2+1), fmt.Sprint(i))
	}
	r := Check(b.sortedLog(), parts, nil)
	if len(r.Problems) != MaxProblems+1 {
		t.Fatalf("%d problems listed, want %d", len(r.Problems), MaxProblems+1)
	}
}
