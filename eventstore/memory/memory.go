package memory

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
)

// Store is an in-memory [eventstore.Store]. The zero value is not usable;
// create one with [New]. It is safe for concurrent use.
type Store struct {
	mu      sync.RWMutex
	log     []eventstore.RecordedEvent // the global log; offset = index
	streams map[string]*stream
	// changed is closed and replaced on every append, waking subscribers.
	changed chan struct{}
	closed  chan struct{}
	now     func() time.Time
}

// stream indexes one stream's events in the log.
type stream struct {
	offsets []int64          // offsets[v-1] is the offset of version v
	ids     map[string]int64 // event ID -> version
	life    eventstore.StreamLife
}

// Option configures a [Store].
type Option func(*Store)

// WithClock sets the function that stamps RecordedAt. The default is
// time.Now; the store converts its result to UTC. Tests use it to get
// reproducible times.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns an empty store.
func New(opts ...Option) *Store {
	s := &Store{
		streams: map[string]*stream{},
		changed: make(chan struct{}),
		closed:  make(chan struct{}),
		now:     time.Now,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

var _ eventstore.Store = (*Store)(nil)

// Append implements [eventstore.Store.Append].
func (s *Store) Append(ctx context.Context, streamID string, expected eventstore.ExpectedVersion, events ...eventstore.Event) (eventstore.AppendResult, error) {
	prepared, err := eventstore.PrepareAppend(streamID, expected, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return s.appendValid(ctx, streamID, expected, prepared, eventstore.Marker{})
}

// appendValid appends events, already validated, to streamID under the
// lock: the version and lifecycle checks (m is the lifecycle marker the
// events are, if any), then the write; an idempotent repeat returns the
// earlier result.
func (s *Store) appendValid(ctx context.Context, streamID string, expected eventstore.ExpectedVersion, events []eventstore.Event, m eventstore.Marker) (eventstore.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isClosed() {
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	res, repeat, err := s.checkAppend(streamID, expected, events, false, m)
	if err != nil || repeat {
		return res, err
	}
	res = s.write(streamID, res.Version, events, s.now().UTC())
	s.notify()
	return res, nil
}

var _ eventstore.MultiAppender = (*Store)(nil)

// AppendMulti implements [eventstore.MultiAppender]: it checks every
// entry and writes all of them under one lock, so readers see all or none.
func (s *Store) AppendMulti(ctx context.Context, appends ...eventstore.StreamAppend) ([]eventstore.AppendResult, error) {
	prepared, err := eventstore.PrepareMulti(appends)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isClosed() {
		return nil, eventstore.ErrClosed
	}
	results := make([]eventstore.AppendResult, len(prepared))
	var conflicts []*eventstore.ConflictError
	repeats, writes := 0, 0
	for i, a := range prepared {
		if len(a.Events) > 0 {
			writes++
		}
		res, repeat, err := s.checkAppend(a.StreamID, a.Expected, a.Events, a.Recreate, eventstore.Marker{})
		var ce *eventstore.ConflictError
		switch {
		case errors.As(err, &ce):
			conflicts = append(conflicts, ce)
			continue
		case err != nil:
			return nil, err
		case repeat:
			repeats++
		}
		results[i] = res
	}
	switch {
	case repeats == writes:
		// A repeat of a multi-stream append that was written: every
		// entry's events are where it put them. (Its conditions held
		// then; they need not hold now.)
		return results, nil
	case repeats > 0:
		return nil, fmt.Errorf("%w: %d of the %d entries with events of the multi-stream append are already stored, the others are not, so it is not a repeat of one earlier append; use new IDs for new events", eventstore.ErrDuplicateEventID, repeats, writes)
	case len(conflicts) > 0:
		return nil, &eventstore.MultiConflictError{Conflicts: conflicts}
	}
	at := s.now().UTC()
	for i, a := range prepared {
		if len(a.Events) > 0 {
			results[i] = s.write(a.StreamID, results[i].Version, a.Events, at)
		}
	}
	s.notify()
	return results, nil
}

// checkAppend compares an append with the stream (s.mu held): a repeat of an
// earlier append returns its result; otherwise res.Version is the
// stream's current version. recreate allows appending to a deleted
// stream; marker is the lifecycle marker the append writes, if any.
func (s *Store) checkAppend(streamID string, expected eventstore.ExpectedVersion, events []eventstore.Event, recreate bool, marker eventstore.Marker) (res eventstore.AppendResult, repeat bool, err error) {
	st := s.streams[streamID]
	current := int64(0)
	var life eventstore.StreamLife
	if st != nil {
		life = st.life
		current = int64(len(st.offsets))
		repeat, last, err := eventstore.CheckIdempotent(streamID, expected, current, events, func(id string) (int64, bool) {
			v, ok := st.ids[id]
			return v, ok
		})
		if err != nil {
			return res, false, err
		}
		if repeat && len(events) > 0 {
			res := eventstore.AppendResult{Version: last, Positions: make([]eventstore.Position, len(events))}
			for i := range events {
				res.Positions[i] = eventstore.Position{Offset: st.offsets[last-int64(len(events))+int64(i)]}
			}
			return res, true, nil
		}
	}
	if err := life.CheckAppend(streamID, current, recreate, marker); err != nil {
		return res, false, err
	}
	if !expected.Matches(current) {
		return res, false, &eventstore.ConflictError{StreamID: streamID, Expected: expected, Actual: current}
	}
	return eventstore.AppendResult{Version: current}, false, nil
}

// write appends events to the stream after version current (s.mu held).
func (s *Store) write(streamID string, current int64, events []eventstore.Event, at time.Time) eventstore.AppendResult {
	st := s.streams[streamID]
	if st == nil {
		st = &stream{ids: map[string]int64{}}
		s.streams[streamID] = st
	}
	res := eventstore.AppendResult{Version: current + int64(len(events)), Positions: make([]eventstore.Position, len(events))}
	for i, ev := range events {
		offset := int64(len(s.log))
		version := current + int64(i) + 1
		s.log = append(s.log, eventstore.RecordedEvent{
			Event:      copyEvent(ev),
			StreamID:   streamID,
			Version:    version,
			Position:   eventstore.Position{Offset: offset},
			RecordedAt: at,
		})
		st.offsets = append(st.offsets, offset)
		st.ids[ev.ID] = version
		if m, ok := eventstore.ParseMarker(ev); ok {
			st.life.Apply(m, version)
		}
		res.Positions[i] = eventstore.Position{Offset: offset}
	}
	return res
}

var _ eventstore.Lifecycle = (*Store)(nil)

// DeleteStream implements [eventstore.Lifecycle.DeleteStream].
func (s *Store) DeleteStream(ctx context.Context, streamID string, expected eventstore.ExpectedVersion) (eventstore.AppendResult, error) {
	return s.appendMarker(ctx, streamID, expected, eventstore.Marker{Kind: eventstore.MarkerDeleted})
}

// TruncateStream implements [eventstore.Lifecycle.TruncateStream].
func (s *Store) TruncateStream(ctx context.Context, streamID string, expected eventstore.ExpectedVersion, before int64) (eventstore.AppendResult, error) {
	return s.appendMarker(ctx, streamID, expected, eventstore.Marker{Kind: eventstore.MarkerTruncated, Before: before})
}

// appendMarker appends a lifecycle marker event.
func (s *Store) appendMarker(ctx context.Context, streamID string, expected eventstore.ExpectedVersion, m eventstore.Marker) (eventstore.AppendResult, error) {
	if err := eventstore.ValidateMarker(streamID, expected, m); err != nil {
		return eventstore.AppendResult{}, err
	}
	// The marker has a new random event ID, so it is never a repeat.
	return s.appendValid(ctx, streamID, expected, []eventstore.Event{m.Event()}, m)
}

// notify wakes subscribers (s.mu held).
func (s *Store) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// ReadStream implements [eventstore.Store.ReadStream].
func (s *Store) ReadStream(ctx context.Context, streamID string, from int64) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		if err := eventstore.ValidateStreamID(streamID); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		from = max(from, 1)
		s.mu.RLock()
		closed := s.isClosed()
		log := s.log
		var offsets []int64
		var fromErr error
		st, ok := s.streams[streamID]
		if ok {
			offsets = st.offsets[:len(st.offsets):len(st.offsets)]
			from, fromErr = st.life.ReadFrom(streamID, int64(len(offsets)), from)
		}
		s.mu.RUnlock()
		// The log and a stream's offsets only ever grow, and elements are
		// never changed once appended, so the captured slices can be read
		// without the lock.
		switch {
		case closed:
			yield(eventstore.RecordedEvent{}, eventstore.ErrClosed)
			return
		case ctx.Err() != nil:
			yield(eventstore.RecordedEvent{}, ctx.Err())
			return
		case !ok:
			yield(eventstore.RecordedEvent{}, eventstore.ErrStreamNotFound)
			return
		case fromErr != nil:
			yield(eventstore.RecordedEvent{}, fromErr)
			return
		}
		for v := from; v <= int64(len(offsets)); v++ {
			if err := s.check(ctx); err != nil {
				yield(eventstore.RecordedEvent{}, err)
				return
			}
			if !yield(copyRecorded(log[offsets[v-1]]), nil) {
				return
			}
		}
	}
}

// ReadAll implements [eventstore.Store.ReadAll].
func (s *Store) ReadAll(ctx context.Context, from eventstore.Checkpoint, opts ...eventstore.ReadOption) iter.Seq2[eventstore.RecordedEvent, error] {
	ro := eventstore.ReadOptionsOf(opts)
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		s.mu.RLock()
		log := s.log
		s.mu.RUnlock()
		if err := s.check(ctx); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		for off := max(from[0], 0); off < int64(len(log)); off++ {
			if err := s.check(ctx); err != nil {
				yield(eventstore.RecordedEvent{}, err)
				return
			}
			if !ro.Match(log[off].StreamID, log[off].Type) {
				continue
			}
			if !yield(copyRecorded(log[off]), nil) {
				return
			}
		}
	}
}

// Subscribe implements [eventstore.Store.Subscribe]. It waits for appends
// without polling: every append wakes the waiting subscriptions.
func (s *Store) Subscribe(ctx context.Context, from eventstore.Checkpoint, opts ...eventstore.ReadOption) iter.Seq2[eventstore.RecordedEvent, error] {
	ro := eventstore.ReadOptionsOf(opts)
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		next := max(from[0], 0)
		for {
			s.mu.RLock()
			log, changed := s.log, s.changed
			s.mu.RUnlock()
			for ; next < int64(len(log)); next++ {
				if err := s.check(ctx); err != nil {
					yield(eventstore.RecordedEvent{}, err)
					return
				}
				if !ro.Match(log[next].StreamID, log[next].Type) {
					continue
				}
				if !yield(copyRecorded(log[next]), nil) {
					return
				}
			}
			if err := s.check(ctx); err != nil {
				yield(eventstore.RecordedEvent{}, err)
				return
			}
			select {
			case <-changed:
			case <-ctx.Done():
			case <-s.closed:
			}
		}
	}
}

// Close implements [eventstore.Store.Close]. It ends running subscriptions
// with [eventstore.ErrClosed]. Closing twice is harmless.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.isClosed() {
		close(s.closed)
	}
	return nil
}

// Len returns the number of events in the store.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.log)
}

// check returns ErrClosed or the context's error, if any.
func (s *Store) check(ctx context.Context) error {
	if s.isClosed() {
		return eventstore.ErrClosed
	}
	return ctx.Err()
}

func (s *Store) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// copyEvent returns ev with its own copies of Data and Metadata.Values.
func copyEvent(ev eventstore.Event) eventstore.Event {
	ev.Data = slices.Clone(ev.Data)
	if ev.Metadata.Values != nil {
		ev.Metadata.Values = maps.Clone(ev.Metadata.Values)
	}
	return ev
}

func copyRecorded(r eventstore.RecordedEvent) eventstore.RecordedEvent {
	r.Event = copyEvent(r.Event)
	return r
}
