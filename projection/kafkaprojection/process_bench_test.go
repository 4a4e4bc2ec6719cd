package kafkaprojection_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
	"github.com/kafkaes/kafkaes/projection/process"
)

// BenchmarkProcessManager: n Deposited events (KAFKAES_BENCH_EVENTS,
// default 2000) on 64 streams of a 4-partition topic, each handled by
// loading the ledger aggregate of its stream. projection-reads is a
// projection runner (consumer-group source) whose handler only loads the
// ledger (the same reads, no writes); process is the process manager
// whose handler loads the ledger through its transaction and records the
// event on it, committed with the consumer offset in one Kafka
// transaction per batch. Compare events/s (goal: process ≥ 50% of
// projection-reads).
func BenchmarkProcessManager(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("KAFKAES_BENCH_EVENTS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	for _, mode := range []string{"projection-reads", "process"} {
		b.Run(mode, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				c, topic := eventsTopic(b, 4)
				last := newProducer(b, c, topic).depositN(n, 64)
				group := kafkatest.TopicName(b, "group")
				store, err := kafka.New(ctx, c.Client(b), topic)
				if err != nil {
					b.Fatal(err)
				}
				sd := processSerde()
				repo := aggregate.NewRepository(store, sd, func() *Ledger { return &Ledger{} })
				var src *kafkaprojection.Source
				if mode == "process" {
					src = newProcessSource(b, c, topic, group, kafkaprojection.WithMaxBatch(64))
				} else {
					src = newSource(b, c, topic, group, kafkaprojection.WithMaxBatch(64))
				}
				start := time.Now()
				switch mode {
				case "projection-reads":
					r, err := projection.New("reads", sd, []projection.Handler{
						projection.On(func(ctx context.Context, ev Deposited, m projection.Meta) error {
							_, err := repo.Load(ctx, "ledger-"+m.StreamID)
							if err != nil && !isNotFound(err) {
								return err
							}
							return nil
						}),
					})
					if err != nil {
						b.Fatal(err)
					}
					if err := r.CatchUp(ctx, src, nil); err != nil {
						b.Fatal(err)
					}
				case "process":
					m, err := process.New("ledger", sd, kafkaprojection.NewProcessCommitter(store, c.Client(b), topic, group), []process.Handler{
						process.On(func(ctx context.Context, tx *aggregate.Tx, ev Deposited, meta projection.Meta) error {
							l, err := repo.LoadOrNewIn(tx, "ledger-"+meta.StreamID)
							if err != nil {
								return err
							}
							aggregate.Raise(l, Recorded{Input: meta.EventID})
							return nil
						}),
					})
					if err != nil {
						b.Fatal(err)
					}
					rctx, cancel := context.WithCancel(ctx)
					done := make(chan error, 1)
					go func() { done <- m.Run(rctx, src) }()
					var ps []eventstore.Position
					for _, p := range last {
						ps = append(ps, p)
					}
					wctx, wcancel := context.WithTimeout(ctx, 5*time.Minute)
					err = m.WaitFor(wctx, ps...)
					wcancel()
					cancel()
					<-done
					if err != nil {
						b.Fatal(fmt.Errorf("process manager did not finish: %w", err))
					}
				}
				total += time.Since(start)
				_ = store.Close()
			}
			b.ReportMetric(float64(n*b.N)/total.Seconds(), "events/s")
		})
	}
}

func isNotFound(err error) bool { return errors.Is(err, aggregate.ErrNotFound) }
