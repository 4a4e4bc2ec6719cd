package kafka_test

import (
	"context"
	"testing"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// BenchmarkReadStreamShort reads a 1-event stream of a one-partition topic
// on which nothing else is written: the cost of ReadStream's strong
// catch-up (a ListOffsets and one fetch that finds nothing new) plus one
// record fetch, which is most of what a read of a short stream costs.
func BenchmarkReadStreamShort(b *testing.B) {
	c := kafkatest.New(b)
	topic := kafkatest.TopicName(b, "events")
	c.CreateTopic(b, topic, 1, kafkatest.EventsTopicConfig())
	s := openBenchStore(b, c, topic)
	ctx := context.Background()
	if _, err := s.Append(ctx, "s", eventstore.NoStream, eventstore.Event{Type: "T", Data: []byte(`{}`)}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		n := 0
		for _, err := range s.ReadStream(ctx, "s", 1) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 1 {
			b.Fatalf("read %d events, want 1", n)
		}
	}
}
