package kafka_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/internal/logcheck"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// TestMultiUnknownCommitOutcome: the commit of a multi-stream append is
// lost (applied but unanswered, or never sent). AppendMulti reports an
// unknown outcome; the retry with the same event IDs succeeds with the
// same versions either way, and the log holds both entries' events
// exactly once, or (never sent, then written by the retry) once.
func TestMultiUnknownCommitOutcome(t *testing.T) {
	for _, tc := range []struct {
		name string
		send bool
	}{
		{"commit applied, answer lost", true},
		{"commit never sent", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := kafkatest.New(t)
			topic := kafkatest.TopicName(t, "events")
			c.CreateTopic(t, topic, 3, kafkatest.EventsTopicConfig())
			injected := errors.New("injected: the connection to the coordinator broke")
			var armed atomic.Bool
			s := openStressStore(t, c, topic, kafka.WithTransactionTimeout(time.Minute),
				kafka.WithTestEndTxn(func(commit bool) (bool, error) {
					if commit && armed.CompareAndSwap(true, false) {
						return tc.send, injected
					}
					return true, nil
				}))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			a, aIDs := newEvents(2, "test")
			b, bIDs := newEvents(1, "test")
			appends := []eventstore.StreamAppend{
				{StreamID: "multi-a", Expected: eventstore.NoStream, Events: a},
				{StreamID: "multi-b", Expected: eventstore.NoStream, Events: b},
				{StreamID: "multi-c", Expected: eventstore.NoStream},
			}
			armed.Store(true)
			_, err := s.AppendMulti(ctx, appends...)
			require.ErrorIs(t, err, kafka.ErrUnknownOutcome)
			require.ErrorIs(t, err, eventstore.ErrUnknownOutcome)

			res, err := s.AppendMulti(ctx, appends...)
			require.NoError(t, err, "the retry with the same IDs must learn the outcome")
			require.Equal(t, int64(2), res[0].Version)
			require.Equal(t, int64(1), res[1].Version)

			log, err := logcheck.ReadCommitted(ctx, c.Brokers, c.Config(), topic)
			require.NoError(t, err)
			r := logcheck.Check(log, 3, []logcheck.Append{
				{Writer: "retry", Stream: "multi-a", IDs: aIDs, Outcome: logcheck.Acked, Version: 2, Positions: res[0].Positions},
				{Writer: "retry", Stream: "multi-b", IDs: bIDs, Outcome: logcheck.Acked, Version: 1, Positions: res[1].Positions},
			})
			require.Empty(t, r.Problems)
			require.Equal(t, 3, r.Events)
			require.Zero(t, kafka.Doubts(s), "the retry proved the outcome")
		})
	}
}
