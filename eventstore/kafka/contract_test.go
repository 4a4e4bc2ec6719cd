package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/internal/logcheck"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// contractClass classifies an Append error by the append error contract
// (README, eventstore.ErrUnknownOutcome): "" when it is none of nil, a
// typed conflict, a typed retryable error (eventstore.ErrUnavailable), an
// unknown outcome, or a definite failure that says nothing was written
// (the caller's own deadline, an invalid argument, a closed store, a
// corrupt stream, a duplicate ID).
func contractClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, eventstore.ErrUnknownOutcome):
		return "unknown"
	case errors.Is(err, eventstore.ErrConcurrencyConflict):
		return "conflict"
	case errors.Is(err, eventstore.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, eventstore.ErrDuplicateEventID):
		return "duplicate"
	case errors.Is(err, eventstore.ErrInvalidArgument), errors.Is(err, eventstore.ErrClosed), errors.Is(err, eventstore.ErrCorruptLog):
		return "definite"
	case (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) && strings.Contains(err.Error(), "nothing was written"):
		return "definite"
	}
	return ""
}

// TestAppendErrorContract walks the append error contract under faults
// (embedded broker only): for every request the store sends (transaction
// coordinator requests, produce, fetch, offset listing), the connections
// that carry it are broken for a while during contended expected-version
// appends of three writers (two on one store, one on another), each with
// a deadline of its own. Every error must fall into a class of the
// contract (contractClass); an append with an unknown outcome is retried
// with the same event IDs until it gets an answer that is not unknown;
// and a plain read_committed consumer then checks the log against every
// answer: each nil present once at its versions, each definite failure
// absent, each unknown outcome all there or absent.
func TestAppendErrorContract(t *testing.T) {
	c := kafkatest.New(t)
	if c.Fake() == nil {
		t.Skip("needs the embedded broker to inject faults")
	}
	// Requests sent only after another failure (a new producer, a
	// coordinator lookup) are broken together with EndTxn, whose failure
	// makes the store re-initialise its producer.
	for _, keys := range [][]kmsg.Key{{kmsg.InitProducerID, kmsg.EndTxn}, {kmsg.AddPartitionsToTxn}, {kmsg.Produce}, {kmsg.EndTxn}, {kmsg.Fetch}, {kmsg.FindCoordinator, kmsg.EndTxn}} {
		key := keys[0]
		t.Run(key.Name(), func(t *testing.T) {
			topic := kafkatest.TopicName(t, "events")
			c.CreateTopic(t, topic, 3, kafkatest.EventsTopicConfig())
			var faulty atomic.Bool
			var broken atomic.Int64
			for i, k := range keys {
				c.Fake().ControlKey(int16(k), func(kmsg.Request) (kmsg.Response, error, bool) {
					c.Fake().KeepControl()
					if !faulty.Load() {
						return nil, nil, false
					}
					if i == 0 {
						broken.Add(1)
					}
					return nil, errors.New("test: break the connection"), true
				})
			}
			t.Cleanup(func() { faulty.Store(false) })
			opts := []kafka.Option{kafka.WithAppendTimeout(3 * time.Second), kafka.WithTransactionTimeout(2 * time.Second)}
			s1 := openStressStore(t, c, topic, opts...)
			s2 := openStressStore(t, c, topic, opts...)
			streams := []string{"c-0", "c-1", "c-2", "c-3", "c-4", "c-5"}
			var j logcheck.Journal
			var mu sync.Mutex
			classes := map[string]int{}
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			var stopAt atomic.Int64 // the writers stop when the faults have ended and 1s passed
			stopAt.Store(time.Now().Add(time.Hour).UnixNano())
			running := func() bool { return time.Now().UnixNano() < stopAt.Load() }
			var wg sync.WaitGroup
			for w, s := range []*kafka.Store{s1, s1, s2} {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(w), 7))
					name := fmt.Sprintf("writer %d", w)
					for running() {
						stream := streams[rng.IntN(len(streams))]
						rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
						v, err := streamVersion(rctx, s, stream)
						rcancel()
						if err != nil {
							if contractClass(err) != "unavailable" && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
								t.Errorf("%s: read %s: %v", name, stream, err)
							}
							continue
						}
						evs, ids := newEvents(1+rng.IntN(2), name)
						for try := 0; ; try++ {
							actx, acancel := context.WithTimeout(ctx, time.Duration(200+rng.IntN(1500))*time.Millisecond)
							res, err := s.Append(actx, stream, eventstore.Exact(v), evs...)
							acancel()
							class := contractClass(err)
							mu.Lock()
							classes[class]++
							mu.Unlock()
							out := logcheck.Failed
							switch class {
							case "":
								t.Errorf("%s: append to %s: an error outside the contract: %v", name, stream, err)
							case "ok":
								out = logcheck.Acked
							case "unknown", "duplicate":
								out = logcheck.Unknown
							}
							j.Add(logcheck.Append{Writer: name, Stream: stream, IDs: ids, Outcome: out, Version: res.Version, Positions: res.Positions, Err: err})
							if class != "unknown" || ctx.Err() != nil {
								break
							}
							time.Sleep(20 * time.Millisecond)
						}
					}
				})
			}
			time.Sleep(300 * time.Millisecond)
			faulty.Store(true)
			time.Sleep(1200 * time.Millisecond)
			// A request sent only after another failure (InitProducerId
			// after a broken EndTxn) may come late: keep the faults until
			// one was broken (while the writers keep appending).
			for wait := time.Now().Add(5 * time.Second); broken.Load() == 0 && time.Now().Before(wait); {
				time.Sleep(20 * time.Millisecond)
			}
			faulty.Store(false)
			stopAt.Store(time.Now().Add(time.Second).UnixNano())
			wg.Wait()
			if broken.Load() == 0 {
				t.Fatalf("no %s request was broken", key.Name())
			}
			log, err := logcheck.ReadCommitted(ctx, c.Brokers, c.Config(), topic)
			if err != nil {
				t.Fatal(err)
			}
			r := logcheck.Check(log, 3, j.Appends())
			for _, p := range r.Problems {
				t.Error(p)
			}
			mu.Lock()
			t.Logf("%d requests broken; answers by class: %v", broken.Load(), classes)
			mu.Unlock()
		})
	}
}
