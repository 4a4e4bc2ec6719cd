package kafkakeys_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/serde/pii"
	"github.com/kafkaes/kafkaes/serde/pii/kafkakeys"
)

// TestCompactedTopic writes keys, erases and re-creates some, lets a real
// broker compact the topic (aggressive settings: segments roll after
// 100ms, any dirty ratio is cleaned, tombstones kept 100ms), with aborted
// candidates of two racing instances in it, and then reads the keys with
// the instance that wrote them (a one-key cache, so every
// read goes to the topic) and with a fresh one. kfake does not compact:
// there the same reads run on the uncompacted topic.
func TestCompactedTopic(t *testing.T) {
	ctx := ctxT(t)
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "keys")
	s := func(v string) *string { return &v }
	c.CreateTopic(t, topic, 1, map[string]*string{
		"cleanup.policy": s("compact"), "segment.ms": s("100"), "min.cleanable.dirty.ratio": s("0.01"),
		"delete.retention.ms": s("100"), "min.compaction.lag.ms": s("0"),
	})
	w := open(t, c, topic, kafkakeys.WithCacheSize(1), kafkakeys.WithRefreshInterval(0))
	want := map[string]pii.Key{}
	erased := map[string]uint64{}
	for i := range 20 {
		subject := fmt.Sprintf("p-%d", i)
		k, err := w.GetOrCreate(ctx, subject)
		require.NoError(t, err)
		want[subject] = k
	}
	for i := range 10 {
		subject := fmt.Sprintf("p-%d", i)
		require.NoError(t, w.Erase(ctx, subject))
		erased[subject] = want[subject].ID
		delete(want, subject)
	}
	for i := range 5 {
		subject := fmt.Sprintf("p-%d", i)
		k, err := w.GetOrCreate(ctx, subject)
		require.NoError(t, err)
		want[subject] = k
	}
	// Two instances race for the first keys of more subjects: the losers'
	// aborted candidates sit after the winners' records, and compaction
	// must keep the committed one.
	w2 := open(t, c, topic, kafkakeys.WithRefreshInterval(0))
	var wg sync.WaitGroup
	var mu sync.Mutex
	for n := range 10 {
		subject := fmt.Sprintf("race-%d", n)
		for _, s := range []*kafkakeys.Store{w, w2} {
			wg.Go(func() {
				k, err := s.GetOrCreate(ctx, subject)
				if !assertNoError(t, err) {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if prev, ok := want[subject]; ok && prev.ID != k.ID {
					t.Errorf("%s: two keys", subject)
				}
				want[subject] = k
			})
		}
	}
	wg.Wait()
	written := rawRecords(t, c, topic)
	if !c.Embedded {
		// Keep rolling segments (a write after segment.ms) until the
		// cleaner has compacted the log.
		deadline := time.Now().Add(90 * time.Second)
		for n := 0; rawRecords(t, c, topic) >= written; n++ {
			require.True(t, time.Now().Before(deadline), "the broker did not compact the key topic within 90s")
			time.Sleep(500 * time.Millisecond)
			_, err := w.GetOrCreate(ctx, fmt.Sprintf("filler-%d", n))
			require.NoError(t, err)
			written++
		}
		t.Logf("compacted: %d records left of %d written", rawRecords(t, c, topic), written)
	}
	fresh := open(t, c, topic, kafkakeys.WithCacheSize(2), kafkakeys.WithRefreshInterval(0))
	for name, s := range map[string]*kafkakeys.Store{"writer": w, "fresh": fresh} {
		for subject, k := range want {
			got, err := s.Get(ctx, subject, k.ID)
			require.NoError(t, err, "%s %s", name, subject)
			require.Equal(t, k, got, "%s %s", name, subject)
			got, err = s.GetOrCreate(ctx, subject)
			require.NoError(t, err)
			require.Equal(t, k, got, "%s %s", name, subject)
		}
		for subject, id := range erased {
			if _, live := want[subject]; live {
				_, err := s.Get(ctx, subject, id)
				require.ErrorIs(t, err, pii.ErrKeyNotFound, "%s %s: the erased key", name, subject)
				continue
			}
			_, err := s.Get(ctx, subject, id)
			require.ErrorIs(t, err, pii.ErrKeyNotFound, "%s %s", name, subject)
		}
	}
}
