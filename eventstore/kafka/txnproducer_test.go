package kafka

import (
	"crypto/rand"
	"errors"
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// requireVersions checks that stream holds exactly the events with the
// given payloads, versions 1..n.
func requireVersions(t *testing.T, s *Store, stream string, payloads ...string) {
	t.Helper()
	evs, err := collectStream(t, s, stream)
	require.NoError(t, err)
	require.Len(t, evs, len(payloads))
	for i, ev := range evs {
		require.Equal(t, int64(i+1), ev.Version)
		require.Equal(t, payloads[i], string(ev.Data))
	}
}

// TestRefusedRecord: a record the broker refuses (larger than the topic's
// max.message.bytes) fails its append with the broker's error, not a
// conflict, leaves nothing behind, and the producer (re-initialised with a
// new epoch, which resets its sequence numbers) goes on writing the same
// and other streams, also in the same group commit.
func TestRefusedRecord(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	cfg := kafkatest.EventsTopicConfig()
	limit := "4096"
	cfg["max.message.bytes"] = &limit
	c.CreateTopic(t, topic, 2, cfg)
	ctx := testCtx(t)
	s := openStore(t, c, topic, WithConcurrentTransactions(1))

	ev := func(data string) eventstore.Event { return eventstore.Event{Type: "T", Data: []byte(data)} }
	_, err := s.Append(ctx, "s", eventstore.NoStream, ev("one"))
	require.NoError(t, err)

	big := make([]byte, 64<<10)
	_, _ = rand.Read(big) // incompressible, also with zstd
	_, err = s.Append(ctx, "s", eventstore.Exact(1), eventstore.Event{Type: "T", Data: big})
	require.Error(t, err)
	require.True(t, errors.Is(err, sarama.ErrMessageSizeTooLarge), "want the broker's refusal, got %v", err)
	require.False(t, errors.Is(err, eventstore.ErrConcurrencyConflict), "a refused record is no conflict: %v", err)

	_, err = s.Append(ctx, "s", eventstore.Exact(1), ev("two"))
	require.NoError(t, err, "the producer must be usable after a refused record")
	_, err = s.Append(ctx, "other", eventstore.NoStream, ev("x"))
	require.NoError(t, err)
	for i := range 5 {
		_, err = s.Append(ctx, "s", eventstore.Exact(int64(2+i)), ev("more"))
		require.NoError(t, err)
	}
	requireVersions(t, s, "s", "one", "two", "more", "more", "more", "more", "more")
	requireVersions(t, s, "other", "x")

	// A fresh store sees the same log (nothing of the refused append).
	s2 := openStore(t, c, topic)
	requireVersions(t, s2, "s", "one", "two", "more", "more", "more", "more", "more")
}

// TestSharedPrefixFencing: two live stores with the same transactional ID
// prefix fence each other's producers (the documented misuse). Each fenced
// store replaces its producer and retries, so appends still succeed, and
// the log stays consistent: versions 1..n, every acknowledged append once.
func TestSharedPrefixFencing(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	ctx := testCtx(t)
	prefix := "fence-" + topic
	ev := func(data string) eventstore.Event { return eventstore.Event{Type: "T", Data: []byte(data)} }

	a := openStore(t, c, topic, WithTransactionalIDPrefix(prefix), WithConcurrentTransactions(1))
	_, err := a.Append(ctx, "a", eventstore.NoStream, ev("a1"))
	require.NoError(t, err)

	b := openStore(t, c, topic, WithTransactionalIDPrefix(prefix), WithConcurrentTransactions(1)) // fences a
	_, err = b.Append(ctx, "b", eventstore.NoStream, ev("b1"))
	require.NoError(t, err)

	for i := range 3 {
		_, err = a.Append(ctx, "a", eventstore.Exact(int64(1+i)), ev("a"))
		require.NoError(t, err, "store a, fenced by b, replaces its producer and retries")
		_, err = b.Append(ctx, "b", eventstore.Exact(int64(1+i)), ev("b"))
		require.NoError(t, err, "store b, fenced by a, replaces its producer and retries")
	}

	fresh := openStore(t, c, topic)
	requireVersions(t, fresh, "a", "a1", "a", "a", "a")
	requireVersions(t, fresh, "b", "b1", "b", "b", "b")
}
