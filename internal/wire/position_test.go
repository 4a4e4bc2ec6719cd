package wire

import "testing"

func TestPositionRoundTrip(t *testing.T) {
	key := PositionKey("pay/ments", "events", 17)
	g, topic, p, next, err := ParsePosition(key, PositionValue(123456789012))
	if err != nil || g != "pay/ments" || topic != "events" || p != 17 || next != 123456789012 {
		t.Fatalf("ParsePosition = %q %q %d %d %v", g, topic, p, next, err)
	}
	if got := PositionPartition(17, 6); got != 5 {
		t.Fatalf("PositionPartition(17, 6) = %d, want 5", got)
	}
	for _, bad := range [][2]string{{"g\x00t", "1"}, {"g\x00t\x00x", "1"}, {"g\x00t\x00-1", "1"}, {"g\x00t\x001", ""}, {"g\x00t\x001", "-5"}, {"g\x00t\x001", "1e3"}} {
		if _, _, _, _, err := ParsePosition([]byte(bad[0]), []byte(bad[1])); err == nil {
			t.Errorf("ParsePosition(%q, %q) accepted a bad record", bad[0], bad[1])
		}
	}
}

func FuzzParsePosition(f *testing.F) {
	f.Add(PositionKey("g", "t", 3), PositionValue(42))
	f.Add([]byte("\x00\x00"), []byte("9"))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		g, topic, p, next, err := ParsePosition(key, value)
		if err != nil {
			return
		}
		// What parses re-encodes to a record that parses the same.
		g2, t2, p2, n2, err := ParsePosition(PositionKey(g, topic, p), PositionValue(next))
		if err != nil || g2 != g || t2 != topic || p2 != p || n2 != next {
			t.Fatalf("re-encoded position differs: %q %q %d %d %v", g2, t2, p2, n2, err)
		}
	})
}
