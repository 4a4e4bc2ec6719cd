package otel

import (
	"context"

	"go.opentelemetry.io/otel/propagation"

	"github.com/kafkaes/kafkaes/eventstore"
)

// Metadata keys of the W3C Trace Context.
const (
	KeyTraceparent = "traceparent"
	KeyTracestate  = "tracestate"
)

// MetadataCarrier adapts event metadata to a propagation.TextMapCarrier:
// Get reads md.Values, Set writes them (allocating the map when nil).
type MetadataCarrier struct{ MD *eventstore.Metadata }

var _ propagation.TextMapCarrier = MetadataCarrier{}

// Get returns the value of key, "" if absent.
func (c MetadataCarrier) Get(key string) string {
	if c.MD == nil {
		return ""
	}
	return c.MD.Values[key]
}

// Set stores key = value in the metadata.
func (c MetadataCarrier) Set(key, value string) {
	if c.MD.Values == nil {
		c.MD.Values = map[string]string{}
	}
	c.MD.Values[key] = value
}

// Keys lists the metadata keys.
func (c MetadataCarrier) Keys() []string {
	if c.MD == nil {
		return nil
	}
	keys := make([]string, 0, len(c.MD.Values))
	for k := range c.MD.Values {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes the span context of ctx (if it has a valid one) into md as
// the "traceparent" and "tracestate" values. Without a valid span context it
// leaves md unchanged. Its signature fits aggregate.WithMetadata; call it
// yourself on events you append to a store directly.
func Inject(ctx context.Context, md *eventstore.Metadata) {
	if md == nil {
		return
	}
	propagation.TraceContext{}.Inject(ctx, MetadataCarrier{MD: md})
}

// Extract returns ctx with the remote span context carried in md (see
// [Inject]) as its parent; ctx unchanged when md carries none or an invalid
// one.
func Extract(ctx context.Context, md eventstore.Metadata) context.Context {
	if md.Values[KeyTraceparent] == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, MetadataCarrier{MD: &md})
}

// ExtractEvent is [Extract] on the metadata of a recorded event; its
// signature fits projection.WithHandlerContext.
func ExtractEvent(ctx context.Context, ev eventstore.RecordedEvent) context.Context {
	return Extract(ctx, ev.Metadata)
}
