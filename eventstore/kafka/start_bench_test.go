package kafka_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/eventstore/kafka/pebbleindex"
	"github.com/kafkaes/kafkaes/internal/cputime"
)

// startSize returns the number of events and streams of BenchmarkStart:
// $KAFKAES_BENCH_START_EVENTS (default 200,000) events, 5 per stream.
func startSize() (events, streams int) {
	events = 200_000
	if n, err := strconv.Atoi(os.Getenv("KAFKAES_BENCH_START_EVENTS")); err == nil && n > 0 {
		events = n
	}
	return events, max(events/5, 1)
}

// BenchmarkStart measures what opening a store on a topic with history
// costs: the time of kafka.New (index build included; "fresh") against the
// floor of reading the same topic with a plain read_committed franz-go
// consumer ("read-floor"), and of kafka.New with WithIndexDir after a clean
// Close and 1,000 new events ("restart"), fresh and restart with the
// disk-resident index of WithDiskIndex ("fresh-disk", "restart-disk"),
// fresh and read-floor alternately in the same iterations with the ratios
// of their wall and CPU times ("fresh-vs-floor": steadier on a shared,
// loaded machine; read-floor and fresh report their process CPU time too,
// cpu-ms/op), and the live heap the store holds afterwards (heap-MiB: live heap after
// New minus before, each after a GC, so that an embedded Kafka's own
// memory does not count). Set KAFKAES_BROKERS for a real broker and
// KAFKAES_BENCH_START_EVENTS for the size (default 200,000 events, 5 per
// stream), and KAFKAES_BENCH_HEAPPROFILE to a file name for heap profiles
// taken with the store open (name.fresh, name.restart, ...). The disk
// index's pebble block cache is allocated outside the Go heap (with cgo)
// and is not in heap-MiB: it is bounded by its 8 MiB.
func BenchmarkStart(b *testing.B) {
	c := kafkatest.New(b)
	events, streams := startSize()
	topic := kafkatest.TopicName(b, "start")
	const parts = 6
	c.CreateTopic(b, topic, parts, kafkatest.EventsTopicConfig())
	fillTopic(b, c, topic, events, streams)
	name := fmt.Sprintf("events=%s/streams=%s", short(events), short(streams))

	b.Run(name+"/read-floor", func(b *testing.B) {
		var cpu time.Duration
		for b.Loop() {
			c0 := cputime.Process()
			if n := readWhole(b, c, topic, events); n != events {
				b.Fatalf("read %d of %d records", n, events)
			}
			cpu += cputime.Process() - c0
		}
		b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	})
	b.Run(name+"/fresh", func(b *testing.B) {
		client := c.Client(b)
		var heap float64
		var cpu time.Duration
		for b.Loop() {
			b.StopTimer()
			before := liveHeap()
			b.StartTimer()
			c0 := cputime.Process()
			s, err := kafka.New(context.Background(), client, topic)
			if err != nil {
				b.Fatal(err)
			}
			cpu += cputime.Process() - c0
			b.StopTimer()
			heap = float64(liveHeap()-before) / (1 << 20)
			writeHeapProfile("fresh")
			_ = s.Close()
			b.StartTimer()
		}
		b.ReportMetric(heap, "heap-MiB")
		b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	})
	// fresh/read-floor: the two, alternately, in the same iterations (in
	// turn first), so that a shared machine's changing load falls on both
	// alike; it reports the ratios of their summed wall and CPU times.
	b.Run(name+"/fresh-vs-floor", func(b *testing.B) {
		client := c.Client(b)
		var wall, cpu [2]time.Duration // read-floor, fresh
		round := 0
		for b.Loop() {
			for k := range 2 {
				which := (round + k) % 2
				// Each from a collected heap, as in read-floor and fresh
				// (and a new process): otherwise the previous store's
				// garbage raises the collector's goal and New runs with
				// fewer collections than a start has.
				b.StopTimer()
				runtime.GC()
				b.StartTimer()
				t0, c0 := time.Now(), cputime.Process()
				if which == 0 {
					if n := readWhole(b, c, topic, events); n != events {
						b.Fatalf("read %d of %d records", n, events)
					}
				} else {
					s, err := kafka.New(context.Background(), client, topic)
					if err != nil {
						b.Fatal(err)
					}
					wall[1] += time.Since(t0)
					cpu[1] += cputime.Process() - c0
					b.StopTimer()
					_ = s.Close()
					b.StartTimer()
					continue
				}
				wall[which] += time.Since(t0)
				cpu[which] += cputime.Process() - c0
			}
			round++
		}
		b.ReportMetric(float64(wall[1])/float64(wall[0]), "wall-ratio")
		b.ReportMetric(float64(cpu[1])/float64(cpu[0]), "cpu-ratio")
	})
	b.Run(name+"/restart", func(b *testing.B) {
		client := c.Client(b)
		dir := b.TempDir()
		s, err := kafka.New(context.Background(), client, topic, kafka.WithIndexDir(dir))
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil { // saves the index
			b.Fatal(err)
		}
		var heap float64
		round := 0
		for b.Loop() {
			b.StopTimer()
			round++
			appendNew(b, c, topic, round, 1000)
			before := liveHeap()
			b.StartTimer()
			s, err := kafka.New(context.Background(), client, topic, kafka.WithIndexDir(dir))
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			heap = float64(liveHeap()-before) / (1 << 20)
			writeHeapProfile("restart")
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(heap, "heap-MiB")
	})
	startDisk(b, c, topic, name)
}

// startDisk runs the fresh and restart sub-benchmarks of BenchmarkStart
// with the disk-resident index (WithDiskIndex, default cache): fresh-disk
// starts on an empty index directory every time, restart-disk as restart.
func startDisk(b *testing.B, c *kafkatest.Cluster, topic, name string) {
	opts := func(dir string) []kafka.Option {
		return []kafka.Option{kafka.WithIndexDir(dir), kafka.WithDiskIndex(pebbleindex.Open, 0)}
	}
	b.Run(name+"/fresh-disk", func(b *testing.B) {
		client := c.Client(b)
		var heap float64
		for b.Loop() {
			b.StopTimer()
			dir := b.TempDir()
			before := liveHeap()
			b.StartTimer()
			s, err := kafka.New(context.Background(), client, topic, opts(dir)...)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			heap = float64(liveHeap()-before) / (1 << 20)
			writeHeapProfile("fresh-disk")
			_ = s.Close()
			b.StartTimer()
		}
		b.ReportMetric(heap, "heap-MiB")
	})
	b.Run(name+"/restart-disk", func(b *testing.B) {
		client := c.Client(b)
		dir := b.TempDir()
		s, err := kafka.New(context.Background(), client, topic, opts(dir)...)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		var heap float64
		round := 1000 // other rounds than restart's: new streams again
		for b.Loop() {
			b.StopTimer()
			round++
			appendNew(b, c, topic, round, 1000)
			before := liveHeap()
			b.StartTimer()
			s, err := kafka.New(context.Background(), client, topic, opts(dir)...)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			heap = float64(liveHeap()-before) / (1 << 20)
			writeHeapProfile("restart-disk")
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(heap, "heap-MiB")
	})
}

// writeHeapProfile writes a heap profile to $KAFKAES_BENCH_HEAPPROFILE
// with "."+what appended, when it is set.
func writeHeapProfile(what string) {
	f := os.Getenv("KAFKAES_BENCH_HEAPPROFILE")
	if f == "" {
		return
	}
	if out, err := os.Create(f + "." + what); err == nil {
		_ = pprof.WriteHeapProfile(out)
		_ = out.Close()
	}
}

// appendNew writes n events to n new streams (version 1), as the store
// writes them.
func appendNew(b *testing.B, c *kafkatest.Cluster, topic string, round, n int) {
	b.Helper()
	p, err := sarama.NewSyncProducer(c.Brokers, rawProducerConfig(c))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	msgs := make([]*sarama.ProducerMessage, n)
	prefix := benchPrefix()
	for i := range msgs {
		msgs[i] = rawMessage(topic, fmt.Sprintf("new-%s-%d-%d", prefix, round, i), 1, benchEvent())
	}
	if err := p.SendMessages(msgs); err != nil {
		b.Fatal(err)
	}
}

// short writes n as the issue does: 1M, 200k, 1500.
func short(n int) string {
	switch {
	case n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// liveHeap returns the live heap after a full collection.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// fillTopic writes events records, versions 1..events/streams of each of
// streams streams, as the store writes them, with one idempotent producer.
func fillTopic(b *testing.B, c *kafkatest.Cluster, topic string, events, streams int) {
	b.Helper()
	cfg := rawProducerConfig(c)
	cfg.Producer.Flush.Messages = 500
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	p, err := sarama.NewAsyncProducer(c.Brokers, cfg)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		var first error
		for range events {
			select {
			case <-p.Successes():
			case e := <-p.Errors():
				if first == nil {
					first = e.Err
				}
			}
		}
		done <- first
	}()
	per := events / streams
	ev := benchEvent()
	prefix := benchPrefix()
	for v := 1; v <= per; v++ {
		for s := range streams {
			p.Input() <- rawMessage(topic, fmt.Sprintf("%s-%d", prefix, s), int64(v), ev)
		}
	}
	for range events - per*streams { // remainder: more events of stream 0
		per++
		p.Input() <- rawMessage(topic, fmt.Sprintf("%s-%d", prefix, 0), int64(per), ev)
	}
	if err := <-done; err != nil {
		b.Fatalf("fill topic: %v", err)
	}
	_ = p.Close()
}

// readWhole reads topic from the start with a franz-go read_committed
// consumer (the fastest Go client; the floor any index build is measured
// against) until it has seen want records, and returns how many it saw.
func readWhole(b *testing.B, c *kafkatest.Cluster, topic string, want int) int {
	b.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(c.Brokers...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(50*time.Millisecond),
	)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	n := 0
	for n < want {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			b.Fatalf("read %s: %v", topic, err)
		}
		n += fs.NumRecords()
	}
	return n
}

// BenchmarkReadAllFiltered: ReadAll of a topic of 200,000 events of 40
// types, everything vs WithTypes of 2 of them, alternating in one run; the
// filter skips the other records on their key and es.type header, before
// decoding them. The metrics are per whole read.
func BenchmarkReadAllFiltered(b *testing.B) {
	c := kafkatest.New(b)
	const events, types = 200_000, 40
	topic := kafkatest.TopicName(b, "filtered")
	c.CreateTopic(b, topic, 6, kafkatest.EventsTopicConfig())
	p, err := sarama.NewAsyncProducer(c.Brokers, rawProducerConfig(c))
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for range p.Successes() {
		}
	}()
	prefix := benchPrefix()
	for i := range events {
		ev := benchEvent()
		ev.Type = fmt.Sprintf("bench.Type%02d", i%types)
		p.Input() <- rawMessage(topic, fmt.Sprintf("%s-%d", prefix, i), 1, ev)
	}
	if err := p.Close(); err != nil {
		b.Fatal(err)
	}
	s := openBenchStore(b, c, topic)
	ctx := context.Background()
	read := func(opts ...eventstore.ReadOption) (int, time.Duration) {
		t0 := time.Now()
		n := 0
		for _, err := range s.ReadAll(ctx, nil, opts...) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		return n, time.Since(t0)
	}
	var tAll, tFiltered time.Duration
	for b.Loop() {
		n, d := read()
		if n != events {
			b.Fatalf("read %d of %d events", n, events)
		}
		tAll += d
		n, d = read(eventstore.WithTypes("bench.Type03", "bench.Type17"))
		if n != 2*events/types {
			b.Fatalf("filtered read gave %d events, want %d", n, 2*events/types)
		}
		tFiltered += d
	}
	b.ReportMetric(float64(tAll.Milliseconds())/float64(b.N), "all-ms")
	b.ReportMetric(float64(tFiltered.Milliseconds())/float64(b.N), "filtered-ms")
	b.ReportMetric(float64(tFiltered)/float64(tAll), "filtered/all")
}
