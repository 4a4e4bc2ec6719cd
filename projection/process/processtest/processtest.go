// Package processtest tests process managers (package projection/process)
// in given/when/then form, on a memory store: given the events that
// already happened, when an event arrives, then the manager's handlers
// appended these events to these streams (or failed with this error, or
// did nothing).
//
//	func TestPaymentCompletesOrder(t *testing.T) {
//		processtest.New(t, sd, handlers).
//			Given("order-1", OrderPlaced{Total: 30}).
//			When("payment-9", PaymentReceived{Order: "order-1", Amount: 30}).
//			Then("order-1", OrderPaid{Payment: "payment-9"})
//	}
//
// handlers is a function that builds the manager's handlers for a store
// (they hold repositories bound to it). Events are stored with the serde,
// so the test also proves that they encode and decode. Appended events are
// compared by value, in order, with a readable diff on mismatch; errors
// with errors.Is. A failed expectation is reported with t.Errorf, so one
// test can check several scenarios.
package processtest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/projection/process"
	"github.com/kafkaes/kafkaes/serde"
)

// Scenario is one given/when/then test of a process manager. Create it
// with [New]; the methods return the scenario so that calls chain.
type Scenario struct {
	t     testing.TB
	store *memory.Store
	sd    serde.Serde
	m     *process.Manager
	mark  int // the log's length before When
	ran   bool
	err   error
}

// New starts a scenario for the process manager whose handlers handlers
// builds on a fresh memory store, decoding and encoding events with sd.
func New(t testing.TB, sd serde.Serde, handlers func(store eventstore.Store) []process.Handler) *Scenario {
	t.Helper()
	store := memory.New()
	m, err := process.New("processtest", sd, process.NewMemoryCommitter(store), handlers(store))
	if err != nil {
		t.Fatalf("processtest: %v", err)
	}
	return &Scenario{t: t, store: store, sd: sd, m: m}
}

// Store returns the scenario's store, for checks the helpers do not cover.
func (s *Scenario) Store() *memory.Store { return s.store }

// Given appends events to stream as history: they are in the store, but
// the manager does not process them.
func (s *Scenario) Given(stream string, events ...any) *Scenario {
	s.t.Helper()
	for _, e := range events {
		s.append(stream, e)
	}
	return s
}

// When appends event to stream and has the manager process it.
func (s *Scenario) When(stream string, event any) *Scenario {
	s.t.Helper()
	rec := s.append(stream, event)
	s.mark = s.store.Len()
	s.ran = true
	s.err = s.m.Handle(context.Background(), rec)
	return s
}

// Then checks that the handlers appended exactly events to stream (in
// order), and nothing to other streams when no other Then names them.
func (s *Scenario) Then(stream string, events ...any) *Scenario {
	s.t.Helper()
	if !s.ran {
		s.t.Errorf("processtest: Then without When")
		return s
	}
	if s.err != nil {
		s.t.Errorf("processtest: the manager failed: %v; want events %v on %q", s.err, events, stream)
		return s
	}
	got := s.appended()[stream]
	if len(events) == 0 {
		events = nil
	}
	assert.Equal(s.t, events, got, "events appended to %q", stream)
	return s
}

// ThenNothing checks that the handlers appended nothing.
func (s *Scenario) ThenNothing() {
	s.t.Helper()
	if s.err != nil {
		s.t.Errorf("processtest: the manager failed: %v; want no events", s.err)
		return
	}
	if got := s.appended(); len(got) > 0 {
		s.t.Errorf("processtest: want no events, the handlers appended %v", got)
	}
}

// ThenError checks that the manager failed with an error matching target
// (errors.Is), and appended nothing.
func (s *Scenario) ThenError(target error) {
	s.t.Helper()
	switch {
	case s.err == nil:
		s.t.Errorf("processtest: want an error matching %v, the manager succeeded and appended %v", target, s.appended())
	case !errors.Is(s.err, target):
		s.t.Errorf("processtest: want an error matching %v, got %v", target, s.err)
	case len(s.appended()) > 0:
		s.t.Errorf("processtest: the manager failed but appended %v", s.appended())
	}
}

// append stores event at the end of stream and returns it as recorded.
func (s *Scenario) append(stream string, event any) eventstore.RecordedEvent {
	s.t.Helper()
	ctx := context.Background()
	name, data, err := s.sd.Marshal(ctx, event)
	if err != nil {
		s.t.Fatalf("processtest: encode %T: %v", event, err)
	}
	res, err := s.store.Append(ctx, stream, eventstore.Any, eventstore.Event{Type: name, Data: data})
	if err != nil {
		s.t.Fatalf("processtest: append to %q: %v", stream, err)
	}
	for rec, err := range s.store.ReadStream(ctx, stream, res.Version) {
		if err != nil {
			s.t.Fatalf("processtest: read %q: %v", stream, err)
		}
		return rec
	}
	panic("unreachable")
}

// appended decodes the events appended after When, by stream.
func (s *Scenario) appended() map[string][]any {
	s.t.Helper()
	out := map[string][]any{}
	n := 0
	for rec, err := range s.store.ReadAll(context.Background(), nil) {
		if err != nil {
			s.t.Fatalf("processtest: read the log: %v", err)
		}
		n++
		if n <= s.mark {
			continue
		}
		v, err := s.sd.Unmarshal(context.Background(), rec.Type, rec.Data)
		if err != nil {
			v = fmt.Sprintf("undecodable %s: %v", rec.Type, err)
		}
		out[rec.StreamID] = append(out[rec.StreamID], deref(v))
	}
	return out
}

func deref(v any) any {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && !rv.IsNil() {
		return rv.Elem().Interface()
	}
	return v
}
