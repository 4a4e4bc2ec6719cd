package observe_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/observe"
)

const piiID = "ada@example.com"

// TestRedactStreamsLogObserver: the log observer wrapped in RedactStreams
// writes the pseudonym, not the stream ID, also inside error texts, and
// the errors it passes on still match.
func TestRedactStreamsLogObserver(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pseudo := observe.HashStream("s")(piiID)
	conflict := fmt.Errorf("append to stream %q: %w", piiID, eventstore.ErrConcurrencyConflict)
	report := func(o observe.Observer) {
		h := observe.Resolve(o)
		h.Append.ObserveAppend(context.Background(), observe.Append{Topic: "t", Stream: piiID, Err: errors.New("stream " + piiID + " broke")})
		h.Load.ObserveLoad(context.Background(), observe.Load{Aggregate: "A", Stream: piiID, Err: conflict})
		h.Failure.ObserveFailure(context.Background(), observe.Failure{Projection: "p", Stream: piiID, Err: conflict})
		h.Snapshot.ObserveSnapshotWrite(context.Background(), observe.SnapshotWrite{Stream: piiID, Err: conflict})
	}
	report(observe.Logger(l))
	if !strings.Contains(buf.String(), piiID) {
		t.Fatalf("the plain log observer should show the ID: %s", buf.String())
	}
	buf.Reset()
	var seen []error
	rec := observe.Multi(observe.Logger(l), recordErrs{errs: &seen})
	report(observe.RedactStreams(rec, observe.HashStream("s")))
	if strings.Contains(buf.String(), piiID) || !strings.Contains(buf.String(), pseudo) {
		t.Errorf("redacted logs show the ID or lack the pseudonym %s:\n%s", pseudo, buf.String())
	}
	if len(seen) == 0 || !errors.Is(seen[0], eventstore.ErrConcurrencyConflict) {
		t.Errorf("the redacted error no longer matches: %v", seen)
	}
}

type recordErrs struct {
	observe.Base
	errs *[]error
}

func (r recordErrs) ObserveLoad(_ context.Context, l observe.Load) { *r.errs = append(*r.errs, l.Err) }

// TestRedactStreamsHandler: a logger on RedactStreamsHandler replaces the
// "stream" attribute and the ID's occurrences in the message and other
// attributes.
func TestRedactStreamsHandler(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(observe.RedactStreamsHandler(slog.NewJSONHandler(&buf, nil), observe.HashStream("s")))
	l.Warn("retrying "+piiID, "stream", piiID, "error", fmt.Errorf("load %q: %w", piiID, eventstore.ErrConcurrencyConflict), "note", "for "+piiID, "n", 3)
	l.With("stream", piiID).Info("bound")
	out := buf.String()
	if strings.Contains(out, piiID) || strings.Count(out, observe.HashStream("s")(piiID)) < 5 || !strings.Contains(out, `"n":3`) {
		t.Errorf("handler output:\n%s", out)
	}
	if observe.HashStream("s")(piiID) == observe.HashStream("t")(piiID) || observe.HashStream("s")("") != "" {
		t.Error("HashStream ignores the salt or hashes the empty ID")
	}
}
