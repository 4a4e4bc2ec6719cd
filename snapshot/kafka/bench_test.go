package kafka_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/snapshot"
)

// BenchmarkRepositoryLoad measures aggregate loads on the Kafka event
// store (embedded kfake unless KAFKAES_BROKERS is set) with and without a
// Kafka snapshot store. Every stream has a snapshot 10 events behind its
// head, so a load with snapshots is: one snapshot fetch, then the events
// from the snapshot's version on (11 events).
func BenchmarkRepositoryLoad(b *testing.B) {
	ctx := context.Background()
	c := kafkatest.New(b)
	es, ss, snapTopic := kafkaStores(b, c)
	sd := accountSerde(b)
	always := snapshot.Custom(func(snapshot.Info) bool { return true })
	taker := aggregate.NewRepository(es, sd, newAccount, aggregate.WithLogger(quiet()), aggregate.WithSnapshots(ss, always))

	build := func(stream string, n int) {
		start := time.Now()
		const batch = 1000
		_, payload, err := sd.Marshal(ctx, deposited{Amount: 1})
		require.NoError(b, err)
		v := int64(0)
		head := int64(n - 11) // the snapshot is taken at version n-10 by one more command
		for v < head {
			k := min(batch, head-v)
			evs := make([]eventstore.Event, k)
			for i := range evs {
				evs[i] = eventstore.Event{Type: "test.Deposited", Data: payload}
			}
			res, err := es.Append(ctx, stream, eventstore.Exact(v), evs...)
			require.NoError(b, err)
			v = res.Version
		}
		_, err = taker.Update(ctx, stream, func(a *account) error { aggregate.Raise(a, deposited{Amount: 1}); return nil })
		require.NoError(b, err)
		require.NoError(b, taker.FlushSnapshots(ctx))
		for range 10 {
			_, err := es.Append(ctx, stream, eventstore.Any, eventstore.Event{Type: "test.Deposited", Data: payload})
			require.NoError(b, err)
		}
		b.Logf("built %s: %d events in %v", stream, n, time.Since(start).Round(time.Millisecond))
	}
	histories := []int{100, 100000}
	for _, n := range histories {
		build(fmt.Sprintf("acc-%d", n), n)
	}
	withSnaps := aggregate.NewRepository(es, sd, newAccount, aggregate.WithLogger(quiet()), aggregate.WithSnapshots(ss, snapshot.Never()))
	plain := aggregate.NewRepository(es, sd, newAccount)

	run := func(name string, repo *aggregate.Repository[*account], stream string, n int) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				a, err := repo.Load(ctx, stream)
				if err != nil {
					b.Fatal(err)
				}
				if a.AggregateVersion() != int64(n) || a.Balance != int64(n) {
					b.Fatalf("loaded version %d balance %d, want %d", a.AggregateVersion(), a.Balance, n)
				}
			}
		})
	}
	// The floor: one raw sarama fetch of the snapshot record (what a load
	// with snapshots does first), for the ratio.
	b.Run("raw-sarama-fetch-of-one-record", func(b *testing.B) {
		cl := client(b, c)
		var last *sarama.ConsumerMessage
		for _, m := range readAll(b, cl, snapTopic) {
			if string(m.Key) == "acc-100000" {
				last = m
			}
		}
		require.NotNil(b, last)
		for b.Loop() {
			broker, err := cl.Leader(snapTopic, last.Partition)
			if err != nil {
				b.Fatal(err)
			}
			req := &sarama.FetchRequest{Version: 11, MinBytes: 1, MaxBytes: 1 << 20, Isolation: sarama.ReadUncommitted, SessionEpoch: -1}
			req.AddBlock(snapTopic, last.Partition, last.Offset, 1<<20, -1)
			resp, err := broker.Fetch(req)
			if err != nil {
				b.Fatal(err)
			}
			if blk := resp.GetBlock(snapTopic, last.Partition); blk == nil || len(blk.RecordsSet) == 0 {
				b.Fatal("no record")
			}
		}
	})
	run("history=100/snapshots=on", withSnaps, "acc-100", 100)
	run("history=100000/snapshots=on", withSnaps, "acc-100000", 100000)
	run("history=100/snapshots=off", plain, "acc-100", 100)
	run("history=100000/snapshots=off", plain, "acc-100000", 100000)
	st := withSnaps.SnapshotStats()
	if st.Hits == 0 || st.Ignored != 0 || st.Misses != 0 {
		b.Fatalf("snapshot stats %+v: every load with snapshots must be served from a snapshot", st)
	}
}
