package wire

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
)

const (
	testTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	testTracestate  = "rojo=00f067aa0ba902b7"
)

// TestTraceContextHeaders: the trace context metadata keys travel as the
// W3C/OpenTelemetry Kafka headers "traceparent" and "tracestate" (no
// "meta." prefix) and come back into Metadata.Values.
func TestTraceContextHeaders(t *testing.T) {
	ev := eventstore.Event{ID: "id-1", Type: "T", Data: []byte("v"), Metadata: eventstore.Metadata{
		Values: map[string]string{"traceparent": testTraceparent, "tracestate": testTracestate, "user": "ada"},
	}}
	key, hs := Encode("s", 1, ev, time.Unix(0, 0))
	names := map[string]string{}
	for _, h := range hs {
		names[string(h.Key)] = string(h.Value)
	}
	if names["traceparent"] != testTraceparent || names["tracestate"] != testTracestate || names["meta.user"] != "ada" {
		t.Fatalf("headers %v: want traceparent, tracestate and meta.user", names)
	}
	if _, ok := names["meta.traceparent"]; ok {
		t.Fatal("traceparent also written as meta.traceparent")
	}
	got, err := Decode("t", 0, 5, key, ev.Data, ProducerHeaders(hs), time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Metadata.Values, ev.Metadata.Values) {
		t.Fatalf("decoded metadata %v, want %v", got.Metadata.Values, ev.Metadata.Values)
	}
}

// TestTraceContextFromOlderRecords: records written before the trace
// headers had their own names carry "meta.traceparent"; they decode to the
// same metadata.
func TestTraceContextFromOlderRecords(t *testing.T) {
	base := []string{"es.type", "T", "es.version", "1", "es.id", "i"}
	old := hdrs(append(base, "meta.traceparent", testTraceparent)...)
	ev, err := Decode("t", 0, 0, []byte("s"), nil, old, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Metadata.Values["traceparent"] != testTraceparent {
		t.Fatalf("metadata %v", ev.Metadata.Values)
	}
	// A second trace context (both forms, or one added by tracing
	// instrumentation after kafkaes's own) does not make the event
	// unreadable: the first one counts.
	other := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	for _, h := range [][]string{
		{"meta.traceparent", testTraceparent, "traceparent", other},
		{"traceparent", testTraceparent, "traceparent", other},
		{"traceparent", testTraceparent, "tracestate", testTracestate, "tracestate", "x=1"},
	} {
		ev, err := Decode("t", 0, 0, []byte("s"), nil, hdrs(append(base, h...)...), time.Unix(0, 0))
		if err != nil || ev.Metadata.Values["traceparent"] != testTraceparent {
			t.Fatalf("headers %q: got %v, %v; want the first traceparent", h, ev.Metadata.Values, err)
		}
		if len(h) == 6 && ev.Metadata.Values["tracestate"] != testTracestate {
			t.Fatalf("headers %q: tracestate %q, want the first", h, ev.Metadata.Values["tracestate"])
		}
	}
	// Other metadata keys twice stay an error.
	dup := hdrs(append(base, "meta.user", "a", "meta.user", "b")...)
	if _, err := Decode("t", 0, 0, []byte("s"), nil, dup, time.Unix(0, 0)); !errors.Is(err, eventstore.ErrCorruptLog) {
		t.Fatalf("meta.user twice: got %v, want a corrupt-log error", err)
	}
}
