package serde

import (
	"fmt"
	"reflect"
	"sort"
	"sync"
)

// Registry maps Go event types to stable type names and back. The zero
// value is not usable; create one with [NewRegistry]. Register every type
// at start-up; lookups are safe for concurrent use, also with late
// registrations.
type Registry struct {
	mu     sync.RWMutex
	byName map[string]reflect.Type
	byType map[reflect.Type]string
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{byName: map[string]reflect.Type{}, byType: map[reflect.Type]string{}}
}

// Register adds the event type T under name. T must not be a pointer or
// interface type; values of *T are accepted by [Registry.Name] too.
// Registering the same pair twice is a no-op; reusing a name for another
// type, or giving a type a second name, is an error.
func Register[T any](r *Registry, name string) error {
	return r.RegisterType(reflect.TypeFor[T](), name)
}

// MustRegister is [Register] that panics on error, for start-up code.
func MustRegister[T any](r *Registry, name string) {
	if err := Register[T](r, name); err != nil {
		panic(err)
	}
}

// RegisterType is [Register] for a reflect.Type.
func (r *Registry) RegisterType(t reflect.Type, name string) error {
	if name == "" {
		return fmt.Errorf("serde: empty name for type %v; choose a stable name such as \"bank.AccountOpened\"", t)
	}
	if t == nil || t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface {
		return fmt.Errorf("serde: cannot register %v as %q: register the value type, not a pointer or interface", t, name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.byName[name]; ok {
		if old == t {
			return nil
		}
		return fmt.Errorf("serde: name %q is already registered for %v; cannot reuse it for %v", name, old, t)
	}
	if old, ok := r.byType[t]; ok {
		return fmt.Errorf("serde: type %v is already registered as %q; cannot register it again as %q", t, old, name)
	}
	r.byName[name] = t
	r.byType[t] = name
	return nil
}

// Name returns the registered name of v's type (v may be a T or a *T).
func (r *Registry) Name(v any) (string, error) {
	t := reflect.TypeOf(v)
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	r.mu.RLock()
	name, ok := r.byType[t]
	r.mu.RUnlock()
	if !ok {
		return "", fmt.Errorf("%w: Go type %v is not registered; call serde.Register[%v](registry, \"<stable name>\") at start-up", ErrUnknownType, t, t)
	}
	return name, nil
}

// Type returns the Go type registered under name.
func (r *Registry) Type(name string) (reflect.Type, error) {
	r.mu.RLock()
	t, ok := r.byName[name]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: no Go type is registered as %q; register it, or add an upcaster if the type was renamed", ErrUnknownType, name)
	}
	return t, nil
}

// Names returns all registered names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.byName))
	for n := range r.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
