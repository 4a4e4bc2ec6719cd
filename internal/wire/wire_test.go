package wire

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
)

func sampleEvent() eventstore.Event {
	return eventstore.Event{
		ID:   "0b8e5a0c-3f5e-4a53-9a5e-2f1d6c7e8a90",
		Type: "bank.AccountOpened",
		Data: []byte(`{"owner":"Ada","currency":"EUR"}`),
		Metadata: eventstore.Metadata{
			CorrelationID: "req-17",
			CausationID:   "cmd-9",
			Values:        map[string]string{"user": "ada", "traceparent": "00-abc-def-01"},
		},
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 24, 6, 45, 1, 123456789, time.FixedZone("CET", 3600))
	cases := map[string]eventstore.Event{
		"full":    sampleEvent(),
		"minimal": {ID: "id-1", Type: "T", Data: nil},
		"empty data and values map": {ID: "id-2", Type: "T", Data: []byte{},
			Metadata: eventstore.Metadata{Values: map[string]string{}}},
		"many values": {ID: "id-3", Type: "T", Data: []byte("x"), Metadata: eventstore.Metadata{Values: map[string]string{
			"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6", "g": "7", "h": "8", "i": "9", "j": "", "k.l": "dots",
		}}},
	}
	for name, ev := range cases {
		t.Run(name, func(t *testing.T) {
			key, hs := Encode("account-42", 7, ev, at)
			if string(key) != "account-42" {
				t.Fatalf("key = %q", key)
			}
			got, err := Decode("events", 3, 99, key, ev.Data, ProducerHeaders(hs), time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			want := eventstore.RecordedEvent{Event: ev, StreamID: "account-42", Version: 7,
				Position: eventstore.Position{Partition: 3, Offset: 99}, RecordedAt: at.UTC().Truncate(time.Microsecond)} // es.time keeps microseconds
			if len(ev.Metadata.Values) == 0 {
				want.Metadata.Values = nil
			}
			if !got.RecordedAt.Equal(want.RecordedAt) || got.RecordedAt.Location() != time.UTC {
				t.Errorf("RecordedAt = %v, want %v in UTC", got.RecordedAt, want.RecordedAt)
			}
			got.RecordedAt, want.RecordedAt = time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip:\n got %#v\nwant %#v", got, want)
			}
		})
	}
}

func TestEncodeHeaders(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 600000000, time.UTC)
	_, hs := Encode("s", 12, sampleEvent(), at)
	var got []string
	for _, h := range hs {
		got = append(got, string(h.Key)+"="+string(h.Value))
	}
	want := []string{
		"es.type=bank.AccountOpened",
		"es.version=12",
		"es.id=0b8e5a0c-3f5e-4a53-9a5e-2f1d6c7e8a90",
		"es.time=2026-01-02T03:04:05.600000Z",
		"es.correlation=req-17",
		"es.causation=cmd-9",
		"traceparent=00-abc-def-01",
		"meta.user=ada",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("headers:\n got %q\nwant %q", got, want)
	}
	// Optional headers are left out when unset.
	_, hs = Encode("s", 1, eventstore.Event{ID: "i", Type: "T"}, at)
	if len(hs) != 4 {
		t.Errorf("minimal event has %d headers, want 4: %q", len(hs), hs)
	}
}

func TestEncodeSlicesDoNotOverlap(t *testing.T) {
	key, hs := Encode("stream", 1, sampleEvent(), time.Unix(0, 0))
	// Appending to any returned slice must not clobber another one.
	_ = append(key, "XXXXXXXX"...)
	for _, h := range hs {
		_ = append(h.Key, "XXXXXXXX"...)
		_ = append(h.Value, "XXXXXXXX"...)
	}
	if string(key) != "stream" || string(hs[0].Key) != HeaderType || string(hs[0].Value) != "bank.AccountOpened" {
		t.Fatalf("slices overlap: key %q, first header %q=%q", key, hs[0].Key, hs[0].Value)
	}
	for _, h := range hs {
		if bytes.Contains(h.Key, []byte("XXXX")) || bytes.Contains(h.Value, []byte("XXXX")) {
			t.Fatalf("header %q=%q was overwritten", h.Key, h.Value)
		}
	}
}

func TestDecodeDoesNotAliasHeaders(t *testing.T) {
	key, hs := Encode("stream", 5, sampleEvent(), time.Unix(10, 0))
	ev, err := Decode("t", 0, 0, key, nil, ProducerHeaders(hs), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range key {
		key[i] = 'z'
	}
	for _, h := range hs {
		for i := range h.Value {
			h.Value[i] = 'z'
		}
	}
	if ev.StreamID != "stream" || ev.Type != "bank.AccountOpened" || ev.Metadata.Values["user"] != "ada" {
		t.Errorf("decoded strings changed with the record's bytes: %+v", ev)
	}
}

func hdrs(kv ...string) []*sarama.RecordHeader {
	var out []*sarama.RecordHeader
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, &sarama.RecordHeader{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
	}
	return out
}

func TestDecodeTolerates(t *testing.T) {
	ts := time.Date(2025, 5, 6, 7, 8, 9, 0, time.FixedZone("x", -7200))
	h := hdrs("x-b3-traceid", "abc", "es.type", "T", "es.future", "x", "es.version", "3", "es.id", "i")
	h = append(h, nil)
	ev, err := Decode("t", 1, 2, []byte("s"), []byte("v"), h, ts)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Version != 3 || ev.Type != "T" || ev.ID != "i" || ev.Metadata.Values != nil {
		t.Errorf("decoded %+v", ev)
	}
	if !ev.RecordedAt.Equal(ts) || ev.RecordedAt.Location() != time.UTC {
		t.Errorf("without es.time RecordedAt = %v, want the record timestamp %v in UTC", ev.RecordedAt, ts)
	}
	// A time with an offset is accepted and converted to UTC.
	h = hdrs("es.type", "T", "es.version", "1", "es.id", "i", "es.time", "2026-01-02T03:04:05+02:00")
	ev, err = Decode("t", 1, 2, []byte("s"), nil, h, time.Time{})
	if err != nil || !ev.RecordedAt.Equal(time.Date(2026, 1, 2, 1, 4, 5, 0, time.UTC)) || ev.RecordedAt.Location() != time.UTC {
		t.Errorf("offset time: %v, %v", ev.RecordedAt, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	ok := []string{"es.type", "T", "es.version", "1", "es.id", "i", "es.time", "2026-01-02T03:04:05Z"}
	with := func(extra ...string) []*sarama.RecordHeader {
		return hdrs(append(append([]string{}, ok...), extra...)...)
	}
	without := func(name string) []*sarama.RecordHeader {
		var kv []string
		for i := 0; i < len(ok); i += 2 {
			if ok[i] != name {
				kv = append(kv, ok[i], ok[i+1])
			}
		}
		return hdrs(kv...)
	}
	replace := func(name, value string) []*sarama.RecordHeader {
		kv := append([]string{}, ok...)
		for i := 0; i < len(kv); i += 2 {
			if kv[i] == name {
				kv[i+1] = value
			}
		}
		return hdrs(kv...)
	}
	cases := []struct {
		name    string
		key     []byte
		headers []*sarama.RecordHeader
		want    string
	}{
		{"no headers", []byte("s"), nil, "not a kafkaes event record: no es.version header"},
		{"no version", []byte("s"), without("es.version"), "not a kafkaes event record"},
		{"empty key", nil, with(), "empty record key"},
		{"long key", bytes.Repeat([]byte("k"), eventstore.MaxStreamIDLength+1), with(), "longer than the stream ID limit"},
		{"non-UTF-8 key", []byte{0xff, 0xfe}, with(), "not valid UTF-8"},
		{"no type", []byte("s"), without("es.type"), "missing or empty es.type"},
		{"empty type", []byte("s"), replace("es.type", ""), "missing or empty es.type"},
		{"no id", []byte("s"), without("es.id"), "missing or empty es.id"},
		{"version zero", []byte("s"), replace("es.version", "0"), `bad es.version header "0"`},
		{"version negative", []byte("s"), replace("es.version", "-1"), `bad es.version header "-1"`},
		{"version leading zero", []byte("s"), replace("es.version", "01"), "bad es.version"},
		{"version plus", []byte("s"), replace("es.version", "+1"), "bad es.version"},
		{"version space", []byte("s"), replace("es.version", "1 "), "bad es.version"},
		{"version empty", []byte("s"), replace("es.version", ""), "bad es.version"},
		{"version overflow", []byte("s"), replace("es.version", "9223372036854775808"), "bad es.version"},
		{"version binary", []byte("s"), replace("es.version", "\x00\x00\x00\x01"), "bad es.version"},
		{"bad time", []byte("s"), replace("es.time", "yesterday"), `bad es.time header "yesterday"`},
		{"time without zone", []byte("s"), replace("es.time", "2026-01-02T03:04:05"), "bad es.time"},
		{"duplicate version", []byte("s"), with("es.version", "2"), "es.version appears more than once"},
		{"duplicate type", []byte("s"), with("es.type", "T"), "es.type appears more than once"},
		{"empty meta key", []byte("s"), with("meta.", "v"), "empty metadata key"},
		{"duplicate meta key", []byte("s"), with("meta.u", "1", "meta.u", "2"), "meta.u appears more than once"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode("orders", 4, 1234, c.key, []byte("v"), c.headers, time.Time{})
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, eventstore.ErrCorruptLog) {
				t.Errorf("error %v does not match ErrCorruptLog", err)
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.Topic != "orders" || de.Partition != 4 || de.Offset != 1234 {
				t.Errorf("error %#v does not locate the record", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, `topic "orders" partition 4 offset 1234`) || !strings.Contains(msg, c.want) {
				t.Errorf("error %q does not say %q with topic, partition and offset", msg, c.want)
			}
		})
	}
}

func TestDecodeErrorQuotesLongValuesShort(t *testing.T) {
	long := strings.Repeat("9", 500)
	_, err := Decode("t", 0, 0, []byte("s"), nil, hdrs("es.type", "T", "es.id", "i", "es.version", long), time.Time{})
	if err == nil || len(err.Error()) > 300 || !strings.Contains(err.Error(), "(500 bytes)") {
		t.Errorf("error for a 500-byte version: %v", err)
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]int64{"1": 1, "10": 10, "9223372036854775807": 1<<63 - 1} {
		if v, ok := ParseVersion([]byte(in)); !ok || v != want {
			t.Errorf("ParseVersion(%q) = %d, %v", in, v, ok)
		}
		if got := string(AppendVersion(nil, want)); got != in {
			t.Errorf("AppendVersion(%d) = %q", want, got)
		}
	}
	for _, in := range []string{"", "0", "00", "01", "-1", "1a", "99999999999999999999", "18446744073709551615", "9223372036854775808"} {
		if v, ok := ParseVersion([]byte(in)); ok {
			t.Errorf("ParseVersion(%q) = %d, true; want false", in, v)
		}
	}
}

func TestHeader(t *testing.T) {
	h := append([]*sarama.RecordHeader{nil}, hdrs("a", "1", "b", "2", "b", "3")...)
	if v, ok := Header(h, "b"); !ok || string(v) != "2" {
		t.Errorf("Header(b) = %q, %v", v, ok)
	}
	if _, ok := Header(h, "c"); ok {
		t.Error("Header(c) found")
	}
}

func TestDecodeMessage(t *testing.T) {
	key, hs := Encode("s", 2, eventstore.Event{ID: "i", Type: "T"}, time.Unix(1, 0))
	ev, err := DecodeMessage(&sarama.ConsumerMessage{Topic: "t", Partition: 5, Offset: 6, Key: key, Value: []byte("v"), Headers: ProducerHeaders(hs)})
	if err != nil || ev.Position != (eventstore.Position{Partition: 5, Offset: 6}) || string(ev.Data) != "v" || ev.Version != 2 {
		t.Errorf("DecodeMessage = %+v, %v", ev, err)
	}
}

func TestAllocations(t *testing.T) {
	ev := sampleEvent()
	ev.Metadata = eventstore.Metadata{}
	at := time.Now()
	if n := testing.AllocsPerRun(100, func() { Encode("account-42", 7, ev, at) }); n > 2 {
		t.Errorf("Encode allocates %v times, want at most 2 (one buffer, one header slice)", n)
	}
	key, hs := Encode("account-42", 7, ev, at)
	ph := ProducerHeaders(hs)
	if n := testing.AllocsPerRun(100, func() { _, _ = Decode("t", 0, 0, key, ev.Data, ph, time.Time{}) }); n > 1 {
		t.Errorf("Decode allocates %v times, want at most 1 (the strings)", n)
	}
}

func BenchmarkEncode(b *testing.B) {
	ev := sampleEvent()
	at := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		Encode("bank.Account/7d444840-9dc0-11d1-b245-5ffdce74fad2", 42, ev, at)
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"plain", "metadata"} {
		b.Run(name, func(b *testing.B) {
			ev := sampleEvent()
			if name == "plain" {
				ev.Metadata = eventstore.Metadata{}
			}
			key, hs := Encode("bank.Account/7d444840-9dc0-11d1-b245-5ffdce74fad2", 42, ev, time.Now())
			ph := ProducerHeaders(hs)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode("events", 0, 1, key, ev.Data, ph, time.Time{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestTruncateMarkerHeader: a truncate marker's truncation point is
// written as es.truncate-before (not a meta. header) and decodes back into
// its metadata; the same metadata key of an ordinary event stays a meta.
// header.
func TestTruncateMarkerHeader(t *testing.T) {
	m := eventstore.Marker{Kind: eventstore.MarkerTruncated, Before: 42}.Event()
	key, hs := Encode("s", 7, m, time.Now())
	v, ok := Header(ProducerHeaders(hs), HeaderTruncateBefore)
	if !ok || string(v) != "42" {
		t.Fatalf("headers %v: no %s=42", hs, HeaderTruncateBefore)
	}
	if _, ok := Header(ProducerHeaders(hs), MetaPrefix+eventstore.MarkerTruncateBefore); ok {
		t.Fatalf("the truncation point is also a meta. header")
	}
	ev, err := Decode("t", 0, 1, key, nil, ProducerHeaders(hs), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := eventstore.ParseMarker(ev.Event); !ok || got.Before != 42 || ev.Data != nil {
		t.Fatalf("decoded marker %+v (%v), data %q", got, ok, ev.Data)
	}

	plain := eventstore.Event{ID: "x", Type: "T", Metadata: eventstore.Metadata{Values: map[string]string{eventstore.MarkerTruncateBefore: "1"}}}
	_, hs = Encode("s", 1, plain, time.Now())
	if _, ok := Header(ProducerHeaders(hs), HeaderTruncateBefore); ok {
		t.Fatalf("an ordinary event's metadata key became %s", HeaderTruncateBefore)
	}
}
