package kafka_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// BenchmarkAppendMulti: one appender, no contention, one event to each of
// two streams on different partitions. single-pair issues two
// single-stream Appends concurrently (what a caller without multi-stream
// appends would do, with no atomicity); kafkaes is one AppendMulti, both
// events in one transaction, all or nothing. Compare the p50-ns metrics
// (goal: kafkaes ≤ 1.3x single-pair).
func BenchmarkAppendMulti(b *testing.B) {
	c := kafkatest.New(b)
	topic := kafkatest.TopicName(b, "events")
	c.CreateTopic(b, topic, benchPartitions, kafkatest.EventsTopicConfig())
	ev := benchEvent()
	pair := func() (string, string) {
		prefix := benchPrefix()
		first := prefix + "-0"
		for i := 1; ; i++ {
			if second := prefix + "-" + strconv.Itoa(i); wire.PartitionString(second, benchPartitions) != wire.PartitionString(first, benchPartitions) {
				return first, second
			}
		}
	}
	b.Run("streams=2/single-pair", func(b *testing.B) {
		s := openBenchStore(b, c, topic)
		x, y := pair()
		ctx := context.Background()
		latencyRun(b, func(k int64) error {
			errc := make(chan error, 1)
			go func() {
				_, err := s.Append(ctx, y, eventstore.Exact(k), ev)
				errc <- err
			}()
			_, err := s.Append(ctx, x, eventstore.Exact(k), ev)
			if err2 := <-errc; err == nil {
				err = err2
			}
			return err
		})
	})
	b.Run("streams=2/kafkaes", func(b *testing.B) {
		s := openBenchStore(b, c, topic)
		x, y := pair()
		ctx := context.Background()
		latencyRun(b, func(k int64) error {
			_, err := s.AppendMulti(ctx,
				eventstore.StreamAppend{StreamID: x, Expected: eventstore.Exact(k), Events: []eventstore.Event{ev}},
				eventstore.StreamAppend{StreamID: y, Expected: eventstore.Exact(k), Events: []eventstore.Event{ev}},
			)
			return err
		})
	})
}
