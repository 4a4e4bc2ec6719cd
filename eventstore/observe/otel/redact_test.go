package otel_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/kafkaes/kafkaes/eventstore/observe"
	"github.com/kafkaes/kafkaes/eventstore/observe/otel"
)

// TestSpanEventsWithoutStreamIDs: wrapped in observe.RedactStreams, the
// span events carry the pseudonym, never the stream ID, in attributes and
// recorded errors; unwrapped they carry the ID (so the test can fail).
func TestSpanEventsWithoutStreamIDs(t *testing.T) {
	const id = "ada@example.com"
	pseudo := observe.HashStream("salt")(id)
	spanText := func(obs observe.Observer) string {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		defer func() { _ = tp.Shutdown(context.Background()) }()
		ctx, span := tp.Tracer("test").Start(context.Background(), "cmd")
		o := observe.Resolve(obs)
		o.Append.ObserveAppend(ctx, observe.Append{Topic: "t", Stream: id, Events: 1,
			Err: fmt.Errorf("kafka: append to stream %q: %w", id, errors.New("boom"))})
		o.Load.ObserveLoad(ctx, observe.Load{Aggregate: "Account", Stream: id})
		o.Handled.ObserveHandled(ctx, observe.Handled{Projection: "p", Stream: id})
		span.End()
		var b strings.Builder
		for _, ev := range rec.Ended()[0].Events() {
			b.WriteString(ev.Name + ":")
			for _, a := range ev.Attributes {
				fmt.Fprintf(&b, "%s=%s;", a.Key, a.Value.String())
			}
		}
		return b.String()
	}
	if plain := spanText(otel.SpanEvents()); !strings.Contains(plain, id) {
		t.Fatalf("the unwrapped observer should show the stream ID: %s", plain)
	}
	red := spanText(observe.RedactStreams(otel.SpanEvents(), observe.HashStream("salt")))
	if strings.Contains(red, id) || !strings.Contains(red, "kafkaes.stream="+pseudo) || !strings.Contains(red, "exception") {
		t.Errorf("redacted span events show the stream ID, or lack the pseudonym %s or the error: %s", pseudo, red)
	}
}
