package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
)

// splitHeaders turns a fuzz blob into headers: fields separated by 0x00,
// alternating name and value.
func splitHeaders(blob []byte) []*sarama.RecordHeader {
	if len(blob) == 0 {
		return nil
	}
	f := bytes.Split(blob, []byte{0})
	var hs []*sarama.RecordHeader
	for i := 0; i < len(f); i += 2 {
		h := &sarama.RecordHeader{Key: f[i]}
		if i+1 < len(f) {
			h.Value = f[i+1]
		}
		hs = append(hs, h)
	}
	return hs
}

func joinHeaders(hs []sarama.RecordHeader) []byte {
	var b []byte
	for i, h := range hs {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, h.Key...)
		b = append(b, 0)
		b = append(b, h.Value...)
	}
	return b
}

// FuzzDecode checks that Decode never panics, that every failure is a
// located ErrCorruptLog, and that whatever it accepts encodes and decodes
// back to the same event.
func FuzzDecode(f *testing.F) {
	key, hs := Encode("account-42", 3, sampleEvent(), time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC))
	f.Add(key, []byte("data"), joinHeaders(hs))
	key, hs = Encode("s", 1, eventstore.Event{ID: "i", Type: "T"}, time.Unix(0, 0))
	f.Add(key, []byte{}, joinHeaders(hs))
	f.Add([]byte("s"), []byte("v"), []byte("es.version\x001"))
	f.Add([]byte{}, []byte{}, []byte{})
	f.Add([]byte("s"), []byte("v"), []byte("es.version\x00010\x00es.type\x00T\x00es.id\x00x\x00es.time\x00bad"))
	f.Add([]byte("\xff"), []byte("v"), []byte("meta.\x00x\x00es.version\x001"))
	// Nine fraction digits, as records written before TimeLayout carry.
	f.Add([]byte("s"), []byte("v"), []byte("es.version\x001\x00es.type\x00T\x00es.id\x00x\x00es.time\x001970-01-01T00:00:00.5555555Z"))

	f.Fuzz(func(t *testing.T, key, value, blob []byte) {
		headers := splitHeaders(blob)
		ev, err := Decode("fuzz", 2, 77, key, value, headers, time.Unix(5, 0))
		if err != nil {
			var de *DecodeError
			if !errors.Is(err, eventstore.ErrCorruptLog) || !errors.As(err, &de) || de.Topic != "fuzz" || de.Partition != 2 || de.Offset != 77 {
				t.Fatalf("error %v is not a located ErrCorruptLog", err)
			}
			return
		}
		if ev.StreamID != string(key) || ev.Version < 1 || ev.Type == "" || ev.ID == "" || !bytes.Equal(ev.Data, value) {
			t.Fatalf("accepted an invalid event: %+v", ev)
		}
		if ev.Position != (eventstore.Position{Partition: 2, Offset: 77}) {
			t.Fatalf("position %v", ev.Position)
		}
		// Round trip: encoding the decoded event gives the same event back.
		k2, h2 := Encode(ev.StreamID, ev.Version, ev.Event, ev.RecordedAt)
		ev2, err := Decode("fuzz", 2, 77, k2, value, ProducerHeaders(h2), time.Time{})
		if err != nil {
			t.Fatalf("re-encoded event does not decode: %v", err)
		}
		// Writers keep microseconds (TimeLayout); readers accept up to nine
		// fraction digits (records written before that layout), so a
		// re-encoded time equals the decoded one to the microsecond.
		if want := ev.RecordedAt.Truncate(time.Microsecond); !ev2.RecordedAt.Equal(want) {
			t.Fatalf("time %v became %v, want %v", ev.RecordedAt, ev2.RecordedAt, want)
		}
		ev.RecordedAt, ev2.RecordedAt = time.Time{}, time.Time{}
		if !reflect.DeepEqual(ev, ev2) {
			t.Fatalf("round trip changed the event:\n%#v\n%#v", ev, ev2)
		}
	})
}
