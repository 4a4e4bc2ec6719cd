package kafka_test

import (
	"context"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// BenchmarkLoadLongStream: issue 13's long-stream goal. A stream of
// KAFKAES_BENCH_LONG_EVENTS events (default 10,000) written one event per
// append, while 8 other streams of the same partition are appended to as
// well (so its events are scattered between other records and markers),
// is loaded by a second store (no read cache: the events come from
// Kafka), alternating with a 10-event stream written the same way.
// Reports short-µs/load, long-µs/load and long/short (goal: ≤ 20).
// Sub-benchmark zstd-every-batch writes the one-event batches compressed
// too, as the store did before it wrote batches under compressMinBytes
// uncompressed.
func BenchmarkLoadLongStream(b *testing.B) {
	b.Run("batches=default", func(b *testing.B) { benchLoadLongStream(b) })
	b.Run("batches=zstd-every-batch", func(b *testing.B) {
		b.Cleanup(kafka.SetCompressMinBytes(0))
		benchLoadLongStream(b)
	})
}

func benchLoadLongStream(b *testing.B) {
	n := 10_000
	if v, err := strconv.Atoi(os.Getenv("KAFKAES_BENCH_LONG_EVENTS")); err == nil && v > 0 {
		n = v
	}
	c := kafkatest.New(b)
	topic := kafkatest.TopicName(b, "events")
	c.CreateTopic(b, topic, 1, kafkatest.EventsTopicConfig())
	w := openBenchStore(b, c, topic)
	ctx := context.Background()
	prefix := benchPrefix()
	long, short := prefix+"-long", prefix+"-short"
	t0 := time.Now()
	var wg sync.WaitGroup
	var failed error
	var mu sync.Mutex
	write := func(stream string, count int) {
		for v := range count {
			if _, err := w.Append(ctx, stream, eventstore.Exact(int64(v)), benchEvent()); err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
				return
			}
		}
	}
	wg.Go(func() { write(long, n) })
	wg.Go(func() { write(short, 10) })
	for i := range 8 {
		wg.Go(func() { write(prefix+"-other-"+strconv.Itoa(i), n/8) })
	}
	wg.Wait()
	if failed != nil {
		b.Fatal(failed)
	}
	b.Logf("wrote %d + 10 + %d events one per append in %v", n, n, time.Since(t0).Round(time.Millisecond))
	r := openBenchStore(b, c, topic, kafka.WithReadCache(0))
	load := func(stream string, want int) time.Duration {
		t0 := time.Now()
		got := 0
		for _, err := range r.ReadStream(ctx, stream, 1) {
			if err != nil {
				b.Fatal(err)
			}
			got++
		}
		if got != want {
			b.Fatalf("loaded %d events of %s, want %d", got, stream, want)
		}
		return time.Since(t0)
	}
	var ts, tl time.Duration
	for b.Loop() {
		ts += load(short, 10)
		tl += load(long, n)
	}
	b.ReportMetric(float64(ts.Microseconds())/float64(b.N), "short-µs/load")
	b.ReportMetric(float64(tl.Microseconds())/float64(b.N), "long-µs/load")
	b.ReportMetric(float64(tl)/float64(ts), "long/short")
}
