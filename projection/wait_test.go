package projection_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/projection"
)

// partitionedSource is a log of several partitions whose partitions are
// delivered only when the test opens their gate, so one partition can lag
// behind the others. The last offset of partition 2 is a transaction
// marker: no record, only Reached.
type partitionedSource struct {
	recs  map[int32][]projection.Record
	end   eventstore.Checkpoint
	gates map[int32]chan struct{}
	// endFails is how many End calls fail first (a client that has not
	// reached the brokers yet).
	endFails atomic.Int32
}

func newPartitionedSource(t *testing.T) *partitionedSource {
	s := &partitionedSource{recs: map[int32][]projection.Record{}, end: eventstore.Checkpoint{}, gates: map[int32]chan struct{}{}}
	for p := int32(0); p < 3; p++ {
		for i := int64(0); i < 3; i++ {
			data, err := json.Marshal(Deposited{Amount: 1})
			require.NoError(t, err)
			s.recs[p] = append(s.recs[p], projection.Record{Event: eventstore.RecordedEvent{
				Event: eventstore.Event{Type: "test.Deposited", Data: data}, StreamID: "acc-" + string(rune('a'+p)), Version: i + 1,
				Position: eventstore.Position{Partition: p, Offset: i},
			}})
		}
		s.end[p] = 3
		s.gates[p] = make(chan struct{})
	}
	s.end[2] = 4 // offset 3 is a commit marker
	return s
}

func (s *partitionedSource) Run(ctx context.Context, sink projection.Sink) error {
	if _, _, err := sink.Start(ctx, nil); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errc := make(chan error, len(s.recs))
	for p, recs := range s.recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-s.gates[p]:
			case <-ctx.Done():
				return
			}
			if _, err := sink.Deliver(ctx, recs); err != nil {
				errc <- err
				return
			}
			sink.Reached(p, s.end[p])
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

func (s *partitionedSource) End(context.Context) (eventstore.Checkpoint, error) {
	if s.endFails.Add(-1) >= 0 {
		return nil, errors.New("broker not connected")
	}
	return s.end.Clone(), nil
}

// WaitForEnd, called before the runner starts, returns only when every
// partition reached the end of the log, while WaitFor of one write returns
// when that write's partition is done.
func TestWaitForEndCoversEveryPartition(t *testing.T) {
	var mu sync.Mutex
	total := map[string]int64{}
	r, err := projection.New("totals", testSerde(t), []projection.Handler{
		projection.On(func(_ context.Context, ev Deposited, m projection.Meta) error {
			mu.Lock()
			total[m.StreamID] += ev.Amount
			mu.Unlock()
			return nil
		}),
	})
	require.NoError(t, err)
	src := newPartitionedSource(t)
	src.endFails.Store(3) // WaitForEnd asks again until the source answers

	waited := make(chan error, 1)
	go func() { waited <- r.WaitForEnd(waitCtx(t)) }()
	notYet := func(why string) {
		t.Helper()
		select {
		case err := <-waited:
			t.Fatalf("WaitForEnd returned (%v) %s", err, why)
		case <-time.After(50 * time.Millisecond):
		}
	}
	notYet("before the runner started")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, src) }()
	close(src.gates[0])
	close(src.gates[1])
	require.NoError(t, r.WaitFor(waitCtx(t), eventstore.Position{Partition: 0, Offset: 2}, eventstore.Position{Partition: 1, Offset: 2}),
		"WaitFor of positions in partitions 0 and 1")
	notYet("while partition 2 was not processed")

	close(src.gates[2])
	require.NoError(t, <-waited)
	mu.Lock()
	require.Equal(t, map[string]int64{"acc-a": 3, "acc-b": 3, "acc-c": 3}, total)
	mu.Unlock()
	require.NoError(t, r.WaitForEnd(waitCtx(t)), "a second call returns at once")
	require.NoError(t, r.WaitFor(waitCtx(t)), "no positions: nothing to wait for")

	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}

// When the runner stops on an error, a waiter gets that error instead of
// waiting for its deadline.
func TestWaitForReturnsTheRunnersError(t *testing.T) {
	boom := errors.New("view database is gone")
	r, err := projection.New("broken", testSerde(t), []projection.Handler{
		projection.On(func(context.Context, Deposited, projection.Meta) error { return projection.Permanent(boom) }),
	}, projection.WithRetry(1, time.Millisecond, time.Millisecond))
	require.NoError(t, err)
	st := newMem()
	res := deposit(t, st, "acc-1", 5)

	waited := make(chan error, 1)
	go func() { waited <- r.WaitFor(waitCtx(t), res.Positions...) }()
	runErr := r.Run(context.Background(), projection.FromStore(st))
	require.ErrorIs(t, runErr, boom)
	err = <-waited
	require.ErrorIs(t, err, projection.ErrStopped)
	require.ErrorIs(t, err, boom, "the waiter sees why the runner stopped")
	require.Contains(t, err.Error(), "progress")

	err = r.WaitForEnd(waitCtx(t))
	require.ErrorIs(t, err, projection.ErrStopped, "also after the runner stopped")
}
