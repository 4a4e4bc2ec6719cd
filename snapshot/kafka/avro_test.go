package kafka_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/avro/avrotest"
	"github.com/kafkaes/kafkaes/snapshot"
)

// avroAccount snapshots a plain state record: Avro schemas are derived from
// Go types, and the derivation does not support the embedded
// aggregate.Root (nor uint64), so the aggregate itself cannot be the state.
type avroAccount struct{ account }

type accountState struct {
	Owner   string
	Balance int64
	Events  int64
	Digest  int64
}

func (a *avroAccount) SnapshotState() any {
	return accountState{Owner: a.Owner, Balance: a.Balance, Events: a.Events, Digest: int64(a.Digest)}
}

func (a *avroAccount) RestoreSnapshot(state any) error {
	s := state.(accountState)
	a.Owner, a.Balance, a.Events, a.Digest = s.Owner, s.Balance, s.Events, uint64(s.Digest)
	return nil
}

// TestRepositoryWithKafkaSnapshotsAvro runs the whole stack with Avro
// through a Schema Registry: events and snapshot state are Confluent-framed
// Avro records.
func TestRepositoryWithKafkaSnapshotsAvro(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.New(t)
	es, ss, _ := kafkaStores(t, c)
	reg := serde.NewRegistry()
	require.NoError(t, serde.Register[deposited](reg, "test.Deposited"))
	require.NoError(t, serde.Register[renamed](reg, "test.Renamed"))
	require.NoError(t, serde.Register[accountState](reg, "test.AccountState"))
	client, _ := avrotest.Registry(t)
	sd, err := avro.New(ctx, reg, client, kafkatest.TopicName(t, "events"))
	require.NoError(t, err)

	repo := aggregate.NewRepository(es, sd, func() *avroAccount { return &avroAccount{} }, aggregate.WithLogger(quiet()),
		aggregate.WithSnapshots(ss, snapshot.EveryN(5)))
	for i := range 12 {
		_, err := repo.Update(ctx, "acc-avro", func(a *avroAccount) error {
			aggregate.Raise(a, deposited{Amount: int64(i)}, renamed{Owner: "o"})
			return nil
		})
		require.NoError(t, err)
	}
	require.NoError(t, repo.FlushSnapshots(ctx))
	st := repo.SnapshotStats()
	require.Zero(t, st.EncodeErrors)
	require.Positive(t, st.Writer.Written)
	snap, err := ss.Load(ctx, "acc-avro")
	require.NoError(t, err)
	require.Equal(t, "test.AccountState", snap.Type)
	require.Equal(t, byte(0), snap.Data[0], "Confluent wire format: magic byte 0, schema ID, Avro body")

	hits := repo.SnapshotStats().Hits
	got, err := repo.Load(ctx, "acc-avro")
	require.NoError(t, err)
	require.Equal(t, hits+1, repo.SnapshotStats().Hits)
	want, err := aggregate.NewRepository(es, sd, func() *avroAccount { return &avroAccount{} }).Load(ctx, "acc-avro")
	require.NoError(t, err)
	require.Equal(t, want, got)
}
