package projection_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/observe"
	"github.com/kafkaes/kafkaes/projection"
)

type projRecorder struct {
	observe.Base
	handled  []observe.Handled
	failures []observe.Failure
}

func (r *projRecorder) ObserveHandled(_ context.Context, h observe.Handled) {
	r.handled = append(r.handled, h)
}

func (r *projRecorder) ObserveFailure(_ context.Context, f observe.Failure) {
	r.failures = append(r.failures, f)
}

type noopHandled struct{ observe.Base }

func (noopHandled) ObserveHandled(context.Context, observe.Handled) {}

type ctxKey struct{}

func record(stream string, version, offset int64) projection.Record {
	return projection.Record{Event: eventstore.RecordedEvent{
		Event:    eventstore.Event{ID: "id", Type: "test.Deposited", Data: []byte(`{"amount":1}`), Metadata: eventstore.Metadata{Values: map[string]string{"who": stream}}},
		StreamID: stream, Version: version, Position: eventstore.Position{Partition: 0, Offset: offset},
	}}
}

// TestObserverAndHandlerContext: every handler run is reported (failed
// attempts too), a skipped event is reported as a failure, and handlers
// get the context WithHandlerContext derives from the event.
func TestObserverAndHandlerContext(t *testing.T) {
	rec := &projRecorder{}
	var got []string
	r, err := projection.New("obs", testSerde(t), []projection.Handler{
		projection.On(func(ctx context.Context, ev Deposited, m projection.Meta) error {
			got = append(got, ctx.Value(ctxKey{}).(string))
			if m.StreamID == "bad" {
				return projection.Permanent(errors.New("no"))
			}
			return nil
		}),
	}, projection.WithObserver(rec), projection.WithFailureAction(projection.Skip), projection.WithLogger(slog.New(slog.DiscardHandler)),
		projection.WithHandlerContext(func(ctx context.Context, ev eventstore.RecordedEvent) context.Context {
			return context.WithValue(ctx, ctxKey{}, ev.Metadata.Values["who"])
		}))
	if err != nil {
		t.Fatal(err)
	}
	recs := []projection.Record{record("good", 1, 0), record("bad", 1, 1)}
	if n, err := projection.SinkOf(r).Deliver(context.Background(), recs); err != nil || n != 2 {
		t.Fatalf("deliver: %d, %v", n, err)
	}
	if len(got) != 2 || got[0] != "good" || got[1] != "bad" {
		t.Fatalf("handler contexts carried %v", got)
	}
	if len(rec.handled) != 2 || rec.handled[0].Err != nil || rec.handled[1].Err == nil ||
		rec.handled[1].Projection != "obs" || rec.handled[1].Offset != 1 || rec.handled[1].Type != "test.Deposited" {
		t.Fatalf("handled %+v", rec.handled)
	}
	if len(rec.failures) != 1 || rec.failures[0].Action != "skip" || rec.failures[0].Stream != "bad" {
		t.Fatalf("failures %+v", rec.failures)
	}
}

// TestNoObserverAllocatesNothingExtra: delivering an event allocates the
// same without an observer, with one that implements no hook and with a
// no-op one: reports cost no allocation.
func TestNoObserverAllocatesNothingExtra(t *testing.T) {
	allocs := func(opts ...projection.Option) float64 {
		r, err := projection.New("allocs", testSerde(t), []projection.Handler{
			projection.On(func(context.Context, Deposited, projection.Meta) error { return nil }),
		}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		off := int64(0)
		return testing.AllocsPerRun(200, func() {
			recs := []projection.Record{record("s", off+1, off)}
			off++
			if _, err := projection.SinkOf(r).Deliver(context.Background(), recs); err != nil {
				t.Fatal(err)
			}
		})
	}
	none := allocs()
	noop := allocs(projection.WithObserver(noopHandled{}))
	t.Logf("allocs per event: no observer %.1f, no-op observer %.1f", none, noop)
	if noop != none {
		t.Errorf("observation changes allocations per event: none %.1f, no-op %.1f", none, noop)
	}
}

// An observer that would miss reports is refused by New.
func TestObserverChecked(t *testing.T) {
	h := projection.On(func(context.Context, Deposited, projection.Meta) error { return nil })
	_, err := projection.New("obs", testSerde(t), []projection.Handler{h}, projection.WithObserver(observe.Base{}))
	if !errors.Is(err, observe.ErrObserver) {
		t.Fatalf("New with an observer of no report: %v", err)
	}
}
