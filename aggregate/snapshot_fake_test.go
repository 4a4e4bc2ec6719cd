package aggregate_test

import (
	"context"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
)

// snapEventStore is a small in-memory event store for the snapshot tests,
// counting the events it yields from ReadStream.
type snapEventStore struct {
	mu      sync.Mutex
	streams map[string][]eventstore.RecordedEvent
	log     []eventstore.RecordedEvent
	read    int64 // events yielded by ReadStream
}

func newSnapEventStore() *snapEventStore {
	return &snapEventStore{streams: map[string][]eventstore.RecordedEvent{}}
}

func (s *snapEventStore) Append(ctx context.Context, streamID string, expected eventstore.ExpectedVersion, events ...eventstore.Event) (eventstore.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	evs, err := eventstore.PrepareAppend(streamID, expected, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := int64(len(s.streams[streamID]))
	if !expected.Matches(cur) {
		return eventstore.AppendResult{}, &eventstore.ConflictError{StreamID: streamID, Expected: expected, Actual: cur}
	}
	res := eventstore.AppendResult{}
	for _, ev := range evs {
		cur++
		rec := eventstore.RecordedEvent{Event: ev, StreamID: streamID, Version: cur,
			Position: eventstore.Position{Offset: int64(len(s.log))}, RecordedAt: time.Now().UTC()}
		s.streams[streamID] = append(s.streams[streamID], rec)
		s.log = append(s.log, rec)
		res.Positions = append(res.Positions, rec.Position)
	}
	res.Version = cur
	return res, nil
}

// truncate drops the stream's events after version v (to build a snapshot
// that is ahead of its stream).
func (s *snapEventStore) truncate(streamID string, v int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams[streamID] = s.streams[streamID][:v]
}

func (s *snapEventStore) readCount() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.read
}

func (s *snapEventStore) ReadStream(ctx context.Context, streamID string, from int64) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		s.mu.Lock()
		evs := s.streams[streamID]
		s.mu.Unlock()
		if len(evs) == 0 {
			yield(eventstore.RecordedEvent{}, fmt.Errorf("stream %q: %w", streamID, eventstore.ErrStreamNotFound))
			return
		}
		start := max(from, 1) - 1
		if start >= int64(len(evs)) {
			return
		}
		for _, rec := range evs[start:] {
			if err := ctx.Err(); err != nil {
				yield(eventstore.RecordedEvent{}, err)
				return
			}
			s.mu.Lock()
			s.read++
			s.mu.Unlock()
			if !yield(rec, nil) {
				return
			}
		}
	}
}

func (s *snapEventStore) ReadAll(ctx context.Context, from eventstore.Checkpoint, opts ...eventstore.ReadOption) iter.Seq2[eventstore.RecordedEvent, error] {
	ro := eventstore.ReadOptionsOf(opts)
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		s.mu.Lock()
		log := s.log
		s.mu.Unlock()
		for _, rec := range log {
			if from.Includes(rec.Position) || !ro.Match(rec.StreamID, rec.Type) {
				continue
			}
			if !yield(rec, nil) {
				return
			}
		}
	}
}

func (s *snapEventStore) Subscribe(ctx context.Context, from eventstore.Checkpoint, opts ...eventstore.ReadOption) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		for rec, err := range s.ReadAll(ctx, from, opts...) {
			if !yield(rec, err) {
				return
			}
		}
		<-ctx.Done()
		yield(eventstore.RecordedEvent{}, ctx.Err())
	}
}

func (s *snapEventStore) Close() error { return nil }
