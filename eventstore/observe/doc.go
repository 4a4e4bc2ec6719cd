// Package observe lets the kafkaes components report what they do (appends,
// group-commit transactions, index catch-up, aggregate loads, retries, serde
// and registry calls, projection handlers) to metrics, tracing or logging
// back ends, without making the core packages depend on any of them.
//
// # Design
//
// An observer is a value of a type that embeds [Base] (which makes it an
// [Observer], the type every WithObserver option takes) and implements
// one small interface per kind of report it wants, for example
// [AppendObserver] or [LoadObserver]. Each component type-asserts the
// observer it was given against the interfaces it knows, once, when it is
// constructed (see [Resolve]), and calls only the hooks that are
// implemented. This is the style of franz-go's kgo.Hook and of
// database/sql/driver's optional interfaces, chosen over one big interface
// because:
//
//   - new reports can be added later without breaking existing observers;
//   - a component that has no observer pays one nil check per event (no
//     allocation, no interface call, no time.Now), and one that has an
//     observer pays only for the reports it implements, which the tests
//     prove with testing.AllocsPerRun;
//   - this package imports only the standard library and package
//     eventstore, so every component may import it, and the core packages
//     (eventstore, aggregate, serde, projection, snapshot) never link
//     Prometheus or OpenTelemetry (enforced by internal/depgraph).
//
// Optional interfaces have one weakness: a mistake is silent. The
// [Observer] type closes most of it at compile time (a registry, a logger
// or any other value not built as an observer does not compile), and
// [Check], which every constructor runs, the rest at start-up: an Observe
// method with a wrong signature or a misspelled name, report methods
// declared on the pointer while a value was passed, an observer with no
// report at all. Add `var _ observe.AppendObserver = (*MyObserver)(nil)`
// to have the compiler check a method's signature too.
//
// The package lives under eventstore rather than at the top level because
// the module's top-level packages are fixed (eventstore, aggregate,
// snapshot, serde, projection); its reports start at the event store and
// follow events through the serde, repositories, snapshots and
// projections, all of which import it.
//
// Back ends live in sub-packages: observe/prometheus (a collector that
// implements every hook) and observe/otel (W3C trace context carried in
// event metadata, hence in the Kafka headers "traceparent" and
// "tracestate"). [Logger] is a back end on log/slog. Combine several with
// [Multi].
//
// Hooks are called synchronously on the component's goroutines, some of
// them (batch, index) on the Kafka store's internal workers: they must be
// fast and must not block (update counters, record a span event); they must
// be safe for concurrent use. Reports never carry event payloads. Labels
// a back end derives from them should not include stream IDs (unbounded
// cardinality); they are in the reports for logs and traces.
//
// # Wiring
//
// Give the same observer to every component (Example_wiring in package
// observe/prometheus has this compiled, with its imports):
//
//	col, _ := prometheus.NewCollector(registry)
//	store, _ := kafka.New(ctx, client, topic, kafka.WithObserver(col))
//	sd, _ := avro.New(ctx, reg, avro.NewClient(registryURL, 0), topic, avro.WithObserver(col))
//	repo := aggregate.NewRepository(store, sd, newCart, aggregate.WithObserver(col))
//	runner, _ := projection.New("summary", sd, handlers, projection.WithObserver(col))
package observe
