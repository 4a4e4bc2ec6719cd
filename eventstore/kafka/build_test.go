package kafka

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// TestBuildEqualsCatchUp: the index that New builds with its parallel,
// fetch-ahead build equals the index the ordinary catch-up builds from
// scratch on the same log (interleaved streams, the store's own
// transactional appends, out-of-place and key-less records).
func TestBuildEqualsCatchUp(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events-invalid")
	const parts = 3
	c.CreateTopic(t, topic, parts, kafkatest.EventsTopicConfig())
	ctx := testCtx(t)
	s := openStore(t, c, topic)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		stream := fmt.Sprintf("s-%d", rng.IntN(40))
		evs := make([]eventstore.Event, 1+rng.IntN(3))
		for k := range evs {
			evs[k] = ev("T", i*10+k)
			if rng.IntN(5) == 0 {
				evs[k].ID = fmt.Sprintf("cmd-%d-%d", i, k) // not a UUID
			}
		}
		_, err := s.Append(ctx, stream, eventstore.Any, evs...)
		require.NoError(t, err)
	}
	// Foreign records: an out-of-place version, and a key-less record, on
	// every partition.
	var msgs []*sarama.ProducerMessage
	for p := range int32(parts) {
		m := encodedMsg(topic, "s-1", 999, "T")
		m.Partition = p
		msgs = append(msgs, m, &sarama.ProducerMessage{Topic: topic, Partition: p, Value: sarama.StringEncoder("x")})
	}
	rawProduce(t, c, msgs...)

	built := openStore(t, c, topic) // New: build, then catch-up
	caught := openStore(t, c, topic)
	for p := range caught.idx { // start over with the ordinary catch-up
		caught.idx[p] = newPartIndex()
	}
	all := []int32{0, 1, 2}
	require.NoError(t, caught.catchUp(ctx, all, false, nil))
	requireSameIndex(t, caught, built)
	require.NotZero(t, memIndex(built, 0).foreign+memIndex(built, 1).foreign+memIndex(built, 2).foreign)
}

// requireSameIndex fails unless got's stream index holds what want's
// does, partition by partition.
func requireSameIndex(t *testing.T, want, got *Store) {
	t.Helper()
	require.Equal(t, len(want.idx), len(got.idx), "partitions")
	for p := range want.idx {
		kn, kf, ks := indexStreams(t, want, int32(p))
		bn, bf, bs := indexStreams(t, got, int32(p))
		require.Equal(t, kn, bn, "partition %d: next", p)
		require.Equal(t, kf, bf, "partition %d: foreign records", p)
		require.ElementsMatch(t, slices.Collect(maps.Keys(ks)), slices.Collect(maps.Keys(bs)), "partition %d: streams", p)
		for id, kst := range ks {
			bst := bs[id]
			require.Equal(t, kst.version, bst.version, "stream %s", id)
			require.Equal(t, kst.runs, bst.runs, "stream %s", id)
			require.Equal(t, orderedIDs(kst), orderedIDs(bst), "stream %s", id)
			require.Equal(t, kst.corrupt, bst.corrupt, "stream %s", id)
			require.Equal(t, kst.life, bst.life, "stream %s: lifecycle", id)
		}
	}
}

// indexStreams returns the catch-up offset, the count of foreign records
// and the streams of partition p's index, in memory or on disk (which it
// flushes first). The states are the index's own; only read them.
func indexStreams(t *testing.T, s *Store, p int32) (next, foreign int64, streams map[string]*streamState) {
	t.Helper()
	ix := memIndex(s, p)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.disk == nil {
		return ix.next, ix.foreign, maps.Clone(ix.streams)
	}
	require.NoError(t, ix.disk.flush(ix.next, ix.foreign, false))
	prefix := diskStreamPrefix(p)
	streams = map[string]*streamState{}
	require.NoError(t, s.db.Scan(prefix, diskStreamPrefix(p+1), func(k, v []byte) error {
		st, err := decodeState(v, s.topic, p, s.opts.idWindow)
		streams[string(k[len(prefix):])] = st
		return err
	}))
	return ix.next, ix.foreign, streams
}

// orderedIDs returns the keys of a stream's ID ring, oldest first.
func orderedIDs(st *streamState) []idKey {
	out := make([]idKey, 0, len(st.ids))
	for k := range st.ids {
		out = append(out, st.ids[(st.idNext+k)%len(st.ids)])
	}
	return out
}
