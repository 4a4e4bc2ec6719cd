// Package otel carries OpenTelemetry trace context with events, so that a
// trace runs from the command that appended an event, through the Kafka
// record, into every projection handler of the event, in this or any other
// language.
//
// The context travels in the event metadata under the keys "traceparent"
// and "tracestate" (W3C Trace Context); the Kafka store writes them as the
// record headers "traceparent" and "tracestate", the names OpenTelemetry's
// Kafka instrumentation uses everywhere (see docs/wire-format.md).
//
// Wire it where a service naturally has the context:
//
//	repo := aggregate.NewRepository(store, sd, newT,
//		aggregate.WithMetadata(otel.Inject))          // command ctx -> event metadata
//	runner, _ := projection.New(name, sd, handlers,
//		projection.WithHandlerContext(otel.ExtractEvent)) // event metadata -> handler ctx
//
// A handler then starts its spans from its ctx and they join the command's
// trace (as children of the command's span, or linked to it if you prefer:
// trace.SpanContextFromContext(ctx) gives the remote parent).
//
// The package uses only the OpenTelemetry API and its propagation package
// (go.opentelemetry.io/otel/trace and /propagation); pick any SDK and
// exporter in the service. It always uses the W3C Trace Context format,
// whatever the global propagator is, because the headers are part of the
// kafkaes wire format; use [MetadataCarrier] with another propagator for
// extra formats (for example baggage).
//
// [SpanEvents] is an observer (see package eventstore/observe) that adds
// what kafkaes did to the span in the context: append, load and handler
// results as span events, with errors recorded on the span.
package otel
