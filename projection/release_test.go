package projection_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/serde"
)

// TestReleaseParkedStream: a poison event parks its stream (it and the
// stream's later events go to the dead-letter sink, other streams go on);
// a retry while the handler still fails keeps it parked and records why;
// after the handler is fixed, a retry delivers the letters in version
// order before the stream's next event, and un-parks it; a drop gives the
// letters up and un-parks without handling them.
func TestReleaseParkedStream(t *testing.T) {
	for _, withCheckpoints := range []bool{false, true} {
		name := "no checkpoint store"
		if withCheckpoints {
			name = "memory checkpoints"
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			store := memory.New()
			reg := serde.NewRegistry()
			serde.MustRegister[Deposited](reg, "test.Deposited")
			sd := serde.NewJSON(reg)
			var last eventstore.Position
			appendDeposit := func(stream string, amount int64) {
				t.Helper()
				_, data, err := sd.Marshal(ctx, Deposited{Amount: amount})
				require.NoError(t, err)
				res, err := store.Append(ctx, stream, eventstore.Any, eventstore.Event{Type: "test.Deposited", Data: data})
				require.NoError(t, err)
				last = res.Positions[0]
			}
			var fixed atomic.Bool
			var seen []string
			var mu = make(chan struct{}, 1)
			mu <- struct{}{}
			dlq := &projection.MemoryDeadLetters{}
			opts := []projection.Option{projection.WithFailureAction(projection.DeadLetter), projection.WithDeadLetter(dlq),
				projection.WithRetry(1, time.Millisecond, time.Millisecond), projection.WithReleaseCheck(0),
				projection.WithLogger(slog.New(slog.DiscardHandler))}
			if withCheckpoints {
				opts = append(opts, projection.WithCheckpoints(&projection.MemoryCheckpoints{}))
			}
			r, err := projection.New("balances", sd, []projection.Handler{
				projection.On(func(_ context.Context, ev Deposited, m projection.Meta) error {
					if ev.Amount < 0 && !fixed.Load() {
						return projection.Permanent(errors.New("negative amount"))
					}
					<-mu
					seen = append(seen, m.StreamID+"/"+strconv.FormatInt(m.Version, 10))
					mu <- struct{}{}
					return nil
				}),
			}, opts...)
			require.NoError(t, err)
			runCtx, stop := context.WithCancel(ctx)
			defer stop()
			go func() { _ = r.Run(runCtx, projection.FromStore(store)) }()
			// catchUp waits until the runner has processed the last append.
			catchUp := func() {
				t.Helper()
				require.NoError(t, r.WaitFor(ctx, last))
			}
			appendDeposit("a", 1)
			appendDeposit("a", -2) // poison
			appendDeposit("a", 3)  // parked behind it
			appendDeposit("b", 1)
			catchUp()
			require.Equal(t, []string{"a/1", "b/1"}, seen)
			parked, err := dlq.Parked(ctx, "balances")
			require.NoError(t, err)
			require.Equal(t, map[string]int64{"a": 2}, parked)

			// A retry while the cause is still there: the stream stays parked.
			dlq.Release("balances", "a", projection.Retry, "ops")
			appendDeposit("b", 2)
			catchUp()
			acted := dlq.ActedOn()
			require.Len(t, acted, 1)
			require.ErrorContains(t, acted[0].Err, "negative amount")
			require.Equal(t, []string{"a/1", "b/1", "b/2"}, seen)
			parked, _ = dlq.Parked(ctx, "balances")
			require.Equal(t, map[string]int64{"a": 2}, parked)

			// Fixed: the letters come first, in order, then the new event.
			fixed.Store(true)
			dlq.Release("balances", "a", projection.Retry, "ops")
			appendDeposit("a", 4)
			catchUp()
			require.Equal(t, []string{"a/1", "b/1", "b/2", "a/2", "a/3", "a/4"}, seen)
			require.NoError(t, dlq.ActedOn()[1].Err)
			parked, _ = dlq.Parked(ctx, "balances")
			require.Empty(t, parked)

			// Drop: the letters are never handled; the stream flows again.
			fixed.Store(false)
			appendDeposit("c", -1)
			appendDeposit("c", 2)
			catchUp()
			dlq.Release("balances", "c", projection.Drop, "ops")
			appendDeposit("c", 3)
			catchUp()
			require.Equal(t, []string{"a/1", "b/1", "b/2", "a/2", "a/3", "a/4", "c/3"}, seen)
			parked, _ = dlq.Parked(ctx, "balances")
			require.Empty(t, parked)
			require.Len(t, dlq.ActedOn(), 3)
		})
	}
}
