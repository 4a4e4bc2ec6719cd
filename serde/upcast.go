package serde

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
)

// Upcasting handles event changes that schema evolution cannot express: a
// type that was renamed, an event split into two, a field whose meaning
// changed. Stored events are never rewritten; instead, when an event of an
// old type name is read, a chain of upcasters turns it into events of the
// current types.
//
// An [Upcaster] is registered for the old type name it reads. Its output
// may have a name that has an upcaster again, so upcasters chain by
// version: "bank.Deposited.v1" → "bank.Deposited.v2" → "bank.Deposited".
// Values are passed along as they come: the typed Go value if the old
// name is still registered in the [Registry] (keep old Go types around to
// write typed upcasters), otherwise a generic value from the serde
// (map[string]any for records; with [JSON] numbers are [json.Number], with
// Avro they are goavro's native values decoded with the writer's schema).
// The chain's results are converted to the registered Go types.
//
// Wrap a serde with [Upcasting] to apply upcasters on read. Repositories
// and projections should check for [MultiUnmarshaler] and call
// UnmarshalAll, since a split event yields several events.

// Generic is an event in transit through upcasters: its type name and
// its value (a registered Go value or a generic value, see above).
type Generic struct {
	Name  string
	Value any
}

// Upcaster turns one event of an old form into zero or more events of a
// newer form.
type Upcaster interface {
	Upcast(ctx context.Context, e Generic) ([]Generic, error)
}

// UpcastFunc adapts a function to [Upcaster].
type UpcastFunc func(ctx context.Context, e Generic) ([]Generic, error)

// Upcast calls f.
func (f UpcastFunc) Upcast(ctx context.Context, e Generic) ([]Generic, error) { return f(ctx, e) }

// Rename returns an upcaster for a type that was renamed: the value is
// kept and only the name changes. (With Avro, prefer adding the old name
// as an alias of the new record; Rename is for names the writer's schema
// does not know about, such as JSON events.)
func Rename(to string) Upcaster {
	return UpcastFunc(func(_ context.Context, e Generic) ([]Generic, error) {
		return []Generic{{Name: to, Value: e.Value}}, nil
	})
}

// ErrUpcast means an upcaster chain failed or is misconfigured.
var ErrUpcast = errors.New("serde: upcast failed")

// Upcasters holds upcasters by the type name they read. The zero value is
// not usable; create one with [NewUpcasters]. Register at start-up;
// lookups are safe for concurrent use.
type Upcasters struct {
	mu   sync.RWMutex
	from map[string]Upcaster
	// MaxSteps bounds the number of upcaster calls for one stored event
	// (default 64), which stops a cycle (a → b → a).
	MaxSteps int
}

// NewUpcasters returns an empty set of upcasters.
func NewUpcasters() *Upcasters { return &Upcasters{from: map[string]Upcaster{}, MaxSteps: 64} }

// Register adds up for events named from. One upcaster per name: a second
// registration for the same name is an error.
func (u *Upcasters) Register(from string, up Upcaster) error {
	if from == "" || up == nil {
		return fmt.Errorf("%w: Register needs a type name and an upcaster", ErrUpcast)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.from[from]; ok {
		return fmt.Errorf("%w: an upcaster for %q is already registered", ErrUpcast, from)
	}
	u.from[from] = up
	return nil
}

// MustRegister is [Upcasters.Register] that panics on error, for start-up
// code.
func (u *Upcasters) MustRegister(from string, up Upcaster) {
	if err := u.Register(from, up); err != nil {
		panic(err)
	}
}

// Has reports whether an upcaster reads events named name.
func (u *Upcasters) Has(name string) bool {
	u.mu.RLock()
	defer u.mu.RUnlock()
	_, ok := u.from[name]
	return ok
}

// Names returns the names that have an upcaster, sorted.
func (u *Upcasters) Names() []string {
	u.mu.RLock()
	defer u.mu.RUnlock()
	out := make([]string, 0, len(u.from))
	for n := range u.from {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Apply runs the chain on e until no event has an upcaster left, and
// returns the resulting events in order.
func (u *Upcasters) Apply(ctx context.Context, e Generic) ([]Generic, error) {
	out := []Generic{e}
	steps := 0
	max := u.MaxSteps
	if max <= 0 {
		max = 64
	}
	for i := 0; i < len(out); {
		u.mu.RLock()
		up, ok := u.from[out[i].Name]
		u.mu.RUnlock()
		if !ok {
			i++
			continue
		}
		if steps++; steps > max {
			return nil, fmt.Errorf("%w: more than %d upcaster steps for a %s event; is there a cycle?", ErrUpcast, max, e.Name)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		next, err := up.Upcast(ctx, out[i])
		if err != nil {
			return nil, fmt.Errorf("%w: upcasting %s: %w", ErrUpcast, out[i].Name, err)
		}
		out = append(out[:i:i], append(next, out[i+1:]...)...)
	}
	return out, nil
}

// GenericSerde is implemented by serdes that can decode an event without
// its Go type, and build a registered Go value from a generic one. [JSON]
// and the Avro serde implement it; [Upcasting] needs it.
type GenericSerde interface {
	Serde
	// UnmarshalGeneric decodes data of the type named name into a generic
	// value (map[string]any for records).
	UnmarshalGeneric(ctx context.Context, name string, data []byte) (any, error)
	// FromGeneric converts a generic value into a value of the Go type
	// registered as name.
	FromGeneric(ctx context.Context, name string, v any) (any, error)
}

// MultiUnmarshaler is implemented by serdes whose stored events may decode
// into several events (an event split by an upcaster). Repositories and
// projections should prefer UnmarshalAll when a serde implements it.
type MultiUnmarshaler interface {
	UnmarshalAll(ctx context.Context, name string, data []byte) ([]any, error)
}

// UpcastingSerde is a [Serde] that applies upcasters on read. Create it
// with [Upcasting].
type UpcastingSerde struct {
	inner GenericSerde
	reg   *Registry
	ups   *Upcasters
}

// Upcasting wraps inner so that events with an upcaster for their name are
// upcast on read. reg is the registry inner uses; it tells whether an old
// name still has a Go type (then upcasters receive typed values).
func Upcasting(inner GenericSerde, reg *Registry, ups *Upcasters) *UpcastingSerde {
	return &UpcastingSerde{inner: inner, reg: reg, ups: ups}
}

// Marshal encodes v with the inner serde; writes always use current types.
func (s *UpcastingSerde) Marshal(ctx context.Context, v any) (string, []byte, error) {
	return s.inner.Marshal(ctx, v)
}

// CheckType asks the inner serde (see [TypeChecker]); it returns nil if the
// inner serde cannot tell.
func (s *UpcastingSerde) CheckType(t reflect.Type) error {
	if c, ok := s.inner.(TypeChecker); ok {
		return c.CheckType(t)
	}
	return nil
}

// TypeNames returns the names the inner serde reads as t ([TypeNamer])
// and every name that has an upcaster: an upcaster may turn an event of
// any old name into a t, and which ones do is known only by running them.
// ok is false if the inner serde cannot tell.
func (s *UpcastingSerde) TypeNames(t reflect.Type) ([]string, bool) {
	n, ok := s.inner.(TypeNamer)
	if !ok {
		return nil, false
	}
	names, ok := n.TypeNames(t)
	if !ok {
		return nil, false
	}
	return append(append([]string(nil), names...), s.ups.Names()...), true
}

// Unmarshal decodes one event. If upcasters turn it into a number of
// events other than one, it fails with [ErrUpcast]; use UnmarshalAll.
func (s *UpcastingSerde) Unmarshal(ctx context.Context, name string, data []byte) (any, error) {
	all, err := s.UnmarshalAll(ctx, name, data)
	if err != nil {
		return nil, err
	}
	if len(all) != 1 {
		return nil, fmt.Errorf("%w: a %s event upcasts to %d events; call UnmarshalAll (serde.MultiUnmarshaler) to read split events", ErrUpcast, name, len(all))
	}
	return all[0], nil
}

// UnmarshalAll decodes one stored event into the current events it stands
// for: itself if no upcaster reads its name, else the chain's results.
func (s *UpcastingSerde) UnmarshalAll(ctx context.Context, name string, data []byte) ([]any, error) {
	if !s.ups.Has(name) {
		v, err := s.inner.Unmarshal(ctx, name, data)
		if err != nil {
			return nil, err
		}
		return []any{v}, nil
	}
	var v any
	var err error
	if _, terr := s.reg.Type(name); terr == nil {
		v, err = s.inner.Unmarshal(ctx, name, data)
	} else {
		v, err = s.inner.UnmarshalGeneric(ctx, name, data)
	}
	if err != nil {
		return nil, err
	}
	evs, err := s.ups.Apply(ctx, Generic{Name: name, Value: v})
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(evs))
	for _, e := range evs {
		t, err := s.reg.Type(e.Name)
		if err != nil {
			return nil, fmt.Errorf("%w: upcasting %s produced %s: %w", ErrUpcast, name, e.Name, err)
		}
		if rv := reflect.ValueOf(e.Value); rv.IsValid() && rv.Type() == t {
			out = append(out, e.Value)
			continue
		}
		if rv := reflect.ValueOf(e.Value); rv.IsValid() && rv.Kind() == reflect.Pointer && rv.Type().Elem() == t && !rv.IsNil() {
			out = append(out, rv.Elem().Interface())
			continue
		}
		tv, err := s.inner.FromGeneric(ctx, e.Name, e.Value)
		if err != nil {
			return nil, fmt.Errorf("%w: upcasting %s: %w", ErrUpcast, name, err)
		}
		out = append(out, tv)
	}
	return out, nil
}

// UnmarshalGeneric decodes JSON data into a generic value: objects are
// map[string]any and numbers [json.Number], so int64 values stay exact.
func (j *JSON) UnmarshalGeneric(_ context.Context, name string, data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, name, err)
	}
	return v, nil
}

// FromGeneric converts a generic value (as from UnmarshalGeneric, possibly
// changed by upcasters) into the Go type registered as name, by way of
// JSON.
func (j *JSON) FromGeneric(ctx context.Context, name string, v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("serde: %s: cannot encode the upcast value as JSON: %w", name, err)
	}
	return j.Unmarshal(ctx, name, data)
}
