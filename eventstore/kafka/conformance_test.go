package kafka_test

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/eventstoretest"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/eventstore/kafka/pebbleindex"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// TestConformance runs the eventstore conformance suite on the Kafka store:
// every store on a fresh topic, peers as independent stores (own client,
// own producers) on the same topic.
func TestConformance(t *testing.T) { runConformance(t, nil) }

// TestConformanceDiskIndex runs the conformance suite with the
// disk-resident index (WithDiskIndex) and a cache of 8 streams, so that
// streams keep leaving memory and coming back from disk: every store and
// every peer with a directory of its own.
func TestConformanceDiskIndex(t *testing.T) {
	runConformance(t, func(t *testing.T) []kafka.Option {
		return []kafka.Option{kafka.WithIndexDir(t.TempDir()), kafka.WithDiskIndex(pebbleindex.Open, 8)}
	})
}

// runConformance runs the suite with stores opened with the options of
// opts (none when nil).
func runConformance(t *testing.T, opts func(t *testing.T) []kafka.Option) {
	c := kafkatest.New(t)
	open := func(t *testing.T, topic string) *kafka.Store {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var o []kafka.Option
		if opts != nil {
			o = opts(t)
		}
		s, err := kafka.New(ctx, c.Client(t), topic, o...)
		require.NoError(t, err)
		return s
	}
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store {
		topic := kafkatest.TopicName(t, "events")
		c.CreateTopic(t, topic, 3, kafkatest.EventsTopicConfig())
		return open(t, topic)
	}, eventstoretest.Features{
		Idempotency: true,
		Peer: func(t *testing.T, s eventstore.Store) eventstore.Store {
			return open(t, s.(*kafka.Store).Topic())
		},
		// A raw sarama producer writes a valid-looking event of the stream
		// at the wrong version to the stream's partition.
		Corrupt: func(t *testing.T, s eventstore.Store, stream string, version int64) eventstore.Position {
			topic := s.(*kafka.Store).Topic()
			var part int32 = -1
			for e, err := range s.ReadStream(context.Background(), stream, 1) {
				require.NoError(t, err)
				part = e.Position.Partition
				break
			}
			require.GreaterOrEqual(t, part, int32(0), "the stream has events")
			cfg := c.Config()
			cfg.Producer.Return.Successes = true
			cfg.Producer.RequiredAcks = sarama.WaitForAll
			cfg.Producer.Partitioner = sarama.NewManualPartitioner
			p, err := sarama.NewSyncProducer(c.Brokers, cfg)
			require.NoError(t, err)
			defer p.Close()
			key, hs := wire.Encode(stream, version, eventstore.Event{ID: eventstore.NewEventID(), Type: "Foreign", Data: []byte("{}")}, time.Now())
			_, off, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: part, Key: sarama.ByteEncoder(key), Value: sarama.ByteEncoder("{}"), Headers: hs})
			require.NoError(t, err)
			return eventstore.Position{Partition: part, Offset: off}
		},
	})
}
