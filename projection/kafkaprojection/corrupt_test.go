package kafkaprojection_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/wire"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
)

// TestFromStoreCorruptRecord is issue 12's projection over a corrupt
// stream: a foreign record (es.version 9 after 6) in the Kafka store's
// topic. FromStore used to hand the bogus 9 to handlers, and CatchUp
// failed counting the store's events ("corrupt log") whatever the failure
// policy. Now the record reaches the runner's failure policy: Skip skips
// it, DeadLetter parks it, Stop stops with it.
func TestFromStoreCorruptRecord(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events-invalid")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	ctx := timeout(t, 90*time.Second)
	store, err := kafka.New(ctx, c.Client(t), topic)
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	sd := testSerde()
	deposit := func(stream string, amount int64) {
		name, data, err := sd.Marshal(ctx, Deposited{Amount: amount})
		require.NoError(t, err)
		_, err = store.Append(ctx, stream, eventstore.Any, eventstore.Event{Type: name, Data: data})
		require.NoError(t, err)
	}
	for i := int64(1); i <= 6; i++ {
		deposit("acc", i)
	}
	// The foreign record: a valid-looking event of "acc" at version 9.
	cfg := c.Config()
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	raw, err := sarama.NewSyncProducer(c.Brokers, cfg)
	require.NoError(t, err)
	name, data, err := sd.Marshal(ctx, Deposited{Amount: 900})
	require.NoError(t, err)
	key, hs := wire.Encode("acc", 9, eventstore.Event{ID: eventstore.NewEventID(), Type: name, Data: data}, time.Now())
	_, bad, err := raw.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(key), Value: sarama.ByteEncoder(data), Headers: hs})
	require.NoError(t, err)
	require.NoError(t, raw.Close())
	deposit("other", 1000)

	run := func(t *testing.T, src projection.Source, opts ...projection.Option) ([]int64, error) {
		var amounts []int64
		r, err := projection.New("p", sd, []projection.Handler{
			projection.On(func(_ context.Context, d Deposited, _ projection.Meta) error {
				amounts = append(amounts, d.Amount)
				return nil
			}),
		}, append([]projection.Option{projection.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, opts...)...)
		require.NoError(t, err)
		return amounts, r.CatchUp(ctx, src, nil)
	}
	sources := []struct {
		name string
		src  func(t *testing.T) projection.Source
	}{
		{"FromStore", func(*testing.T) projection.Source { return projection.FromStore(store) }},
		// The Kafka catch-up reader has no index: it flags the event
		// because it read version 6 of the stream before it.
		{"Reader", func(t *testing.T) projection.Source {
			rd, err := kafkaprojection.NewReader(context.Background(), c.Client(t), topic)
			require.NoError(t, err)
			t.Cleanup(func() { _ = rd.Close() })
			return rd
		}},
	}
	for _, sc := range sources {
		t.Run(sc.name, func(t *testing.T) {
			t.Run("Skip", func(t *testing.T) {
				amounts, err := run(t, sc.src(t), projection.WithFailureAction(projection.Skip))
				require.NoError(t, err)
				require.Equal(t, []int64{1, 2, 3, 4, 5, 6, 1000}, amounts, "the bogus version 9 (900) is skipped, the rest delivered")
			})
			t.Run("DeadLetter", func(t *testing.T) {
				dlq := &projection.MemoryDeadLetters{}
				amounts, err := run(t, sc.src(t), projection.WithFailureAction(projection.DeadLetter), projection.WithDeadLetter(dlq))
				require.NoError(t, err)
				require.Equal(t, []int64{1, 2, 3, 4, 5, 6, 1000}, amounts)
				letters := dlq.Letters()
				require.Len(t, letters, 1)
				require.ErrorIs(t, letters[0].Err, eventstore.ErrCorruptLog)
				require.Equal(t, eventstore.Position{Partition: 0, Offset: bad}, letters[0].Record.Event.Position)
				require.Equal(t, "acc", letters[0].Record.Event.StreamID)
			})
			t.Run("Stop", func(t *testing.T) {
				amounts, err := run(t, sc.src(t))
				require.ErrorIs(t, err, eventstore.ErrCorruptLog)
				var he *projection.HandlerError
				require.True(t, errors.As(err, &he), "%T %v", err, err)
				require.Equal(t, []int64{1, 2, 3, 4, 5, 6}, amounts)
			})
		})
	}
}
