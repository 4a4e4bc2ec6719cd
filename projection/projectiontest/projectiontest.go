// Package projectiontest tests projections in given/then form, on the
// in-memory event store: given the events of some streams (typed values,
// as the domain raises them), run the projection's handlers over them,
// then check the read model.
//
//	func TestOrderSummary(t *testing.T) {
//		v := newMemView()
//		projectiontest.For(t, sd, v.handlers()).
//			Given("order-1", OrderPlaced{Customer: "ann"}, ItemAdded{Quantity: 2, Price: 500}).
//			Given("order-2", OrderPlaced{Customer: "bob"}).
//			Run().
//			Then(func(t testing.TB) { ... assertions on v ... })
//	}
//
// The events are encoded with the serde the projection decodes with (so a
// type missing from its registry fails here, as it would in production)
// and appended to an in-memory store, one append per Given, each stream's
// versions continuing from its earlier events; handlers get the same
// [projection.Meta] they get from a real store (stream, version, position,
// time, IDs, metadata). Run is [projection.Runner.CatchUp] of one runner,
// so a second Given and Run after a first one deliver only the new events,
// as a running projection would: a test can check a view in steps.
//
// The runner keeps its position in a [projection.MemoryCheckpoints] unless
// the options passed to [For] choose a checkpoint store (the runner is
// named "projectiontest-<test name>-<n>", n counting the scenarios of the
// process, so scenarios sharing a checkpoint store never share a
// checkpoint): pass
// projection.WithCheckpoints(sqlcheckpoint.New(db)) to test a SQL view
// whose handlers write through sqlcheckpoint.Tx, in the same transaction
// as the checkpoint, exactly as in production. By default a failing
// handler is tried once (not the runner's 5 attempts with backoff) and
// stops the run, so a test sees the handler's error at once; options given
// to For come after these defaults and win.
package projectiontest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/serde"
)

// scenarios numbers the scenarios of the process, for their runner names.
var scenarios atomic.Int64

// Timeout bounds each Run (a handler that blocks fails the test rather
// than hang it).
const Timeout = time.Minute

// Scenario is a projection under test: its handlers, the in-memory store
// the given events go to, and the runner that delivers them. Create it
// with [For]; it is not safe for concurrent use.
type Scenario struct {
	t      testing.TB
	sd     serde.Serde
	store  *memory.Store
	runner *projection.Runner
}

// For returns a scenario for the projection made of handlers, with events
// encoded and decoded by sd. opts are the runner's options (see the
// package doc for the defaults they override). A runner that cannot be
// created (for example two handlers for one type) fails the test at once.
func For(t testing.TB, sd serde.Serde, handlers []projection.Handler, opts ...projection.Option) *Scenario {
	t.Helper()
	all := append([]projection.Option{
		projection.WithCheckpoints(&projection.MemoryCheckpoints{}),
		projection.WithRetry(1, time.Millisecond, time.Millisecond),
		projection.WithFailureAction(projection.Stop),
	}, opts...)
	// A name of its own per scenario: a checkpoint store shared by several
	// scenarios (one SQL database for a test binary) keeps them apart.
	name := fmt.Sprintf("projectiontest-%s-%d", t.Name(), scenarios.Add(1))
	r, err := projection.New(name, sd, handlers, all...)
	if err != nil {
		t.Fatalf("projectiontest: create the runner: %v", err)
	}
	store := memory.New()
	t.Cleanup(func() { _ = store.Close() })
	return &Scenario{t: t, sd: sd, store: store, runner: r}
}

// Given appends events (values of registered types, as the domain raises
// them) to stream in one append after the stream's earlier events. It
// fails the test when an event cannot be encoded.
func (s *Scenario) Given(stream string, events ...any) *Scenario {
	s.t.Helper()
	return s.GivenWith(stream, eventstore.Metadata{}, events...)
}

// GivenWith is Given with metadata (correlation and causation IDs, user
// keys) on every event, for handlers that read [projection.Meta].
func (s *Scenario) GivenWith(stream string, md eventstore.Metadata, events ...any) *Scenario {
	s.t.Helper()
	if len(events) == 0 {
		s.t.Fatalf("projectiontest: Given(%q) without events", stream)
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	evs := make([]eventstore.Event, len(events))
	for i, v := range events {
		name, data, err := s.sd.Marshal(ctx, v)
		if err != nil {
			s.t.Fatalf("projectiontest: Given(%q): encode event %d (%T): %v", stream, i+1, v, err)
		}
		evs[i] = eventstore.Event{Type: name, Data: data, Metadata: md}
	}
	if _, err := s.store.Append(ctx, stream, eventstore.Any, evs...); err != nil {
		s.t.Fatalf("projectiontest: Given(%q): append: %v", stream, err)
	}
	return s
}

// Run delivers every event given since the last Run to the handlers and
// returns when they have processed them; a handler error (after the
// retries the options allow) fails the test with the event it failed on.
// Use [Scenario.RunErr] to test the failure itself.
func (s *Scenario) Run() *Scenario {
	s.t.Helper()
	if err := s.RunErr(); err != nil {
		s.t.Fatalf("projectiontest: run the projection: %v", err)
	}
	return s
}

// RunErr is Run that returns the runner's error instead of failing the
// test: a *projection.HandlerError naming the event with the default
// failure policy.
func (s *Scenario) RunErr() error {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := s.runner.CatchUp(ctx, projection.FromStore(s.store), nil); err != nil {
		return fmt.Errorf("catch up: %w", err)
	}
	return nil
}

// Then runs check, the assertions on the read model, with the scenario's
// test. It is there for the given/run/then reading order.
func (s *Scenario) Then(check func(t testing.TB)) *Scenario {
	s.t.Helper()
	check(s.t)
	return s
}

// Store returns the in-memory store the given events are in, for tests
// that read them back or append by other means.
func (s *Scenario) Store() eventstore.Store { return s.store }
