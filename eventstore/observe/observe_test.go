package observe_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/observe"
)

type appends struct {
	observe.Base
	n *int
}

func (a appends) ObserveAppend(context.Context, observe.Append) { *a.n++ }

type loads struct {
	observe.Base
	n *int
}

func (l loads) ObserveLoad(context.Context, observe.Load) { *l.n++ }

func TestResolve(t *testing.T) {
	if observe.Resolve(nil).Any() || observe.Resolve(observe.Base{}).Any() {
		t.Fatal("nil or a bare Base resolved to hooks")
	}
	var n int
	h := observe.Resolve(appends{n: &n})
	if h.Append == nil || h.Load != nil || h.Batch != nil || !h.Any() {
		t.Fatalf("hooks %+v", h)
	}
}

func TestMulti(t *testing.T) {
	var a1, a2, l int
	if observe.Multi() != nil || observe.Multi(nil, nil) != nil {
		t.Fatal("Multi of nothing is not nil")
	}
	single := appends{n: &a1}
	if observe.Multi(nil, single) != any(single) {
		t.Fatal("Multi of one observer does not return it")
	}
	h := observe.Resolve(observe.Multi(appends{n: &a1}, appends{n: &a2}, loads{n: &l}, nil))
	h.Append.ObserveAppend(context.Background(), observe.Append{})
	h.Load.ObserveLoad(context.Background(), observe.Load{})
	h.Handled.ObserveHandled(context.Background(), observe.Handled{}) // nobody wants it: no-op
	if a1 != 1 || a2 != 1 || l != 1 {
		t.Fatalf("fan-out: appends %d %d, loads %d", a1, a2, l)
	}
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	h := observe.Resolve(observe.Logger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	ctx := context.Background()
	h.Append.ObserveAppend(ctx, observe.Append{Topic: "events", Stream: "acc-1"}) // success: silent
	h.Append.ObserveAppend(ctx, observe.Append{Topic: "events", Stream: "acc-2", Err: eventstore.ErrConcurrencyConflict, Conflict: true})
	h.Append.ObserveAppend(ctx, observe.Append{Topic: "events", Stream: "acc-3", Err: errors.New("broker down")})
	h.Failure.ObserveFailure(ctx, observe.Failure{Projection: "p", Action: "dead_letter", Stream: "s", Partition: 2, Offset: 9, Err: errors.New("bad")})
	out := buf.String()
	for _, want := range []string{
		"level=DEBUG msg=\"kafkaes: append conflict\" topic=events stream=acc-2",
		"level=WARN msg=\"kafkaes: append failed\" topic=events stream=acc-3",
		"action=dead_letter type=\"\" stream=s partition=2 offset=9",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "acc-1") {
		t.Errorf("a successful append was logged:\n%s", out)
	}
}

func TestSnapshotOutcomeString(t *testing.T) {
	want := map[observe.SnapshotOutcome]string{observe.SnapshotNone: "none", observe.SnapshotHit: "hit", observe.SnapshotMiss: "miss",
		observe.SnapshotIgnored: "ignored", observe.SnapshotError: "error"}
	for o, s := range want {
		if o.String() != s {
			t.Errorf("%d.String() = %q, want %q", o, o.String(), s)
		}
	}
}

func TestBatchCommitted(t *testing.T) {
	if !(observe.Batch{Succeeded: 2, Failed: 1}).Committed() || (observe.Batch{Succeeded: 2, Retried: 1}).Committed() || (observe.Batch{Failed: 1}).Committed() {
		t.Fatal("Committed")
	}
}

// Mistakes the compiler cannot see are found by Check, which every
// constructor taking WithObserver runs.
type wrongSignature struct{ observe.Base }

func (wrongSignature) ObserveAppend(a observe.Append) {} // no context: never called

type typo struct{ observe.Base }

func (typo) ObserveAppends(context.Context, observe.Append) {}

type onPointer struct{ observe.Base }

func (*onPointer) ObserveLoad(context.Context, observe.Load) {}

func TestCheck(t *testing.T) {
	var n int
	for _, ok := range []observe.Observer{nil, appends{n: &n}, &onPointer{}, observe.Logger(nil),
		observe.Multi(appends{n: &n}, loads{n: &n}), observe.RedactStreams(loads{n: &n}, observe.HashStream("s"))} {
		if err := observe.Check(ok); err != nil {
			t.Errorf("Check(%T) = %v", ok, err)
		}
	}
	for _, tc := range []struct {
		o    observe.Observer
		want string
	}{
		{wrongSignature{}, "method ObserveAppend has type (observe.Append), but observe.AppendObserver needs (context.Context, observe.Append)"},
		{typo{}, "method ObserveAppends is no report"},
		{onPointer{}, "ObserveLoad is declared on *observe_test.onPointer; pass a pointer"},
		{observe.Base{}, "implements no report interface"},
		{observe.Multi(appends{n: &n}, typo{}), "ObserveAppends"},
		{observe.RedactStreams(wrongSignature{}, observe.HashStream("s")), "ObserveAppend has type"},
	} {
		err := observe.Check(tc.o)
		if !errors.Is(err, observe.ErrObserver) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%T) = %v, want ErrObserver with %q", tc.o, err, tc.want)
		}
	}
}
