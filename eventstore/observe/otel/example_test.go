package otel_test

import (
	"context"
	"fmt"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/observe/otel"
)

// Inject puts the command's trace into the event metadata (the Kafka store
// writes it as the header "traceparent"); Extract gives a handler a context
// in the same trace. Usually they are wired as aggregate.WithMetadata(otel.Inject)
// and projection.WithHandlerContext(otel.ExtractEvent).
func Example() {
	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(context.Background()) }()
	ctx, span := tp.Tracer("orders").Start(context.Background(), "place order")
	defer span.End()

	var md eventstore.Metadata
	otel.Inject(ctx, &md)
	fmt.Println("traceparent set:", len(md.Values[otel.KeyTraceparent]) == 55)

	handlerCtx := otel.Extract(context.Background(), md)
	sc := trace.SpanContextFromContext(handlerCtx)
	fmt.Println("same trace:", sc.TraceID() == span.SpanContext().TraceID(), "remote:", sc.IsRemote())
	// Output:
	// traceparent set: true
	// same trace: true remote: true
}
