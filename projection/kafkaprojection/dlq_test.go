package kafkaprojection_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/wire"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/internal/testrun"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
)

// readAll reads a topic's records from the beginning to the high watermark.
func readAll(t *testing.T, c *kafkatest.Cluster, topic string) []*sarama.ConsumerMessage {
	t.Helper()
	cl := c.Client(t)
	parts, err := cl.Partitions(topic)
	require.NoError(t, err)
	cons, err := sarama.NewConsumerFromClient(cl)
	require.NoError(t, err)
	defer cons.Close()
	var out []*sarama.ConsumerMessage
	for _, p := range parts {
		hw, err := cl.GetOffset(topic, p, sarama.OffsetNewest)
		require.NoError(t, err)
		if hw == 0 {
			continue
		}
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		require.NoError(t, err)
		for {
			select {
			case m := <-pc.Messages():
				out = append(out, m)
				if m.Offset < hw-1 {
					continue
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("timeout reading %s/%d", topic, p)
			}
			break
		}
		_ = pc.Close()
	}
	return out
}

func header(m *sarama.ConsumerMessage, k string) string {
	v, _ := wire.Header(m.Headers, k)
	return string(v)
}

// A poison event and a corrupt record are dead-lettered to <topic>.dlq with
// the error and origin; the later events of their streams follow them there
// in order and never overtake them; other streams go on. A restarted
// runner (new instance, same projection) keeps parking the streams.
func TestPoisonEventsToDLQKeepStreamOrder(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events-invalid")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	dlqTopic := kafkaprojection.DLQTopic(topic)
	c.CreateTopic(t, dlqTopic, 1, nil)
	p := newProducer(t, c, topic)

	p.deposit("a", 1)
	p.deposit("b", 1)
	p.deposit("a", -1) // poison: a/2
	p.raw("c", []byte("not an event"))
	p.deposit("b", 2)
	p.deposit("a", 3) // a/3 must follow a/2
	p.deposit("c", 1) // c is parked by its corrupt record
	last := p.deposit("b", 3)

	dlq, err := kafkaprojection.NewDLQ(context.Background(), c.Client(t), dlqTopic)
	require.NoError(t, err)
	t.Cleanup(func() { _ = dlq.Close() })
	got := newSeen()
	var attempts int
	newRunner := func() *projection.Runner {
		r, err := projection.New("balances", testSerde(), []projection.Handler{
			projection.On(func(_ context.Context, ev Deposited, m projection.Meta) error {
				if ev.Amount < 0 {
					attempts++
					return errors.New("negative deposit")
				}
				got.add(m.StreamID, m.Version)
				return nil
			}),
		}, projection.WithDeadLetter(dlq), projection.WithRetry(3, time.Millisecond, time.Millisecond))
		require.NoError(t, err)
		return r
	}
	r := newRunner()
	src := newSource(t, c, topic, kafkatest.TopicName(t, "group"))
	stop := testrun.Background(t, func(ctx context.Context) error { return r.Run(ctx, src) })
	require.NoError(t, r.WaitFor(timeout(t, 60*time.Second), last))
	require.ErrorIs(t, stop(), context.Canceled)

	require.Equal(t, 3, attempts)
	require.Equal(t, []string{"a/1", "b/1", "b/2", "b/3"}, keys(got.counts()))
	letters := readAll(t, c, dlqTopic)
	require.Len(t, letters, 4)
	type L struct{ key, parked, offset, ver string }
	var ls []L
	for _, m := range letters {
		ls = append(ls, L{string(m.Key), header(m, kafkaprojection.HeaderDLQParked), header(m, kafkaprojection.HeaderDLQOffset), header(m, wire.HeaderVersion)})
		require.Equal(t, "balances", header(m, kafkaprojection.HeaderDLQProjection))
		require.Equal(t, topic, header(m, kafkaprojection.HeaderDLQTopic))
		require.Equal(t, "0", header(m, kafkaprojection.HeaderDLQPartition))
		require.NotEmpty(t, header(m, kafkaprojection.HeaderDLQError))
		require.NotEmpty(t, header(m, kafkaprojection.HeaderDLQTime))
	}
	require.Equal(t, []L{{"a", "false", "2", "2"}, {"c", "false", "3", ""}, {"a", "true", "5", "3"}, {"c", "true", "6", "1"}}, ls)
	require.Contains(t, header(letters[0], kafkaprojection.HeaderDLQError), "negative deposit")
	require.Equal(t, "3", header(letters[0], kafkaprojection.HeaderDLQAttempts))
	require.Contains(t, header(letters[1], kafkaprojection.HeaderDLQError), "corrupt")
	require.Equal(t, "not an event", string(letters[1].Value))
	require.Equal(t, "test.Deposited", header(letters[2], wire.HeaderType), "the original headers are kept")

	// A new instance of the projection (new group: it reads everything
	// again) still parks a and c, but handles b and the earlier a/1.
	got2 := newSeen()
	got = got2
	next := p.deposit("a", 4)
	r2 := newRunner()
	src2 := newSource(t, c, topic, kafkatest.TopicName(t, "group2"))
	stop2 := testrun.Background(t, func(ctx context.Context) error { return r2.Run(ctx, src2) })
	require.NoError(t, r2.WaitFor(timeout(t, 60*time.Second), next))
	require.ErrorIs(t, stop2(), context.Canceled)
	require.Equal(t, []string{"a/1", "b/1", "b/2", "b/3"}, keys(got2.counts()))
	letters = readAll(t, c, dlqTopic)
	lastL := letters[len(letters)-1]
	require.Equal(t, "a", string(lastL.Key))
	require.Equal(t, "4", header(lastL, wire.HeaderVersion))
	require.Equal(t, "true", header(lastL, kafkaprojection.HeaderDLQParked))
}
