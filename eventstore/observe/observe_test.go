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

type appends struct{ n *int }

func (a appends) ObserveAppend(context.Context, observe.Append) { *a.n++ }

type loads struct{ n *int }

func (l loads) ObserveLoad(context.Context, observe.Load) { *l.n++ }

func TestResolve(t *testing.T) {
	if observe.Resolve(nil).Any() || observe.Resolve(struct{}{}).Any() {
		t.Fatal("nil or a plain value resolved to hooks")
	}
	var n int
	h := observe.Resolve(appends{&n})
	if h.Append == nil || h.Load != nil || h.Batch != nil || !h.Any() {
		t.Fatalf("hooks %+v", h)
	}
}

func TestMulti(t *testing.T) {
	var a1, a2, l int
	if observe.Multi() != nil || observe.Multi(nil, nil) != nil {
		t.Fatal("Multi of nothing is not nil")
	}
	single := appends{&a1}
	if observe.Multi(nil, single) != any(single) {
		t.Fatal("Multi of one observer does not return it")
	}
	h := observe.Resolve(observe.Multi(appends{&a1}, appends{&a2}, loads{&l}, nil))
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
