package projection

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
)

// Meta is what a handler learns about an event besides the event itself.
type Meta struct {
	// StreamID is the stream (aggregate ID) the event belongs to.
	StreamID string
	// Version is the event's version in its stream; the first event is 1.
	Version int64
	// Position is where the event is in the log (partition and offset).
	Position eventstore.Position
	// Time is when the event was recorded (UTC).
	Time time.Time
	// EventID is the event's unique ID.
	EventID string
	// Type is the event's stable type name.
	Type string
	// CorrelationID ties together the events caused by one request.
	CorrelationID string
	// CausationID is the ID of the command or event that caused this one.
	CausationID string
	// Values holds the event's user metadata keys. Do not modify it.
	Values map[string]string
}

func metaOf(ev *eventstore.RecordedEvent) Meta {
	return Meta{
		StreamID: ev.StreamID, Version: ev.Version, Position: ev.Position, Time: ev.RecordedAt,
		EventID: ev.ID, Type: ev.Type, CorrelationID: ev.Metadata.CorrelationID,
		CausationID: ev.Metadata.CausationID, Values: ev.Metadata.Values,
	}
}

// Handler handles the events of one Go type. Create handlers with [On],
// [OnAny] or [OnRecorded].
type Handler struct {
	typ reflect.Type // nil for OnAny / OnRecorded
	raw bool         // OnRecorded: called with the undecoded event
	fn  func(ctx context.Context, ev any, m Meta) error
	rfn func(ctx context.Context, ev eventstore.RecordedEvent) error
}

// On returns a handler for events of type T (the type registered with the
// runner's serde; handlers receive values, not pointers). It is called in
// log order for every event of that type; returning an error applies the
// runner's failure policy.
func On[T any](fn func(ctx context.Context, ev T, m Meta) error) Handler {
	return Handler{
		typ: reflect.TypeFor[T](),
		fn:  func(ctx context.Context, ev any, m Meta) error { return fn(ctx, ev.(T), m) },
	}
}

// OnAny returns a handler for every decoded event that no [On] handler
// takes. A runner with an OnAny handler decodes every event.
func OnAny(fn func(ctx context.Context, ev any, m Meta) error) Handler {
	return Handler{fn: fn}
}

// OnRecorded returns a handler that receives every event undecoded, before
// and in addition to the typed handlers; use it for projections that copy
// events as they are (for example into an audit table).
func OnRecorded(fn func(ctx context.Context, ev eventstore.RecordedEvent) error) Handler {
	return Handler{raw: true, rfn: fn}
}

// handlerSet dispatches decoded events to handlers.
type handlerSet struct {
	byType map[reflect.Type]Handler
	any    *Handler
	raw    []Handler
}

func newHandlerSet(hs []Handler) (*handlerSet, error) {
	s := &handlerSet{byType: map[reflect.Type]Handler{}}
	for i, h := range hs {
		switch {
		case h.raw && h.rfn != nil:
			s.raw = append(s.raw, h)
		case h.fn == nil:
			return nil, fmt.Errorf("projection: handler %d is empty; create handlers with projection.On, OnAny or OnRecorded", i)
		case h.typ == nil:
			if s.any != nil {
				return nil, fmt.Errorf("projection: handler %d is a second OnAny handler; pass at most one", i)
			}
			h := h
			s.any = &h
		default:
			if h.typ.Kind() == reflect.Pointer {
				return nil, fmt.Errorf("projection: handler %d is for the pointer type %v; handlers take values, use On[%v]", i, h.typ, h.typ.Elem())
			}
			if _, dup := s.byType[h.typ]; dup {
				return nil, fmt.Errorf("projection: two handlers for %v; pass one handler per event type", h.typ)
			}
			s.byType[h.typ] = h
		}
	}
	if len(s.byType) == 0 && s.any == nil && len(s.raw) == 0 {
		return nil, fmt.Errorf("projection: no handlers; pass at least one projection.On handler")
	}
	return s, nil
}

// wants reports whether a decoded value of type t has a handler.
func (s *handlerSet) wants(t reflect.Type) bool {
	if s.any != nil {
		return true
	}
	_, ok := s.byType[t]
	return ok
}

func (s *handlerSet) dispatch(ctx context.Context, v any, m Meta) error {
	if h, ok := s.byType[reflect.TypeOf(v)]; ok {
		return h.fn(ctx, v, m)
	}
	if s.any != nil {
		return s.any.fn(ctx, v, m)
	}
	return nil
}
