package projection

import (
	"context"
	"errors"
	"fmt"

	"github.com/kafkaes/kafkaes/eventstore"
)

// FromStore returns a [Source] that reads store through
// [eventstore.Store.Subscribe]: all partitions in one sequence, from the
// runner's checkpoint (or the beginning). It hands records to the runner
// one at a time, so with a CheckpointStore each event is its own
// transaction; use the Kafka source for high-volume projections.
func FromStore(store eventstore.Store) Source { return &storeSource{store: store} }

type storeSource struct{ store eventstore.Store }

// Header is implemented by stores that can tell the end of their log
// cheaply: for each partition, the offset after the last event. Sources
// without it count the log with ReadAll.
type Header interface {
	Head(ctx context.Context) (eventstore.Checkpoint, error)
}

func (s *storeSource) Run(ctx context.Context, sink Sink) error {
	for {
		err := s.run(ctx, sink)
		if errors.Is(err, ErrCheckpointMoved) && ctx.Err() == nil {
			continue // resume from the checkpoint the other instance stored
		}
		return err
	}
}

func (s *storeSource) run(ctx context.Context, sink Sink) error {
	cp, _, err := sink.Start(ctx, nil)
	if err != nil {
		return err
	}
	cp = cp.Clone()
	for ev, err := range s.store.Subscribe(ctx, cp) {
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("projection: read store: %w", err)
		}
		if cp.Includes(ev.Position) {
			continue
		}
		if _, err := sink.Deliver(ctx, []Record{{Event: ev}}); err != nil {
			return err
		}
		cp = cp.Advance(ev.Position)
	}
	return ctx.Err()
}

func (s *storeSource) End(ctx context.Context) (eventstore.Checkpoint, error) {
	if h, ok := s.store.(Header); ok {
		return h.Head(ctx)
	}
	end := eventstore.Checkpoint{}
	for ev, err := range s.store.ReadAll(ctx, nil) {
		if err != nil {
			return nil, fmt.Errorf("projection: count the store's events: %w", err)
		}
		end = end.Advance(ev.Position)
	}
	return end, nil
}
