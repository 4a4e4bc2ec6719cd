package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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
// Two store instances work on 28 shared streams of a 6-partition topic as
// aggregate.Repository.Update does (read what is new in the stream,
// append at that version, read again after a conflict): 20 streams on
// partitions 1..5 (the bystanders), 4 on partition 0, and the 4 streams
// of partition 0 on which the child writer process opens a transaction
// before it is SIGKILLed. per-stream has a writer per stream and store
// (concurrent requests of a service); writer-loop has 16 writers that
// pick a random stream for every command and go on with the next one when
// the store cannot read a stream now (a writer process looping over
// streams: a read that waits for the dead writer's transaction holds up
// its loop, so the store must answer such a read fast). The metric bystander-ratio is the bystanders' append rate
// during the child's transaction timeout (6s) divided by their rate in
// the 3s before; read and append latencies of the bystanders are reported
// for the windows before, during and after. It fails on an append error
// that is neither a conflict, eventstore.ErrUnavailable nor an unknown
// outcome. The -control variants run the same without the dead writer:
// their ratio is the drift of the rates over time on a shared machine. On
// the embedded broker the dead writer is a separate process
// too; real brokers give the figures of BENCHMARKS.md.
//
//	go test -run '^$' -bench DeadWriterBystanders -benchtime 1x ./eventstore/kafka
func BenchmarkDeadWriterBystanders(b *testing.B) {
	c := kafkatest.New(b)
	b.Setenv(killTxnTimeoutEnv, (6 * time.Second).String())
	b.Run("per-stream", func(b *testing.B) { deadWriterBystanders(b, c, false, false) })
	b.Run("writer-loop", func(b *testing.B) { deadWriterBystanders(b, c, true, false) })
	b.Run("per-stream-control", func(b *testing.B) { deadWriterBystanders(b, c, false, true) })
	b.Run("writer-loop-control", func(b *testing.B) { deadWriterBystanders(b, c, true, true) })
}

// deadWriterBystanders runs BenchmarkDeadWriterBystanders with a writer
// per stream and store, or (loop) with 16 writers that each pick a random
// stream for every command, as a writer process that loops over streams.
func deadWriterBystanders(b *testing.B, c *kafkatest.Cluster, loop, control bool) {
	const (
		parts      = 6
		txnTimeout = 6 * time.Second
		baseline   = 3 * time.Second
	)
	for range b.N {
		topic := kafkatest.TopicName(b, "events")
		c.CreateTopic(b, topic, parts, kafkatest.EventsTopicConfig())
		s, err := kafka.New(context.Background(), c.Client(b), topic)
		if err != nil {
			b.Fatal(err)
		}
		var held, bystanders []string
		for i := 0; len(held) < 4; i++ {
			if id := fmt.Sprintf("held-%d", i); wire.PartitionString(id, parts) == 0 {
				held = append(held, id)
			}
		}
		var pstreams []string // streams of partition 0 the dead writer does not hold
		for i := 0; len(bystanders) < 20 || len(pstreams) < 4; i++ {
			id := fmt.Sprintf("s-%d", i)
			switch {
			case wire.PartitionString(id, parts) != 0:
				if len(bystanders) < 20 {
					bystanders = append(bystanders, id)
				}
			case len(pstreams) < 4:
				pstreams = append(pstreams, id)
			}
		}
		s2, err := kafka.New(context.Background(), c.Client(b), topic)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var (
			mu       sync.Mutex
			byTimes  []time.Time
			byOps    [][3]time.Time // read start, append start, append end
			pOps     [][3]time.Time // reads and appends of partition 0: start, read end, end
			heldOK   atomic.Int64
			untyped  = make(chan error, 16)
			heldErrs sync.Map
			wg       sync.WaitGroup
		)
		typed := func(err error) bool {
			return errors.Is(err, eventstore.ErrConcurrencyConflict) || errors.Is(err, eventstore.ErrUnavailable) ||
				errors.Is(err, eventstore.ErrUnknownOutcome) || ctx.Err() != nil
		}
		// Writers work like aggregate.Repository.Update on shared streams:
		// read what is new in the stream, append at that version, and on
		// a conflict read again. Every stream has a writer on each of two
		// store instances, so appends conflict and group commits mix
		// partitions (a writer per stream, as concurrent requests of a
		// service: a read that waits for the dead writer's transaction
		// holds up its own request only).
		all := append(append(append([]string(nil), bystanders...), pstreams...), held...)
		writers := 2 * len(all)
		if loop {
			writers = 16
		}
		for w := range writers {
			st := []*kafka.Store{s, s2}[w%2]
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			wg.Go(func() {
				known := map[string]int64{}
				for ctx.Err() == nil {
					stream := all[(w/2)%len(all)]
					if loop {
						stream = all[rng.IntN(len(all))]
					}
					onP := wire.PartitionString(stream, parts) == 0
					r0 := time.Now()
					rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
					v, err := readFrom(rctx, st, stream, known[stream], !loop)
					rcancel()
					if onP {
						mu.Lock()
						pOps = append(pOps, [3]time.Time{r0, time.Now(), time.Now()})
						mu.Unlock()
					}
					if err != nil {
						continue
					}
					known[stream] = v
					a0 := time.Now()
					evs, _ := newEvents(1, "w")
					_, err = st.Append(ctx, stream, eventstore.Exact(v), evs...)
					if onP {
						mu.Lock()
						pOps = append(pOps, [3]time.Time{a0, a0, time.Now()})
						mu.Unlock()
					}
					switch {
					case err == nil && onP:
						heldOK.Add(1)
					case err == nil:
						mu.Lock()
						byTimes = append(byTimes, time.Now())
						byOps = append(byOps, [3]time.Time{r0, a0, time.Now()})
						mu.Unlock()
					case !typed(err):
						select {
						case untyped <- err:
						default:
						}
					case onP:
						heldErrs.Store(fmt.Sprintf("%T", errors.Unwrap(err)), err.Error())
					}
				}
			})
		}
		time.Sleep(500 * time.Millisecond) // warm up
		t0 := time.Now()
		time.Sleep(baseline)
		heldBefore := heldOK.Load()
		// control: the same run without the dead writer, for the drift of
		// the rates over time on a shared machine.
		var t1 time.Time
		if control {
			t1 = time.Now()
		} else {
			cmd, lines := killChild(b, "raw-sigkill", c.Brokers, topic, held, 1000)
			for l := nextLine(b, lines, 30*time.Second); l != "READY"; l = nextLine(b, lines, 30*time.Second) {
			}
			t1 = time.Now()
			if err := cmd.Process.Kill(); err != nil {
				b.Fatal(err)
			}
			_ = cmd.Wait()
		}
		time.Sleep(txnTimeout)
		t2 := time.Now()
		heldDuring := heldOK.Load() - heldBefore
		time.Sleep(2 * time.Second)
		heldAfter := heldOK.Load() - heldBefore - heldDuring
		cancel()
		wg.Wait()
		_ = s.Close()
		_ = s2.Close()
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
		lat := func(from, to time.Time) (read, app float64) {
			mu.Lock()
			defer mu.Unlock()
			n := 0
			for _, op := range byOps {
				if !op[2].Before(from) && op[2].Before(to) {
					read += op[1].Sub(op[0]).Seconds() * 1000
					app += op[2].Sub(op[1]).Seconds() * 1000
					n++
				}
			}
			return read / float64(max(n, 1)), app / float64(max(n, 1))
		}
		rb, ab := lat(t0, t1)
		rd, ad := lat(t1, t2)
		ra, aa := lat(t2, t2.Add(2*time.Second))
		b.ReportMetric(ra, "read-ms-after")
		b.ReportMetric(aa, "append-ms-after")
		b.ReportMetric(count(t2, t2.Add(2*time.Second)), "bystander-after/s")
		b.ReportMetric(rb, "read-ms-before")
		b.ReportMetric(rd, "read-ms-during")
		b.ReportMetric(ab, "append-ms-before")
		b.ReportMetric(ad, "append-ms-during")
		var pRead, pApp time.Duration
		var pReads int
		mu.Lock()
		for _, op := range pOps {
			if !op[2].Before(t1) && op[2].Before(t2) {
				pRead += op[1].Sub(op[0])
				pApp += op[2].Sub(op[1])
				if op[1].After(op[0]) {
					pReads++
				}
			}
		}
		mu.Unlock()
		b.ReportMetric(pRead.Seconds()*1000/float64(max(pReads, 1)), "p0-read-ms-during")
		b.ReportMetric(pRead.Seconds()/txnTimeout.Seconds(), "p0-read-busy-during")
		b.ReportMetric(pApp.Seconds()/txnTimeout.Seconds(), "p0-append-busy-during")
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

// readFrom reads stream from version v+1 on and returns its last version
// (v when nothing is new), retrying while the store is unavailable if
// retry is set.
func readFrom(ctx context.Context, s eventstore.Store, stream string, v int64, retry bool) (int64, error) {
	for {
		last, err := v, error(nil)
		for ev, rerr := range s.ReadStream(ctx, stream, v+1) {
			if errors.Is(rerr, eventstore.ErrStreamNotFound) {
				break
			}
			if rerr != nil {
				err = rerr
				break
			}
			last = ev.Version
		}
		if !retry || !errors.Is(err, eventstore.ErrUnavailable) || ctx.Err() != nil {
			return last, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
