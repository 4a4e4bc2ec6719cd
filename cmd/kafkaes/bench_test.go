package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/cputime"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// BenchmarkReadTopic compares reading a whole events topic with the raw
// read_committed fetches of kafkaes verify/stream ("reader", and "verify"
// with all checks) against a plain sarama read_committed consumer that reads
// the same records ("sarama"). Report the ratio of the ns/op values; the
// machine is shared, absolute numbers drift.
//
//	go test -run '^$' -bench BenchmarkReadTopic -benchtime 5x ./cmd/kafkaes/
func BenchmarkReadTopic(b *testing.B) {
	const (
		nparts  = 4
		nevents = 20000
	)
	c := kafkatest.New(b)
	topic := kafkatest.TopicName(b, "events")
	c.CreateTopic(b, topic, nparts, kafkatest.EventsTopicConfig())
	cfg := c.Config()
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = wire.NewPartitioner
	p, err := sarama.NewSyncProducer(c.Brokers, cfg)
	if err != nil {
		b.Fatal(err)
	}
	var batch []*sarama.ProducerMessage
	for i := range nevents {
		r := event(fmt.Sprintf("s-%d", i%500), int64(i/500+1), fmt.Sprint("id-", i), fmt.Sprintf(`{"amount":%d,"currency":"EUR"}`, i))
		batch = append(batch, &sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(r.key), Value: sarama.ByteEncoder(r.value), Headers: r.headers})
		if len(batch) == 1000 {
			if err := p.SendMessages(batch); err != nil {
				b.Fatal(err)
			}
			batch = nil
		}
	}
	_ = p.Close()
	cl := c.Client(b)
	ctx := context.Background()

	b.Run("reader", func(b *testing.B) {
		defer cpuPerOp(b)()
		for b.Loop() {
			rd := newReader(cl, topic)
			_, start, end, _ := rd.bounds(ctx)
			n := 0
			if err := rd.scan(ctx, start, end, func(rec) error { n++; return nil }, nil); err != nil {
				b.Fatal(err)
			}
			if n != nevents {
				b.Fatalf("read %d records, want %d", n, nevents)
			}
		}
		b.ReportMetric(float64(nevents), "records/op")
	})
	b.Run("verify", func(b *testing.B) {
		defer cpuPerOp(b)()
		for b.Loop() {
			r := kafkaesB(b, "verify", brokers(c), "--topic", topic, "--quiet")
			if r != exitOK {
				b.Fatalf("verify exit %d", r)
			}
		}
	})
	b.Run("sarama", func(b *testing.B) {
		ccfg := c.Config()
		ccfg.Consumer.IsolationLevel = sarama.ReadCommitted
		ccfg.Consumer.MaxWaitTime = 10 * time.Millisecond // do not let fixed fetch waits dominate
		ccl, err := sarama.NewClient(c.Brokers, ccfg)
		if err != nil {
			b.Fatal(err)
		}
		defer ccl.Close()
		defer cpuPerOp(b)()
		for b.Loop() {
			cons, err := sarama.NewConsumerFromClient(ccl)
			if err != nil {
				b.Fatal(err)
			}
			var (
				total atomic.Int64
				wg    sync.WaitGroup
			)
			for part := range int32(nparts) {
				hw, err := ccl.GetOffset(topic, part, sarama.OffsetNewest)
				if err != nil {
					b.Fatal(err)
				}
				pc, err := cons.ConsumePartition(topic, part, sarama.OffsetOldest)
				if err != nil {
					b.Fatal(err)
				}
				wg.Go(func() {
					defer pc.Close()
					for hw > 0 {
						select {
						case m := <-pc.Messages():
							total.Add(1)
							if m.Offset >= hw-1 {
								return
							}
						case <-time.After(30 * time.Second):
							return
						}
					}
				})
			}
			wg.Wait()
			n := int(total.Load())
			_ = cons.Close()
			if n != nevents {
				b.Fatalf("read %d records, want %d", n, nevents)
			}
		}
	})
}

// cpuPerOp reports the process CPU time (user+system, the in-process
// broker's included) per op as "cpu-ns/op": steadier than wall time on a
// loaded machine.
func cpuPerOp(b *testing.B) func() {
	start := cputime.Process()
	return func() {
		b.ReportMetric(float64(cputime.Process()-start)/float64(b.N), "cpu-ns/op")
	}
}

func kafkaesB(b *testing.B, args ...string) int {
	b.Helper()
	return runEnv(context.Background(), args, io.Discard, io.Discard, noEnv)
}
