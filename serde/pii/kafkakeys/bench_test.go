package kafkakeys_test

import (
	"fmt"
	"testing"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/serde/pii/kafkakeys"
)

// BenchmarkKeys measures the key store: creating the first key of a new
// subject (a transaction with the conflict scan), and reading a key that
// is cached or evicted (one fetch).
//
//	go test -run '^$' -bench BenchmarkKeys ./serde/pii/kafkakeys
func BenchmarkKeys(b *testing.B) {
	ctx := ctxT(b)
	c := kafkatest.New(b)
	topic := kafkatest.TopicName(b, "keys")
	s := open(b, c, topic, kafkakeys.WithCacheSize(1), kafkakeys.WithRefreshInterval(0))
	n := 0
	b.Run("create", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.GetOrCreate(ctx, fmt.Sprintf("s-%d", n)); err != nil {
				b.Fatal(err)
			}
			n++
		}
	})
	k0, _ := s.GetOrCreate(ctx, "s-0")
	b.Run("get-cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Get(ctx, "s-0", k0.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	k1, _ := s.GetOrCreate(ctx, "s-1")
	b.Run("get-evicted", func(b *testing.B) {
		i := 0
		for b.Loop() {
			subject, id := "s-0", k0.ID
			if i%2 == 1 {
				subject, id = "s-1", k1.ID
			}
			if _, err := s.Get(ctx, subject, id); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
