package wire

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/testenv"
)

// es.time has exactly six fraction digits and Z, whatever the time; readers
// accept any RFC 3339 time (older records have up to nine digits).
func TestTimeLayout(t *testing.T) {
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 11, 24, 6, 45, 0, 123456789, time.UTC), "2026-11-24T06:45:00.123456Z"},
		{time.Date(2026, 11, 24, 6, 45, 0, 0, time.UTC), "2026-11-24T06:45:00.000000Z"},
		{time.Date(2026, 11, 24, 7, 45, 0, 500_000_000, time.FixedZone("CET", 3600)), "2026-11-24T06:45:00.500000Z"},
	} {
		if got := FormatTime(tc.at); got != tc.want {
			t.Errorf("FormatTime(%v) = %s, want %s", tc.at, got, tc.want)
		}
		_, hs := Encode("s", 1, eventstore.Event{ID: "e", Type: "t"}, tc.at)
		var got string
		for _, h := range hs {
			if string(h.Key) == HeaderTime {
				got = string(h.Value)
			}
		}
		if got != tc.want {
			t.Errorf("Encode wrote es.time %q, want %q", got, tc.want)
		}
	}
	for _, text := range []string{"2026-11-24T06:45:00.123456789Z", "2026-11-24T06:45:00Z", "2026-11-24T07:45:00.1+01:00"} {
		key, hs := Encode("s", 1, eventstore.Event{ID: "e", Type: "t"}, time.Now())
		for i := range hs {
			if string(hs[i].Key) == HeaderTime {
				hs[i].Value = []byte(text)
			}
		}
		ptrs := make([]*sarama.RecordHeader, len(hs))
		for i := range hs {
			ptrs[i] = &hs[i]
		}
		ev, err := Decode("topic", 0, 0, key, nil, ptrs, time.Time{})
		if err != nil {
			t.Errorf("es.time %q: %v", text, err)
			continue
		}
		want, _ := time.Parse(time.RFC3339Nano, text)
		if !ev.RecordedAt.Equal(want) {
			t.Errorf("es.time %q read as %v", text, ev.RecordedAt)
		}
	}
}

// The layout's promise to Python before 3.11: one strptime pattern reads
// it (run with the python3 on the machine, if any).
func TestTimeLayoutReadsInPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		msg := "the Python check of es.time skipped: python3 is not installed"
		testenv.Announce("%s", msg)
		testenv.Unavailable(t, msg)
	}
	at := time.Date(2026, 11, 24, 6, 45, 0, 0, time.UTC)
	script := `import sys, datetime
for s in sys.argv[1:]:
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f%z")
    print(d.isoformat())`
	out, err := exec.Command(py, "-c", script, FormatTime(at), FormatTime(at.Add(123456789))).CombinedOutput()
	if err != nil {
		t.Fatalf("python3 strptime: %v\n%s", err, out)
	}
	want := "2026-11-24T06:45:00+00:00\n2026-11-24T06:45:00.123456+00:00"
	if got := strings.TrimSpace(string(out)); got != want {
		t.Fatalf("python3 read %q, want %q", got, want)
	}
}
