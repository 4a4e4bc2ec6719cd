package observe

import "context"

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

// Resolve returns the hooks o implements. A nil o gives no hooks.
func Resolve(o any) Hooks {
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

// Any reports whether any hook is set.
func (h Hooks) Any() bool { return h != Hooks{} }

// Multi returns an observer that passes every report to each of observers
// that implements the report's interface, in order. Nil observers are
// dropped; Multi of a single observer returns it unchanged, and of none
// returns nil.
func Multi(observers ...any) any {
	var list []any
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
	m := &multi{}
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

func add[T comparable](list *[]T, v T) {
	var zero T
	if v != zero {
		*list = append(*list, v)
	}
}

// multi fans reports out. It implements every interface; a report nobody
// wants costs a loop over an empty slice.
type multi struct {
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
