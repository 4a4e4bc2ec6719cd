package memory

import (
	"context"
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
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isClosed() {
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	st := s.streams[streamID]
	current := int64(0)
	if st != nil {
		current = int64(len(st.offsets))
		repeat, last, err := eventstore.CheckIdempotent(streamID, expected, current, prepared, func(id string) (int64, bool) {
			v, ok := st.ids[id]
			return v, ok
		})
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		if repeat {
			res := eventstore.AppendResult{Version: last, Positions: make([]eventstore.Position, len(prepared))}
			for i := range prepared {
				res.Positions[i] = eventstore.Position{Offset: st.offsets[last-int64(len(prepared))+int64(i)]}
			}
			return res, nil
		}
	}
	if !expected.Matches(current) {
		return eventstore.AppendResult{}, &eventstore.ConflictError{StreamID: streamID, Expected: expected, Actual: current}
	}
	if st == nil {
		st = &stream{ids: map[string]int64{}}
		s.streams[streamID] = st
	}
	at := s.now().UTC()
	res := eventstore.AppendResult{Version: current + int64(len(prepared)), Positions: make([]eventstore.Position, len(prepared))}
	for i, ev := range prepared {
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
		res.Positions[i] = eventstore.Position{Offset: offset}
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return res, nil
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
		st, ok := s.streams[streamID]
		if ok {
			offsets = st.offsets[:len(st.offsets):len(st.offsets)]
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
