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
//
// A record the store yields with an error matching
// [eventstore.ErrCorruptLog] (a foreign record, an event out of place in
// its stream) is handed over as a [Record] with DecodeErr set, at the
// position the store gave it: the runner's failure policy decides (Stop
// stops, Skip skips it, DeadLetter parks it); any other read error ends
// Run.
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
		var decodeErr error
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !errors.Is(err, eventstore.ErrCorruptLog) {
				return fmt.Errorf("projection: read store: %w", err)
			}
			// A record that is not a valid event at its place (a foreign
			// record, an event out of place in its stream): the store
			// yields it with its position and goes on, and the runner's
			// failure policy decides (Skip skips it, DeadLetter parks it,
			// Stop stops).
			decodeErr = err
		}
		if cp.Includes(ev.Position) {
			continue
		}
		if _, err := sink.Deliver(ctx, []Record{{Event: ev, DecodeErr: decodeErr}}); err != nil {
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
		if err != nil && !errors.Is(err, eventstore.ErrCorruptLog) {
			return nil, fmt.Errorf("projection: count the store's events: %w", err)
		}
		// A corrupt record counts too: it is yielded with its position,
		// and the runner delivers it to the failure policy like an event.
		end = end.Advance(ev.Position)
	}
	return end, nil
}
