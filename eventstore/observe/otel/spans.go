package otel

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/kafkaes/kafkaes/eventstore/observe"
)

// SpanEvents returns an observer that annotates the recording span of the
// context it is called with (the caller's span, for example the request
// that runs a command, or the span a projection handler's ctx carries):
// appends, aggregate loads, Update retries and projection handler runs
// become span events with their attributes, and their errors are
// recorded on the span. It creates no spans and costs nothing when the
// context has no recording span. Combine it with other observers with
// observe.Multi.
func SpanEvents() observe.Observer { return spanEvents{} }

type spanEvents struct{ observe.Base }

func recording(ctx context.Context) trace.Span {
	if s := trace.SpanFromContext(ctx); s.IsRecording() {
		return s
	}
	return nil
}

func (spanEvents) ObserveAppend(ctx context.Context, a observe.Append) {
	s := recording(ctx)
	if s == nil {
		return
	}
	attrs := []attribute.KeyValue{
		attribute.String("kafkaes.topic", a.Topic), attribute.String("kafkaes.stream", a.Stream),
		attribute.Int("kafkaes.events", a.Events), attribute.Int64("kafkaes.duration_us", a.Duration.Microseconds()),
		attribute.Bool("kafkaes.conflict", a.Conflict),
	}
	s.AddEvent("kafkaes.append", trace.WithAttributes(attrs...))
	if a.Err != nil && !a.Conflict {
		s.RecordError(a.Err)
		s.SetStatus(codes.Error, "kafkaes append failed")
	}
}

func (spanEvents) ObserveLoad(ctx context.Context, l observe.Load) {
	s := recording(ctx)
	if s == nil {
		return
	}
	s.AddEvent("kafkaes.load", trace.WithAttributes(
		attribute.String("kafkaes.aggregate", l.Aggregate), attribute.String("kafkaes.stream", l.Stream),
		attribute.Int("kafkaes.events", l.Events), attribute.String("kafkaes.snapshot", l.Snapshot.String()),
		attribute.Int64("kafkaes.duration_us", l.Duration.Microseconds())))
	if l.Err != nil {
		s.RecordError(l.Err)
	}
}

func (spanEvents) ObserveRetry(ctx context.Context, r observe.Retry) {
	if s := recording(ctx); s != nil {
		s.AddEvent("kafkaes.retry", trace.WithAttributes(
			attribute.String("kafkaes.aggregate", r.Aggregate), attribute.String("kafkaes.stream", r.Stream),
			attribute.Int("kafkaes.attempt", r.Attempt)))
	}
}

func (spanEvents) ObserveHandled(ctx context.Context, h observe.Handled) {
	s := recording(ctx)
	if s == nil {
		return
	}
	s.AddEvent("kafkaes.handled", trace.WithAttributes(
		attribute.String("kafkaes.projection", h.Projection), attribute.String("kafkaes.type", h.Type),
		attribute.String("kafkaes.stream", h.Stream), attribute.Int("kafkaes.partition", int(h.Partition)),
		attribute.Int64("kafkaes.offset", h.Offset), attribute.Int64("kafkaes.duration_us", h.Duration.Microseconds())))
	if h.Err != nil {
		s.RecordError(h.Err)
	}
}
