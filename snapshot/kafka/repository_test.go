package kafka_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore"
	eskafka "github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/snapshot"
	snapkafka "github.com/kafkaes/kafkaes/snapshot/kafka"
)

// Test domain: an account whose state depends on every event in order.
type (
	deposited struct{ Amount int64 }
	renamed   struct{ Owner string }
)

type account struct {
	aggregate.Root
	Owner   string
	Balance int64
	Events  int64
	Digest  uint64
}

func (a *account) Apply(ev any) {
	a.Events++
	switch e := ev.(type) {
	case deposited:
		a.Balance += e.Amount
		a.Digest = a.Digest*31 + uint64(e.Amount)
	case renamed:
		a.Owner = e.Owner
		a.Digest = a.Digest*31 + uint64(len(e.Owner))
	}
}

func newAccount() *account { return &account{} }

func accountSerde(t testing.TB) serde.Serde {
	reg := serde.NewRegistry()
	require.NoError(t, serde.Register[deposited](reg, "test.Deposited"))
	require.NoError(t, serde.Register[renamed](reg, "test.Renamed"))
	require.NoError(t, serde.Register[account](reg, "test.Account"))
	return serde.NewJSON(reg)
}

// kafkaStores returns a Kafka event store and a Kafka snapshot store on
// fresh topics of cluster c.
func kafkaStores(t testing.TB, c *kafkatest.Cluster) (*eskafka.Store, *snapkafka.Store, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	events := kafkatest.TopicName(t, "events")
	snaps := kafkatest.TopicName(t, "snapshot")
	c.CreateTopic(t, events, 3, kafkatest.EventsTopicConfig())
	c.CreateTopic(t, snaps, 3, compacted())
	es, err := eskafka.New(ctx, c.Client(t), events)
	require.NoError(t, err)
	t.Cleanup(func() { _ = es.Close() })
	return es, open(t, client(t, c), snaps), snaps
}

func TestRepositoryWithKafkaSnapshots(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.New(t)
	es, ss, snapTopic := kafkaStores(t, c)
	sd := accountSerde(t)
	repo := aggregate.NewRepository(es, sd, newAccount, aggregate.WithLogger(quiet()),
		aggregate.WithSnapshots(ss, snapshot.EveryN(10)))
	for i := range 35 {
		_, err := repo.Update(ctx, "acc-1", func(a *account) error {
			if i%7 == 0 {
				aggregate.Raise(a, renamed{Owner: fmt.Sprint("owner-", i)})
			}
			aggregate.Raise(a, deposited{Amount: int64(i)})
			return nil
		})
		require.NoError(t, err)
	}
	require.NoError(t, repo.FlushSnapshots(ctx))
	st := repo.SnapshotStats()
	require.Positive(t, st.Writer.Written)
	require.Zero(t, st.Writer.Failed)

	// A restarted instance: new snapshot store (index rebuilt from the
	// topic) and new repository.
	ss2 := open(t, client(t, c), snapTopic)
	repo2 := aggregate.NewRepository(es, sd, newAccount, aggregate.WithLogger(quiet()),
		aggregate.WithSnapshots(ss2, snapshot.EveryN(10)))
	got, err := repo2.Load(ctx, "acc-1")
	require.NoError(t, err)
	require.EqualValues(t, 1, repo2.SnapshotStats().Hits)
	want, err := aggregate.NewRepository(es, sd, newAccount).Load(ctx, "acc-1")
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.EqualValues(t, 40, got.AggregateVersion())

	snap, err := ss2.Load(ctx, "acc-1")
	require.NoError(t, err)
	require.GreaterOrEqual(t, snap.Version, int64(30))
	var atSnap eventstore.RecordedEvent
	for rec, err := range es.ReadStream(ctx, "acc-1", snap.Version) {
		require.NoError(t, err)
		atSnap = rec
		break
	}
	require.Equal(t, atSnap.ID, snap.EventID, "the snapshot records the ID of the last event it covers")
}

// TestRepositoryTruncatedToKafkaSnapshot: a stream truncated right after
// its latest snapshot (kept in Kafka) loads from the snapshot, with the
// same state as before the truncation, on a restarted instance too; a
// repository without snapshots fails with ErrStreamTruncated instead of
// building a state from part of the history.
func TestRepositoryTruncatedToKafkaSnapshot(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.New(t)
	es, ss, snapTopic := kafkaStores(t, c)
	sd := accountSerde(t)
	repo := aggregate.NewRepository(es, sd, newAccount, aggregate.WithLogger(quiet()),
		aggregate.WithSnapshots(ss, snapshot.EveryN(10)))
	for i := range 25 {
		_, err := repo.Update(ctx, "acc-1", func(a *account) error {
			aggregate.Raise(a, deposited{Amount: int64(i)})
			return nil
		})
		require.NoError(t, err)
	}
	require.NoError(t, repo.FlushSnapshots(ctx))
	before, err := aggregate.NewRepository(es, sd, newAccount).Load(ctx, "acc-1")
	require.NoError(t, err)
	snap, err := ss.Load(ctx, "acc-1")
	require.NoError(t, err)
	require.Equal(t, int64(20), snap.Version)

	res, err := es.TruncateStream(ctx, "acc-1", eventstore.Exact(25), snap.Version+1)
	require.NoError(t, err)
	require.Equal(t, int64(26), res.Version)

	es2, err := eskafka.New(ctx, c.Client(t), es.Topic()) // a restarted instance
	require.NoError(t, err)
	t.Cleanup(func() { _ = es2.Close() })
	ss2 := open(t, client(t, c), snapTopic)
	repo2 := aggregate.NewRepository(es2, sd, newAccount, aggregate.WithLogger(quiet()),
		aggregate.WithSnapshots(ss2, snapshot.EveryN(10)))
	got, err := repo2.Load(ctx, "acc-1")
	require.NoError(t, err)
	require.EqualValues(t, 1, repo2.SnapshotStats().Hits)
	require.Equal(t, before.Balance, got.Balance)
	require.Equal(t, before.Digest, got.Digest)
	require.EqualValues(t, 26, got.AggregateVersion(), "the truncate marker counts")
	_, err = repo2.Update(ctx, "acc-1", func(a *account) error {
		aggregate.Raise(a, deposited{Amount: 1})
		return nil
	})
	require.NoError(t, err)

	_, err = aggregate.NewRepository(es2, sd, newAccount).Load(ctx, "acc-1")
	require.ErrorIs(t, err, eventstore.ErrStreamTruncated)
}
