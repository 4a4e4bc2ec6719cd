package observe

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// Observer is what every WithObserver option of kafkaes takes (the Kafka
// event store, the Avro serde, the aggregate repository, the snapshot
// writer and the projection runner). A type becomes an Observer by
// embedding [Base]; it then receives the reports whose interfaces it
// implements ([AppendObserver], [LoadObserver], …, see [Hooks]), and no
// others. The observers of this module ([Logger], [Multi],
// [RedactStreams], observe/prometheus.Collector, observe/otel.SpanEvents)
// are Observers already.
//
// The compiler rejects a value that is not meant to be an observer (a
// *prometheus.Registry, a logger, a struct without Base). What it cannot
// see, the constructors check once when they start (see [Check]): an
// Observe method whose signature does not match its interface (so it
// would never be called), a method set only on the pointer while a value
// was passed, a misspelled Observe method, or an observer that receives
// no report at all. To have the compiler check a report method too,
// assert it next to the type:
//
//	var _ observe.AppendObserver = (*MyObserver)(nil)
type Observer interface{ isObserver() }

// Base makes a type an [Observer] when embedded in it. It receives no
// report by itself.
type Base struct{}

func (Base) isObserver() {}

// ErrObserver is matched (errors.Is) by the error [Check] returns for an
// observer that would silently miss reports.
var ErrObserver = errors.New("observe: observer would miss reports")

// Hooks holds the interfaces an observer implements, each nil when it does
// not. Components call [Resolve] once at construction and then test the
// field they need before building a report, so that an absent observer
// costs one nil check.
type Hooks struct {
	Append   AppendObserver
	Batch    BatchObserver
	Index    IndexObserver
	Load     LoadObserver
	Retry    RetryObserver
	Snapshot SnapshotObserver
	Serde    SerdeObserver
	Registry RegistryObserver
	Cache    CacheObserver
	Handled  ProjectionObserver
	Failure  FailureObserver
	Lag      LagObserver
	Rebuild  RebuildObserver
}

// Resolve returns the hooks o implements. A nil o gives no hooks. It does
// not [Check] o.
func Resolve(o Observer) Hooks {
	var h Hooks
	if o == nil {
		return h
	}
	h.Append, _ = o.(AppendObserver)
	h.Batch, _ = o.(BatchObserver)
	h.Index, _ = o.(IndexObserver)
	h.Load, _ = o.(LoadObserver)
	h.Retry, _ = o.(RetryObserver)
	h.Snapshot, _ = o.(SnapshotObserver)
	h.Serde, _ = o.(SerdeObserver)
	h.Registry, _ = o.(RegistryObserver)
	h.Cache, _ = o.(CacheObserver)
	h.Handled, _ = o.(ProjectionObserver)
	h.Failure, _ = o.(FailureObserver)
	h.Lag, _ = o.(LagObserver)
	h.Rebuild, _ = o.(RebuildObserver)
	return h
}

// reports maps each report method to its interface.
var reports = map[string]reflect.Type{
	"ObserveAppend":        reflect.TypeFor[AppendObserver](),
	"ObserveBatch":         reflect.TypeFor[BatchObserver](),
	"ObserveIndex":         reflect.TypeFor[IndexObserver](),
	"ObserveLoad":          reflect.TypeFor[LoadObserver](),
	"ObserveRetry":         reflect.TypeFor[RetryObserver](),
	"ObserveSnapshotWrite": reflect.TypeFor[SnapshotObserver](),
	"ObserveSerde":         reflect.TypeFor[SerdeObserver](),
	"ObserveRegistry":      reflect.TypeFor[RegistryObserver](),
	"ObserveCache":         reflect.TypeFor[CacheObserver](),
	"ObserveHandled":       reflect.TypeFor[ProjectionObserver](),
	"ObserveFailure":       reflect.TypeFor[FailureObserver](),
	"ObserveLag":           reflect.TypeFor[LagObserver](),
	"ObserveRebuild":       reflect.TypeFor[RebuildObserver](),
}

// Check returns an error matching [ErrObserver] when o would silently miss
// reports: it has an Observe… method whose signature does not match the
// report interface of that name, or whose name is no report's (a typo);
// it has report methods only on its pointer type and was passed by value;
// or it implements no report at all. Nil is fine (no observer). The
// constructors that take WithObserver call it: those returning an error
// return this one, aggregate.NewRepository and snapshot.NewWriter panic
// with it (a mistake in the program, like a bad regexp in
// regexp.MustCompile).
func Check(o Observer) error {
	switch x := o.(type) {
	case nil:
		return nil
	case *multi:
		return x.check()
	case *redactor:
		return Check(x.o)
	}
	t := reflect.TypeOf(o)
	var problems []string
	var got int
	for i := 0; i < t.NumMethod(); i++ {
		m := t.Method(i)
		if !strings.HasPrefix(m.Name, "Observe") {
			continue
		}
		iface, known := reports[m.Name]
		switch {
		case !known:
			problems = append(problems, fmt.Sprintf("method %s is no report (the reports are %s)", m.Name, reportNames()))
		case !t.Implements(iface):
			want, _ := iface.MethodByName(m.Name)
			problems = append(problems, fmt.Sprintf("method %s has type %s, but %s needs %s", m.Name, signature(m.Type, 1), iface, signature(want.Type, 0)))
		default:
			got++
		}
	}
	if t.Kind() != reflect.Pointer {
		pt := reflect.PointerTo(t)
		for name, iface := range reports {
			if _, onValue := t.MethodByName(name); !onValue && pt.Implements(iface) {
				problems = append(problems, fmt.Sprintf("%s is declared on *%s; pass a pointer (&%s{…})", name, t, t))
			}
		}
	}
	if got == 0 && len(problems) == 0 {
		problems = append(problems, "it implements no report interface ("+reportNames()+")")
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	return fmt.Errorf("%w: observer %s: %s", ErrObserver, t, strings.Join(problems, "; "))
}

// signature renders the parameters and results of function type ft,
// skipping its first skip parameters (the receiver of a method value).
func signature(ft reflect.Type, skip int) string {
	var in, out []string
	for i := skip; i < ft.NumIn(); i++ {
		in = append(in, ft.In(i).String())
	}
	for i := 0; i < ft.NumOut(); i++ {
		out = append(out, ft.Out(i).String())
	}
	s := "(" + strings.Join(in, ", ") + ")"
	switch len(out) {
	case 0:
	case 1:
		s += " " + out[0]
	default:
		s += " (" + strings.Join(out, ", ") + ")"
	}
	return s
}

func reportNames() string {
	names := make([]string, 0, len(reports))
	for n := range reports {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Any reports whether any hook is set.
func (h Hooks) Any() bool { return h != Hooks{} }

// Multi returns an observer that passes every report to each of observers
// that implements the report's interface, in order. Nil observers are
// dropped; Multi of a single observer returns it unchanged, and of none
// returns nil. [Check] of the result checks every observer.
func Multi(observers ...Observer) Observer {
	var list []Observer
	for _, o := range observers {
		if o != nil {
			list = append(list, o)
		}
	}
	switch len(list) {
	case 0:
		return nil
	case 1:
		return list[0]
	}
	m := &multi{all: list}
	for _, o := range list {
		h := Resolve(o)
		add(&m.append, h.Append)
		add(&m.batch, h.Batch)
		add(&m.index, h.Index)
		add(&m.load, h.Load)
		add(&m.retry, h.Retry)
		add(&m.snapshot, h.Snapshot)
		add(&m.serde, h.Serde)
		add(&m.registry, h.Registry)
		add(&m.cache, h.Cache)
		add(&m.handled, h.Handled)
		add(&m.failure, h.Failure)
		add(&m.lag, h.Lag)
		add(&m.rebuild, h.Rebuild)
	}
	return m
}

// check checks every observer of m (the fan-out itself has every method).
func (m *multi) check() error {
	var errs []error
	for _, o := range m.all {
		errs = append(errs, Check(o))
	}
	return errors.Join(errs...)
}

func add[T comparable](list *[]T, v T) {
	var zero T
	if v != zero {
		*list = append(*list, v)
	}
}

// multi fans reports out. It implements every interface; a report nobody
// wants costs a loop over an empty slice.
type multi struct {
	Base
	all      []Observer
	append   []AppendObserver
	batch    []BatchObserver
	index    []IndexObserver
	load     []LoadObserver
	retry    []RetryObserver
	snapshot []SnapshotObserver
	serde    []SerdeObserver
	registry []RegistryObserver
	cache    []CacheObserver
	handled  []ProjectionObserver
	failure  []FailureObserver
	lag      []LagObserver
	rebuild  []RebuildObserver
}

func (m *multi) ObserveAppend(ctx context.Context, a Append) {
	for _, o := range m.append {
		o.ObserveAppend(ctx, a)
	}
}

func (m *multi) ObserveBatch(ctx context.Context, b Batch) {
	for _, o := range m.batch {
		o.ObserveBatch(ctx, b)
	}
}

func (m *multi) ObserveIndex(ctx context.Context, ix Index) {
	for _, o := range m.index {
		o.ObserveIndex(ctx, ix)
	}
}

func (m *multi) ObserveLoad(ctx context.Context, l Load) {
	for _, o := range m.load {
		o.ObserveLoad(ctx, l)
	}
}

func (m *multi) ObserveRetry(ctx context.Context, r Retry) {
	for _, o := range m.retry {
		o.ObserveRetry(ctx, r)
	}
}

func (m *multi) ObserveSnapshotWrite(ctx context.Context, w SnapshotWrite) {
	for _, o := range m.snapshot {
		o.ObserveSnapshotWrite(ctx, w)
	}
}

func (m *multi) ObserveSerde(ctx context.Context, s Serde) {
	for _, o := range m.serde {
		o.ObserveSerde(ctx, s)
	}
}

func (m *multi) ObserveRegistry(ctx context.Context, c RegistryCall) {
	for _, o := range m.registry {
		o.ObserveRegistry(ctx, c)
	}
}

func (m *multi) ObserveCache(ctx context.Context, c CacheLookup) {
	for _, o := range m.cache {
		o.ObserveCache(ctx, c)
	}
}

func (m *multi) ObserveHandled(ctx context.Context, h Handled) {
	for _, o := range m.handled {
		o.ObserveHandled(ctx, h)
	}
}

func (m *multi) ObserveFailure(ctx context.Context, f Failure) {
	for _, o := range m.failure {
		o.ObserveFailure(ctx, f)
	}
}

func (m *multi) ObserveLag(ctx context.Context, l Lag) {
	for _, o := range m.lag {
		o.ObserveLag(ctx, l)
	}
}

func (m *multi) ObserveRebuild(ctx context.Context, r Rebuild) {
	for _, o := range m.rebuild {
		o.ObserveRebuild(ctx, r)
	}
}
