package projection_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/internal/testrun"
)

func TestTypedHandlersGetEventsInOrderWithMeta(t *testing.T) {
	st := newMem()
	appendRaw(t, st, "a", "test.Opened", Opened{Owner: "ann"})
	deposit(t, st, "a", 5)
	appendRaw(t, st, "b", "other.Unknown", map[string]int{"x": 1}) // not registered: skipped
	deposit(t, st, "a", 7)
	last := appendRaw(t, st, "a", "test.Closed", Closed{}) // registered, no handler

	var got seen
	var metas []projection.Meta
	r, err := projection.New("typed", testSerde(t), []projection.Handler{
		projection.On(func(_ context.Context, ev Opened, m projection.Meta) error {
			got.add(fmt.Sprintf("opened %s %s/%d", ev.Owner, m.StreamID, m.Version))
			metas = append(metas, m)
			return nil
		}),
		projection.On(func(_ context.Context, ev Deposited, m projection.Meta) error {
			got.add(fmt.Sprintf("deposited %d %s/%d", ev.Amount, m.StreamID, m.Version))
			return nil
		}),
	})
	require.NoError(t, err)
	stop := testrun.Background(t, func(ctx context.Context) error { return r.Run(ctx, projection.FromStore(st)) })
	require.NoError(t, r.WaitFor(waitCtx(t), last.Positions[0]))
	require.ErrorIs(t, stop(), context.Canceled)
	require.Equal(t, []string{"opened ann a/1", "deposited 5 a/2", "deposited 7 a/3"}, got.list())
	m := metas[0]
	require.Equal(t, "test.Opened", m.Type)
	require.Equal(t, "corr-a", m.CorrelationID)
	require.Equal(t, "v", m.Values["k"])
	require.NotEmpty(t, m.EventID)
	require.False(t, m.Time.IsZero())
	require.Equal(t, int64(5), r.Stats().Processed)
}

func TestNewRejectsBadHandlers(t *testing.T) {
	sd := testSerde(t)
	_, err := projection.New("x", sd, nil)
	require.ErrorContains(t, err, "no handlers")
	h := projection.On(func(context.Context, Opened, projection.Meta) error { return nil })
	_, err = projection.New("x", sd, []projection.Handler{h, h})
	require.ErrorContains(t, err, "two handlers")
	_, err = projection.New("x", sd, []projection.Handler{projection.On(func(context.Context, *Opened, projection.Meta) error { return nil })})
	require.ErrorContains(t, err, "pointer")
	_, err = projection.New("x", sd, []projection.Handler{h}, projection.WithFailureAction(projection.DeadLetter))
	require.ErrorContains(t, err, "WithDeadLetter")
	_, err = projection.New("", sd, []projection.Handler{h})
	require.ErrorContains(t, err, "empty name")
}

func TestStrictTypesFailOnUnknownType(t *testing.T) {
	st := newMem()
	appendRaw(t, st, "b", "other.Unknown", map[string]int{"x": 1})
	r, err := projection.New("strict", testSerde(t), []projection.Handler{
		projection.On(func(context.Context, Opened, projection.Meta) error { return nil }),
	}, projection.WithStrictTypes())
	require.NoError(t, err)
	err = r.Run(waitCtx(t), projection.FromStore(st))
	var he *projection.HandlerError
	require.ErrorAs(t, err, &he)
	require.Equal(t, 1, he.Attempts, "decode errors are not retried")
	require.Contains(t, err.Error(), "other.Unknown")
}

func TestRetryThenSucceed(t *testing.T) {
	st := newMem()
	res := deposit(t, st, "a", 1)
	var calls atomic.Int32
	r, err := projection.New("retry", testSerde(t), []projection.Handler{
		projection.On(func(context.Context, Deposited, projection.Meta) error {
			if calls.Add(1) < 3 {
				return errors.New("database is down")
			}
			return nil
		}),
	}, projection.WithRetry(3, time.Millisecond, 2*time.Millisecond))
	require.NoError(t, err)
	stop := testrun.Background(t, func(ctx context.Context) error { return r.Run(ctx, projection.FromStore(st)) })
	require.NoError(t, r.WaitFor(waitCtx(t), res.Positions[0]))
	_ = stop()
	require.Equal(t, int32(3), calls.Load())
}

// A poison event stops the runner with a HandlerError naming it, and the
// checkpoint stays before it, so a restart meets it again.
func TestPoisonEventStops(t *testing.T) {
	st := newMem()
	deposit(t, st, "a", 1)
	deposit(t, st, "a", -1) // poison
	deposit(t, st, "a", 2)
	cps := &projection.MemoryCheckpoints{}
	var got seen
	h := projection.On(func(_ context.Context, ev Deposited, m projection.Meta) error {
		if ev.Amount < 0 {
			return fmt.Errorf("negative amount %d", ev.Amount)
		}
		got.add(fmt.Sprint(ev.Amount))
		return nil
	})
	for run := 0; run < 2; run++ {
		r, err := projection.New("poison", testSerde(t), []projection.Handler{h},
			projection.WithRetry(2, time.Millisecond, time.Millisecond), projection.WithCheckpoints(cps))
		require.NoError(t, err)
		err = r.Run(waitCtx(t), projection.FromStore(st))
		var he *projection.HandlerError
		require.ErrorAs(t, err, &he)
		require.Equal(t, "a", he.Meta.StreamID)
		require.Equal(t, int64(2), he.Meta.Version)
		require.Equal(t, 2, he.Attempts)
		require.ErrorContains(t, err, "negative amount -1")
		cp, err := cps.Load(context.Background(), "poison")
		require.NoError(t, err)
		require.Equal(t, eventstore.Checkpoint{0: 1}, cp)
	}
	require.Equal(t, []string{"1"}, got.list(), "event 1 handled once, event 3 never overtakes the poison event")
}

func TestSkipPolicy(t *testing.T) {
	st := newMem()
	deposit(t, st, "a", 1)
	deposit(t, st, "a", -1)
	last := deposit(t, st, "a", 2)
	var got seen
	r, err := projection.New("skip", testSerde(t), []projection.Handler{
		projection.On(func(_ context.Context, ev Deposited, m projection.Meta) error {
			if ev.Amount < 0 {
				return projection.Permanent(errors.New("negative"))
			}
			got.add(fmt.Sprint(ev.Amount))
			return nil
		}),
	}, projection.WithFailureAction(projection.Skip), projection.WithCheckpoints(&projection.MemoryCheckpoints{}))
	require.NoError(t, err)
	stop := testrun.Background(t, func(ctx context.Context) error { return r.Run(ctx, projection.FromStore(st)) })
	require.NoError(t, r.WaitFor(waitCtx(t), last.Positions[0]))
	_ = stop()
	require.Equal(t, []string{"1", "2"}, got.list())
	require.Equal(t, int64(1), r.Stats().Skipped)
}

// Dead-lettering parks the stream: its later events follow the failed one
// to the dead-letter sink (also after a restart), other streams go on.
func TestDeadLetterKeepsStreamOrder(t *testing.T) {
	for _, tx := range []bool{false, true} {
		t.Run(fmt.Sprintf("checkpoints=%v", tx), func(t *testing.T) {
			st := newMem()
			deposit(t, st, "a", 1)
			deposit(t, st, "b", 1)
			deposit(t, st, "a", -1) // poison: a/2
			deposit(t, st, "b", 2)
			deposit(t, st, "a", 3) // must follow a/2 to the DLQ
			last := deposit(t, st, "b", 3)
			dlq := &projection.MemoryDeadLetters{}
			cps := &projection.MemoryCheckpoints{}
			var got seen
			h := projection.On(func(_ context.Context, ev Deposited, m projection.Meta) error {
				if ev.Amount < 0 {
					return errors.New("negative")
				}
				got.add(fmt.Sprintf("%s/%d", m.StreamID, m.Version))
				return nil
			})
			opts := []projection.Option{projection.WithDeadLetter(dlq), projection.WithRetry(2, time.Millisecond, time.Millisecond)}
			if tx {
				opts = append(opts, projection.WithCheckpoints(cps))
			}
			r, err := projection.New("dlq", testSerde(t), []projection.Handler{h}, opts...)
			require.NoError(t, err)
			stop := testrun.Background(t, func(ctx context.Context) error { return r.Run(ctx, projection.FromStore(st)) })
			require.NoError(t, r.WaitFor(waitCtx(t), last.Positions[0]))
			require.ErrorIs(t, stop(), context.Canceled)
			require.Equal(t, []string{"a/1", "b/1", "b/2", "b/3"}, got.list())
			letters := dlq.Letters()
			require.Len(t, letters, 2)
			require.Equal(t, int64(2), letters[0].Record.Event.Version)
			require.ErrorContains(t, letters[0].Err, "negative")
			require.Equal(t, 2, letters[0].Attempts)
			require.Equal(t, int64(3), letters[1].Record.Event.Version)
			require.ErrorIs(t, letters[1].Err, projection.ErrParked)

			// A new runner (after a restart) keeps parking stream a.
			next := deposit(t, st, "a", 4)
			r2, err := projection.New("dlq", testSerde(t), []projection.Handler{h}, opts...)
			require.NoError(t, err)
			src := projection.FromStore(st)
			if !tx { // without a checkpoint store the runner starts over; count only a/4
				got = seen{}
			}
			stop2 := testrun.Background(t, func(ctx context.Context) error { return r2.Run(ctx, src) })
			require.NoError(t, r2.WaitFor(waitCtx(t), next.Positions[0]))
			_ = stop2()
			require.NotContains(t, got.list(), "a/4")
			letters = dlq.Letters()
			require.Equal(t, int64(4), letters[len(letters)-1].Record.Event.Version)
			require.ErrorIs(t, letters[len(letters)-1].Err, projection.ErrParked)
		})
	}
}

func TestIdempotencyDropsRepeats(t *testing.T) {
	st := newMem()
	deposit(t, st, "a", 1)
	last := deposit(t, st, "a", 2)
	vers := &projection.MemoryVersions{}
	var got seen
	h := projection.On(func(_ context.Context, ev Deposited, m projection.Meta) error {
		got.add(fmt.Sprintf("%s/%d", m.StreamID, m.Version))
		return nil
	})
	for i := 0; i < 2; i++ { // no checkpoint: the second run sees everything again
		r, err := projection.New("idem", testSerde(t), []projection.Handler{h}, projection.WithIdempotency(vers))
		require.NoError(t, err)
		stop := testrun.Background(t, func(ctx context.Context) error { return r.Run(ctx, projection.FromStore(st)) })
		require.NoError(t, r.WaitFor(waitCtx(t), last.Positions[0]))
		_ = stop()
		if i == 1 {
			require.Equal(t, int64(2), r.Stats().Repeats)
		}
	}
	require.Equal(t, []string{"a/1", "a/2"}, got.list())
}

func TestMemoryCheckpointsFence(t *testing.T) {
	ctx := context.Background()
	cps := &projection.MemoryCheckpoints{}
	_, tx, _ := cps.Begin(ctx, "p", 0)
	require.NoError(t, tx.Commit(ctx, 0, 0, 5))
	_, tx, _ = cps.Begin(ctx, "p", 0)
	require.ErrorIs(t, tx.Commit(ctx, 0, 0, 7), projection.ErrCheckpointMoved)
	cp, _ := cps.Load(ctx, "p")
	require.Equal(t, eventstore.Checkpoint{0: 5}, cp)
}

func TestCatchUpReportsProgressAndStops(t *testing.T) {
	st := newMem()
	for i := range 50 {
		deposit(t, st, fmt.Sprint("s", i%5), int64(i))
	}
	var n atomic.Int32
	r, err := projection.New("catchup", testSerde(t), []projection.Handler{
		projection.On(func(context.Context, Deposited, projection.Meta) error { n.Add(1); return nil }),
	}, projection.WithCheckpoints(&projection.MemoryCheckpoints{}), projection.WithProgressInterval(time.Millisecond))
	require.NoError(t, err)
	var reports []projection.Progress
	require.NoError(t, r.CatchUp(waitCtx(t), projection.FromStore(st), func(p projection.Progress) { reports = append(reports, p) }))
	require.Equal(t, int32(50), n.Load())
	final := reports[len(reports)-1]
	require.True(t, final.Finished)
	require.Equal(t, int64(50), final.Done)
	require.Equal(t, int64(50), final.Total)
	require.Contains(t, final.String(), "50/50 (100.0%)")
	for _, p := range reports {
		require.LessOrEqual(t, p.Done, p.Total)
	}
	// Caught up already: returns at once, nothing more handled.
	require.NoError(t, r.CatchUp(waitCtx(t), projection.FromStore(st), nil))
	require.Equal(t, int32(50), n.Load())
}

func TestCatchUpCancel(t *testing.T) {
	st := newMem()
	for i := range 10 {
		deposit(t, st, "s", int64(i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	r, err := projection.New("cancel", testSerde(t), []projection.Handler{
		projection.On(func(context.Context, Deposited, projection.Meta) error {
			if n.Add(1) == 3 {
				cancel()
			}
			return nil
		}),
	}, projection.WithCheckpoints(&projection.MemoryCheckpoints{}))
	require.NoError(t, err)
	require.ErrorIs(t, r.CatchUp(ctx, projection.FromStore(st), nil), context.Canceled)
	require.Less(t, n.Load(), int32(10))
}

func TestLagAndWaitForTimeout(t *testing.T) {
	st := newMem()
	deposit(t, st, "a", 1)
	block := make(chan struct{})
	r, err := projection.New("lag", testSerde(t), []projection.Handler{
		projection.On(func(ctx context.Context, _ Deposited, _ projection.Meta) error {
			select {
			case <-block:
			case <-ctx.Done():
			}
			return ctx.Err()
		}),
	})
	require.NoError(t, err)
	_, err = r.Lag(context.Background())
	require.ErrorContains(t, err, "call Run first")
	stop := testrun.Background(t, func(ctx context.Context) error { return r.Run(ctx, projection.FromStore(st)) })
	res := deposit(t, st, "a", 2)
	require.Eventually(t, func() bool {
		lag, err := r.Lag(waitCtx(t))
		return err == nil && lag[0] == 2
	}, 10*time.Second, time.Millisecond)
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, r.WaitFor(short, res.Positions[0]), context.DeadlineExceeded)
	close(block)
	require.NoError(t, r.WaitFor(waitCtx(t), res.Positions[0]))
	lag, err := r.Lag(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, map[int32]int64{0: 0}, lag)
	_ = stop()
	require.True(t, slices.Equal([]int32{0}, []int32{res.Positions[0].Partition}))
}

// gapSource delivers a record at offset 0, reports the partition read up
// to 2 (offset 1 is a transaction marker or a filtered record: nothing is
// delivered for it) and delivers the record at offset 2.
type gapSource struct{ recs []projection.Record }

func (s gapSource) Run(ctx context.Context, sink projection.Sink) error {
	if _, _, err := sink.Start(ctx, []int32{0}); err != nil {
		return err
	}
	if _, err := sink.Deliver(ctx, s.recs[:1]); err != nil {
		return err
	}
	sink.Reached(0, 2)
	if _, err := sink.Deliver(ctx, s.recs[1:]); err != nil {
		return err
	}
	<-ctx.Done()
	return ctx.Err()
}

func (s gapSource) End(context.Context) (eventstore.Checkpoint, error) {
	return eventstore.Checkpoint{0: 3}, nil
}

// A commit after offsets the source delivered nothing for (Reached moved
// the runner's position past them, no commit stored it) moves the stored
// checkpoint over the gap: it is not taken for another instance's move,
// which restarted the partition and applied the record twice.
func TestCommitAfterReachedGap(t *testing.T) {
	var recs []projection.Record
	for _, off := range []int64{0, 2} {
		data, err := json.Marshal(Deposited{Amount: 1})
		require.NoError(t, err)
		recs = append(recs, projection.Record{Event: eventstore.RecordedEvent{
			Event: eventstore.Event{Type: "test.Deposited", Data: data}, StreamID: "acc-1", Version: off/2 + 1,
			Position: eventstore.Position{Partition: 0, Offset: off},
		}})
	}
	var applied atomic.Int64
	cps := &projection.MemoryCheckpoints{}
	r, err := projection.New("gap", testSerde(t), []projection.Handler{
		projection.On(func(context.Context, Deposited, projection.Meta) error { applied.Add(1); return nil }),
	}, projection.WithCheckpoints(cps))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	require.NoError(t, r.CatchUp(ctx, gapSource{recs: recs}, nil))
	require.EqualValues(t, 2, applied.Load())
	cp, err := cps.Load(ctx, "gap")
	require.NoError(t, err)
	require.Equal(t, eventstore.Checkpoint{0: 3}, cp)
}
