package kafka

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kafkaes/kafkaes/eventstore"
)

// The ring of event-ID keys answers like a map of the latest window IDs
// to their versions, for every window size and stream length, with
// UUIDs, other IDs and events without an ID.
func TestIDRing(t *testing.T) {
	for _, window := range []int{1, 2, 3, 4, 5, 7, 64} {
		for _, n := range []int{0, 1, 3, 4, 5, 8, 63, 64, 65, 130} {
			st := &streamState{}
			ids := make([]string, n+1)
			for v := 1; v <= n; v++ {
				switch v % 3 {
				case 0:
					ids[v] = eventstore.NewEventID()
				case 1:
					ids[v] = fmt.Sprintf("cmd-%d", v)
				} // case 2: no ID
				st.add(int64(100+v), ids[v], window)
			}
			if cap(st.ids) > window {
				t.Fatalf("window %d: ring capacity %d", window, cap(st.ids))
			}
			for v := 1; v <= n; v++ {
				inWindow := v > n-window && ids[v] != ""
				got, ok := st.lookupID(ids[v])
				if ok != inWindow || (ok && got != int64(v)) {
					t.Fatalf("window %d, %d events: lookupID(v%d %q) = %d, %v", window, n, v, ids[v], got, ok)
				}
				k, ok := st.idAt(int64(v))
				if ok != inWindow || (ok && k != keyOf(ids[v])) {
					t.Fatalf("window %d, %d events: idAt(%d) = %x, %v", window, n, v, k, ok)
				}
			}
			if _, ok := st.lookupID("never-stored"); ok {
				t.Fatal("found an ID never stored")
			}
		}
	}
}

func TestKeyOf(t *testing.T) {
	id := eventstore.NewEventID()
	k := keyOf(id)
	if fmt.Sprintf("%x", k[:]) != strings.ReplaceAll(id, "-", "") {
		t.Fatalf("UUID %s gave key %x", id, k)
	}
	for _, other := range []string{strings.ToUpper(id), id + " ", "x", "00000000-0000-0000-0000-000000000000"} {
		if keyOf(other) == k || keyOf(other) == (idKey{}) {
			t.Fatalf("keyOf(%q) = %x", other, keyOf(other))
		}
	}
	if keyOf("") != (idKey{}) {
		t.Fatal("empty ID has a key")
	}
}

// The runs of a stream answer knows, offsetOf and each like a plain list
// of (offset, version) pairs, for consecutive and scattered offsets.
func TestRuns(t *testing.T) {
	st := &streamState{}
	var offsets []int64
	off := int64(10)
	for v := 1; v <= 200; v++ {
		if v%7 == 0 || v%11 == 0 {
			off += int64(v % 5) // a gap: another stream's records
		}
		off++
		offsets = append(offsets, off)
		st.add(off, "", 0)
	}
	known := map[int64]bool{}
	for i, o := range offsets {
		known[o] = true
		if got, ok := st.offsetOf(int64(i + 1)); !ok || got != o {
			t.Fatalf("offsetOf(%d) = %d, %v; want %d", i+1, got, ok, o)
		}
	}
	for o := int64(0); o < off+5; o++ {
		if st.knows(o) != known[o] {
			t.Fatalf("knows(%d) = %v", o, st.knows(o))
		}
	}
	for _, v := range []int64{0, 201} {
		if _, ok := st.offsetOf(v); ok {
			t.Fatalf("offsetOf(%d) found", v)
		}
	}
	if st.lastOffset() != off {
		t.Fatalf("lastOffset %d, want %d", st.lastOffset(), off)
	}
	for _, from := range []int64{1, 2, 50, 199, 200, 201} {
		var got []int64
		st.each(from, func(o, v int64) {
			if o != offsets[v-1] {
				t.Fatalf("each: version %d at %d, want %d", v, o, offsets[v-1])
			}
			got = append(got, v)
		})
		if want := max(0, 200-from+1); int64(len(got)) != want || (len(got) > 0 && got[0] != from) {
			t.Fatalf("each(%d) gave %d versions from %v", from, len(got), got[:min(len(got), 1)])
		}
	}
}
