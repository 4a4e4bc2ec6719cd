package aggregate_test

import (
	"context"
	"errors"
	"testing"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/eventstore/observe"
	"github.com/kafkaes/kafkaes/serde"
)

type loadRecorder struct {
	observe.Base
	loads   []observe.Load
	retries []observe.Retry
}

func (r *loadRecorder) ObserveLoad(_ context.Context, l observe.Load) { r.loads = append(r.loads, l) }
func (r *loadRecorder) ObserveRetry(_ context.Context, x observe.Retry) {
	r.retries = append(r.retries, x)
}

type noopLoads struct{ observe.Base }

func (noopLoads) ObserveLoad(context.Context, observe.Load) {}

// TestObserverAndMetadata: loads are reported with the aggregate type and
// event counts, and WithMetadata adds to the metadata of appended events
// without changing the context's metadata.
func TestObserverAndMetadata(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	rec := &loadRecorder{}
	repo := aggregate.NewRepository(store, serde.NewJSON(accountRegistry()), func() *Account { return &Account{} },
		aggregate.WithObserver(rec),
		aggregate.WithMetadata(func(ctx context.Context, md *eventstore.Metadata) {
			md.Values["tenant"] = "t1"
		}))
	base := map[string]string{"user": "ada"}
	ctx = eventstore.ContextWithMetadata(ctx, eventstore.Metadata{CorrelationID: "req-1", Values: base})
	if _, err := repo.Update(ctx, "acc-1", func(a *Account) error { return a.Open("ada") }); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Load(ctx, "acc-1"); err != nil {
		t.Fatal(err)
	}
	if len(rec.loads) != 2 || rec.loads[0].Events != 0 || rec.loads[1].Events != 1 ||
		rec.loads[1].Aggregate != "aggregate_test.Account" || rec.loads[1].Stream != "acc-1" || rec.loads[1].Snapshot != observe.SnapshotNone {
		t.Fatalf("loads %+v", rec.loads)
	}
	for ev, err := range store.ReadStream(ctx, "acc-1", 1) {
		if err != nil {
			t.Fatal(err)
		}
		md := ev.Metadata
		if md.CorrelationID != "req-1" || md.Values["user"] != "ada" || md.Values["tenant"] != "t1" {
			t.Fatalf("metadata %+v", md)
		}
	}
	if len(base) != 1 {
		t.Fatalf("WithMetadata changed the context's map: %v", base)
	}
}

// TestNoObserverAllocatesNothingExtra: a repository without an observer
// (or with one that implements none of its hooks) allocates exactly as
// much per load as one with an observer that does nothing, which shows
// that building the reports costs nothing when nobody listens.
func TestNoObserverAllocatesNothingExtra(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	seed := aggregate.NewRepository(store, serde.NewJSON(accountRegistry()), func() *Account { return &Account{} })
	for range 10 {
		if _, err := seed.Update(ctx, "acc-1", func(a *Account) error {
			if a.AggregateVersion() == 0 {
				return a.Open("ada")
			}
			return a.Deposit(1)
		}); err != nil {
			t.Fatal(err)
		}
	}
	allocs := func(opts ...aggregate.Option) float64 {
		repo := aggregate.NewRepository(store, serde.NewJSON(accountRegistry()), func() *Account { return &Account{} }, opts...)
		return testing.AllocsPerRun(200, func() {
			if _, err := repo.Load(ctx, "acc-1"); err != nil {
				t.Fatal(err)
			}
		})
	}
	none := allocs()
	noop := allocs(aggregate.WithObserver(noopLoads{}))
	t.Logf("allocs per load: no observer %.1f, no-op load observer %.1f", none, noop)
	if noop != none {
		t.Errorf("reporting a load allocates: %.1f with a no-op observer vs %.1f without", noop, none)
	}
}

// An observer that would miss reports makes NewRepository panic with
// observe.ErrObserver, like a bad regexp in regexp.MustCompile.
func TestObserverChecked(t *testing.T) {
	defer func() {
		err, _ := recover().(error)
		if !errors.Is(err, observe.ErrObserver) {
			t.Fatalf("recovered %v, want observe.ErrObserver", err)
		}
	}()
	aggregate.NewRepository(memory.New(), serde.NewJSON(accountRegistry()), func() *Account { return &Account{} },
		aggregate.WithObserver(observe.Base{}))
}
