package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/internal/logcheck"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// TestUnknownOutcomeRetryStaysUnknown: an append's commit never reaches
// the coordinator (its outcome is unknown, and its transaction stays open
// because the coordinator does not let the store re-initialise its
// producer). A retry with the same event IDs that fails without learning
// the first attempt's fate (here: its deadline ends while the first
// attempt's records are still undecided) must report an unknown outcome
// again, never "nothing was written" or a conflict, which
// aggregate.Repository.Update would take as licence to run the command
// again. Once the coordinator is back, the retry proves the fate: in one
// case it writes the events (the first attempt was aborted), in the other
// another writer took the version first, and the retry's conflict is then
// the truth (the first attempt was not written).
func TestUnknownOutcomeRetryStaysUnknown(t *testing.T) {
	for _, tc := range []struct {
		name       string
		otherFirst bool // another writer appends at the version before the final retry
	}{
		{"retry writes", false},
		{"another writer won", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := kafkatest.New(t)
			if c.Fake() == nil {
				t.Skip("needs the embedded broker to refuse InitProducerId")
			}
			topic := kafkatest.TopicName(t, "events")
			c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
			var armed, blockInit atomic.Bool
			var trace traceLog
			defer func() {
				if t.Failed() {
					trace.dump(t)
				}
			}()
			c.Fake().ControlKey(int16(kmsg.InitProducerID), func(req kmsg.Request) (kmsg.Response, error, bool) {
				c.Fake().KeepControl()
				if !blockInit.Load() {
					return nil, nil, false
				}
				resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
				resp.Version = req.GetVersion()
				resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
				return resp, nil, true
			})
			s := openStressStore(t, c, topic,
				kafka.WithTransactionTimeout(time.Minute),
				kafka.WithAppendTimeout(3*time.Second),
				kafka.WithTestTrace(trace.add(time.Now(), "store")),
				kafka.WithTestEndTxn(func(commit bool) (bool, error) {
					if commit && armed.CompareAndSwap(true, false) {
						blockInit.Store(true) // the coordinator goes away
						return false, errors.New("injected: the commit never reached the coordinator")
					}
					return true, nil
				}))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			const stream = "doubt-1"
			first, _ := newEvents(1, "test")
			_, err := s.Append(ctx, stream, eventstore.NoStream, first...)
			require.NoError(t, err)

			armed.Store(true)
			evs, ids := newEvents(2, "test")
			_, err = s.Append(ctx, stream, eventstore.Exact(1), evs...)
			require.ErrorIs(t, err, eventstore.ErrUnknownOutcome)

			// Retries while the first attempt is undecided: they cannot
			// learn its fate, so they must not say that nothing was
			// written.
			for i := range 3 {
				rctx, rcancel := context.WithTimeout(ctx, 700*time.Millisecond)
				_, err = s.Append(rctx, stream, eventstore.Exact(1), evs...)
				rcancel()
				require.Error(t, err, "retry %d while the first attempt is undecided", i)
				require.ErrorIs(t, err, eventstore.ErrUnknownOutcome, "retry %d: %v", i, err)
				require.False(t, errors.Is(err, eventstore.ErrConcurrencyConflict), "retry %d: an unproven conflict: %v", i, err)
			}

			// The coordinator comes back: the store re-initialises its
			// producer, which aborts the first attempt.
			blockInit.Store(false)
			var want []string
			if tc.otherFirst {
				other := openStressStore(t, c, topic)
				oevs, oids := newEvents(1, "other")
				require.Eventually(t, func() bool {
					_, err := other.Append(ctx, stream, eventstore.Exact(1), oevs...)
					return err == nil
				}, 30*time.Second, 50*time.Millisecond, "the other writer's append")
				_, err = s.Append(ctx, stream, eventstore.Exact(1), evs...)
				require.ErrorIs(t, err, eventstore.ErrConcurrencyConflict, "the retry after another writer took version 2")
				require.False(t, errors.Is(err, eventstore.ErrUnknownOutcome), "the conflict proves the fate: %v", err)
				want = oids
			} else {
				res, err := s.Append(ctx, stream, eventstore.Exact(1), evs...)
				require.NoError(t, err, "retry once the coordinator is back")
				require.Equal(t, int64(3), res.Version)
				want = ids
			}
			require.Zero(t, kafka.Doubts(s), "a proven fate is forgotten")

			log, err := logcheck.ReadCommitted(ctx, c.Brokers, c.Config(), topic)
			require.NoError(t, err)
			var got []string
			for _, ev := range log {
				if ev.StreamID == stream && ev.Version > 1 {
					got = append(got, ev.ID)
				}
			}
			require.Equal(t, want, got, "the stream after version 1, as a plain read_committed consumer reads it")
			_ = fmt.Sprint()
		})
	}
}
