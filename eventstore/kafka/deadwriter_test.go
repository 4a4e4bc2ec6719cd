package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// BenchmarkDeadWriterBystanders measures what a writer process that is
// SIGKILLed with its transaction open costs the appends of other writers
// to partitions it never touched (issue 12: they must keep at least 80%
// of their rate while the broker waits for the transaction timeout).
// A store appends from 16 goroutines to streams of partitions 1..5 (the
// bystanders, one stream each, expected versions) and from 4 goroutines
// to the 4 streams of partition 0 that the dead writer holds (they
// conflict until the broker aborts its transaction). The child writer
// process opens a transaction on those 4 streams and is SIGKILLed; the
// metric bystander-ratio is the bystanders' append rate during the
// child's transaction timeout (6s) divided by their rate in the 3s
// before. It also reports the held streams' appends (held-ok/s) and fails
// on an error that is neither a conflict, eventstore.ErrUnavailable nor
// an unknown outcome.
//
//	go test -run '^$' -bench DeadWriterBystanders -benchtime 1x ./eventstore/kafka
func BenchmarkDeadWriterBystanders(b *testing.B) {
	const (
		parts      = 6
		txnTimeout = 6 * time.Second
		baseline   = 3 * time.Second
	)
	c := kafkatest.New(b)
	if c.Fake() != nil {
		// The embedded broker runs in this process; the child writer's
		// transaction would die with the benchmark, not alone.
		b.Log("embedded broker: the dead writer is a separate process talking to it")
	}
	b.Setenv(killTxnTimeoutEnv, txnTimeout.String())
	for range b.N {
		topic := kafkatest.TopicName(b, "events")
		c.CreateTopic(b, topic, parts, kafkatest.EventsTopicConfig())
		s, err := kafka.New(context.Background(), c.Client(b), kafka.WithTopic(topic))
		if err != nil {
			b.Fatal(err)
		}
		var held, bystanders []string
		for i := 0; len(held) < 4; i++ {
			if id := fmt.Sprintf("held-%d", i); wire.PartitionString(id, parts) == 0 {
				held = append(held, id)
			}
		}
		for i := 0; len(bystanders) < 16; i++ {
			if id := fmt.Sprintf("by-%d", i); wire.PartitionString(id, parts) != 0 {
				bystanders = append(bystanders, id)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		var (
			mu       sync.Mutex
			byTimes  []time.Time
			heldOK   atomic.Int64
			untyped  = make(chan error, 16)
			heldErrs sync.Map
			wg       sync.WaitGroup
		)
		typed := func(err error) bool {
			return errors.Is(err, eventstore.ErrConcurrencyConflict) || errors.Is(err, eventstore.ErrUnavailable) ||
				errors.Is(err, eventstore.ErrUnknownOutcome) || ctx.Err() != nil
		}
		for _, stream := range bystanders {
			wg.Go(func() {
				for v := int64(0); ctx.Err() == nil; {
					evs, _ := newEvents(1, "by")
					_, err := s.Append(ctx, stream, eventstore.Exact(v), evs...)
					switch {
					case err == nil:
						v++
						mu.Lock()
						byTimes = append(byTimes, time.Now())
						mu.Unlock()
					case !typed(err):
						select {
						case untyped <- err:
						default:
						}
						return
					default:
						if vv, rerr := streamVersion(ctx, s, stream); rerr == nil {
							v = vv
						}
					}
				}
			})
		}
		for _, stream := range held {
			if os.Getenv("KAFKAES_BENCH_NO_HELD") != "" {
				break
			}
			wg.Go(func() {
				for v := int64(0); ctx.Err() == nil; {
					evs, _ := newEvents(1, "held")
					_, err := s.Append(ctx, stream, eventstore.Exact(v), evs...)
					switch {
					case err == nil:
						v++
						heldOK.Add(1)
					case !typed(err):
						select {
						case untyped <- err:
						default:
						}
						return
					default:
						heldErrs.Store(fmt.Sprintf("%T", errors.Unwrap(err)), err.Error())
						rctx, rcancel := context.WithTimeout(ctx, time.Second)
						if vv, rerr := streamVersion(rctx, s, stream); rerr == nil {
							v = vv
						}
						rcancel()
					}
				}
			})
		}
		time.Sleep(500 * time.Millisecond) // warm up
		t0 := time.Now()
		time.Sleep(baseline)
		heldBefore := heldOK.Load()
		cmd, lines := killChild(b, "raw-sigkill", c.Brokers, topic, held, 1000)
		for l := nextLine(b, lines, 30*time.Second); l != "READY"; l = nextLine(b, lines, 30*time.Second) {
		}
		t1 := time.Now()
		if err := cmd.Process.Kill(); err != nil {
			b.Fatal(err)
		}
		_ = cmd.Wait()
		time.Sleep(txnTimeout)
		t2 := time.Now()
		heldDuring := heldOK.Load() - heldBefore
		time.Sleep(2 * time.Second)
		heldAfter := heldOK.Load() - heldBefore - heldDuring
		cancel()
		wg.Wait()
		_ = s.Close()
		close(untyped)
		for err := range untyped {
			b.Errorf("an append error that is neither a conflict, ErrUnavailable nor an unknown outcome: %v", err)
		}
		count := func(from, to time.Time) float64 {
			mu.Lock()
			defer mu.Unlock()
			n := 0
			for _, at := range byTimes {
				if !at.Before(from) && at.Before(to) {
					n++
				}
			}
			return float64(n) / to.Sub(from).Seconds()
		}
		before, during := count(t0, t1), count(t1, t2)
		b.ReportMetric(before, "bystander-before/s")
		b.ReportMetric(during, "bystander-during/s")
		b.ReportMetric(during/before, "bystander-ratio")
		b.ReportMetric(float64(heldDuring)/txnTimeout.Seconds(), "held-ok-during/s")
		b.ReportMetric(float64(heldAfter)/2, "held-ok-after/s")
		heldErrs.Range(func(k, v any) bool {
			b.Logf("held stream error (%v): %v", k, v)
			return true
		})
	}
}
