package aggregate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
)

// LoadAt rebuilds the aggregate as it was at the given version: from its
// events 1..version, for audits, support and debugging ("what did the
// account look like after event 17?"). With [WithSnapshots] it starts from
// the latest snapshot when that snapshot is at or below version (and
// belongs to the stream as it is: the event it covers is there with the
// recorded ID); otherwise it reads from the first event. The snapshot
// store keeps only the latest snapshot per stream, so a LoadAt far below
// the head reads from the start.
//
// It returns an error matching [ErrNotFound] when the aggregate has no
// events, or fewer than version (the error says how many it has), and an
// error for a version below 1. The result is a past state: its
// AggregateVersion is version, so a Save of changes raised on it fails
// with a concurrency conflict unless version is the stream's last.
func (r *Repository[T]) LoadAt(ctx context.Context, id string, version int64) (T, error) {
	var zero T
	if version < 1 {
		return zero, fmt.Errorf("aggregate %q: LoadAt version %d: versions start at 1", id, version)
	}
	a, last, err := r.loadUntil(ctx, id, func(rec eventstore.RecordedEvent) bool { return rec.Version > version })
	if err != nil {
		return zero, err
	}
	if last < version {
		if last == 0 {
			return zero, fmt.Errorf("aggregate %q: %w", id, ErrNotFound)
		}
		return zero, fmt.Errorf("aggregate %q has %d events, no version %d: %w", id, last, version, ErrNotFound)
	}
	return a, nil
}

// LoadAsOf rebuilds the aggregate as it was at time t: from its events in
// version order up to the first one recorded after t (RecordedAt, the time
// the store recorded the append; with several store instances their clocks
// matter, so a time within their skew of an append is ambiguous). With
// [WithSnapshots] it starts from the latest snapshot when the event that
// snapshot covers was recorded at or before t.
//
// It returns an error matching [ErrNotFound] when the aggregate has no
// events recorded at or before t (it did not exist yet, or at all). As
// with [Repository.LoadAt], the result is a past state: a Save of changes
// raised on it fails with a concurrency conflict unless no event was
// recorded after t.
func (r *Repository[T]) LoadAsOf(ctx context.Context, id string, t time.Time) (T, error) {
	var zero T
	a, last, err := r.loadUntil(ctx, id, func(rec eventstore.RecordedEvent) bool { return rec.RecordedAt.After(t) })
	if err != nil {
		return zero, err
	}
	if last == 0 {
		return zero, fmt.Errorf("aggregate %q as of %s: %w", id, t.UTC().Format(time.RFC3339Nano), ErrNotFound)
	}
	return a, nil
}

// loadUntil rebuilds the aggregate from the events in version order before
// the first one for which past is true, starting from the latest snapshot
// when the event it covers is not past. It returns the aggregate and the
// version of the last event applied (0: none).
func (r *Repository[T]) loadUntil(ctx context.Context, id string, past func(eventstore.RecordedEvent) bool) (T, int64, error) {
	var zero T
	stream := r.cfg.streamID(id)
	a, from := r.New(id), int64(1)
	if r.snaps != nil {
		sa, v, err := r.snapshotBefore(ctx, id, stream, past)
		if err != nil {
			return zero, 0, err
		}
		if v > 0 {
			a, from = sa, v+1
		}
	}
	root := a.aggregateRoot()
	for rec, err := range r.store.ReadStream(ctx, stream, from) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			break
		}
		if err != nil {
			return zero, 0, fmt.Errorf("aggregate %q: read events: %w", id, err)
		}
		if past(rec) {
			break
		}
		if eventstore.IsMarker(rec.Type) {
			root.version = rec.Version
			continue
		}
		ev, err := r.serde.Unmarshal(ctx, rec.Type, rec.Data)
		if err != nil {
			return zero, 0, fmt.Errorf("aggregate %q: decode event %s (stream %q, version %d, position %s): %w", id, rec.Type, rec.StreamID, rec.Version, rec.Position, err)
		}
		a.Apply(ev)
		root.version = rec.Version
	}
	return a, root.version, nil
}

// snapshotBefore returns the aggregate restored from the stream's latest
// snapshot and the snapshot's version, when the snapshot can be used and
// the event it covers is there, carries the recorded ID and is not past;
// otherwise version 0 (read from the first event). Its error is only for
// what a full read would meet too (cancellation, the event store failing).
func (r *Repository[T]) snapshotBefore(ctx context.Context, id, stream string, past func(eventstore.RecordedEvent) bool) (T, int64, error) {
	var zero T
	snap, err := r.snaps.store.Load(ctx, stream)
	if err != nil {
		if ctx.Err() != nil {
			return zero, 0, ctx.Err()
		}
		return zero, 0, nil // no snapshot, or the snapshot store failed: read every event
	}
	if past(eventstore.RecordedEvent{StreamID: stream, Version: snap.Version}) {
		return zero, 0, nil // past by its version alone (LoadAt below it): no need to read it
	}
	a := r.New(id)
	if reason := r.restore(ctx, a, stream, snap); reason != "" {
		return zero, 0, nil
	}
	for rec, err := range readCovering(ctx, r.store, stream, snap) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return zero, 0, nil
		}
		if err != nil {
			return zero, 0, fmt.Errorf("aggregate %q: read events: %w", id, err)
		}
		if rec.Version != snap.Version || (snap.EventID != "" && rec.ID != snap.EventID) || past(rec) {
			return zero, 0, nil
		}
		return a, snap.Version, nil
	}
	return zero, 0, nil
}
