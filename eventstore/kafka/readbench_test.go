package kafka_test

import (
	"context"
	"testing"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// BenchmarkReadStreamShort reads a 1-event stream of a one-partition topic
// on which nothing else is written: the cost of ReadStream's strong
// catch-up (a ListOffsets and one fetch that finds nothing new) plus one
// record fetch, which is most of what a read of a short stream costs.
//
// raw-sarama is the same information got by hand with sarama, in the same
// run: the partition's latest offset (ListOffsets) and one read_committed
// fetch of the stream's record, without any check. The ratio of the two is
// what kafkaes adds to the minimum a strong read needs (its catch-up fetch,
// the index lookup, the key and version checks).
func BenchmarkReadStreamShort(b *testing.B) {
	c := kafkatest.New(b)
	topic := kafkatest.TopicName(b, "events")
	c.CreateTopic(b, topic, 1, kafkatest.EventsTopicConfig())
	s := openBenchStore(b, c, topic)
	ctx := context.Background()
	res, err := s.Append(ctx, "s", eventstore.NoStream, eventstore.Event{Type: "T", Data: []byte(`{}`)})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("kafkaes", func(b *testing.B) {
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
	})
	b.Run("raw-sarama", func(b *testing.B) {
		client := c.Client(b)
		leader, err := client.Leader(topic, 0)
		if err != nil {
			b.Fatal(err)
		}
		at := res.Positions[0].Offset
		for b.Loop() {
			end, err := client.GetOffset(topic, 0, sarama.OffsetNewest)
			if err != nil || end <= at {
				b.Fatalf("latest offset %d, %v", end, err)
			}
			req := &sarama.FetchRequest{Version: 10, MaxWaitTime: 0, MinBytes: 1, MaxBytes: 1 << 20, Isolation: sarama.ReadCommitted}
			req.AddBlock(topic, 0, at, 1<<20, -1)
			resp, err := leader.Fetch(req)
			if err != nil {
				b.Fatal(err)
			}
			blk := resp.GetBlock(topic, 0)
			if blk == nil || blk.Err != sarama.ErrNoError || len(blk.RecordsSet) == 0 {
				b.Fatalf("fetch: %+v", blk)
			}
		}
	})
}
