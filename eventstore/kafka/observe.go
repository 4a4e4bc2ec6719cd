package kafka

import (
	"context"
	"errors"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/observe"
)

// WithObserver makes the store report to o (see package observe): every
// Append ([observe.AppendObserver]), every group-commit round
// ([observe.BatchObserver]) and the stream index's catch-up
// ([observe.IndexObserver]), for whichever of these interfaces o
// implements. Combine observers with observe.Multi. The default reports
// nothing, at the cost of one nil check per append.
// New fails with an error matching observe.ErrObserver when o would
// silently miss reports (see observe.Check).
func WithObserver(o observe.Observer) Option {
	return func(opts *options) { opts.hooks, opts.obsErr = observe.Resolve(o), observe.Check(o) }
}

// observedAppend is Append with an [observe.AppendObserver].
func (s *Store) observedAppend(ctx context.Context, h observe.AppendObserver, streamID string, expected eventstore.ExpectedVersion, events []eventstore.Event) (eventstore.AppendResult, error) {
	start := time.Now()
	res, err := s.doAppend(ctx, streamID, expected, events...)
	s.reportAppend(ctx, h, streamID, events, time.Since(start), err)
	return res, err
}

// reportAppend reports an append of events to stream that took d and
// ended with err to h.
func (s *Store) reportAppend(ctx context.Context, h observe.AppendObserver, stream string, events []eventstore.Event, d time.Duration, err error) {
	bytes := 0
	for i := range events {
		bytes += len(events[i].Data)
	}
	h.ObserveAppend(ctx, observe.Append{
		Topic: s.topic, Stream: stream, Events: len(events), Bytes: bytes,
		Duration: d, Err: err, Conflict: errors.Is(err, eventstore.ErrConcurrencyConflict),
	})
}

// observeBatch reports a group-commit round that took d.
func (s *Store) observeBatch(h observe.BatchObserver, batch, retry []*appendReq, d time.Duration) {
	b := observe.Batch{Topic: s.topic, Appends: len(batch), Duration: d, Retried: len(retry)}
	again := make(map[*appendReq]bool, len(retry))
	for _, r := range retry {
		again[r] = true
	}
	for _, r := range batch {
		b.Events += len(r.events)
		if again[r] {
			continue
		}
		switch r.outcome.Load() {
		case outcomeOK:
			b.Succeeded++
		case outcomeFailed:
			b.Failed++
		}
	}
	h.ObserveBatch(context.Background(), b)
}

// Outcomes of an append request, recorded by finish for observers.
const (
	outcomeNone int32 = iota
	outcomeOK
	outcomeFailed
)
