// Package prometheus is an observer (see package eventstore/observe) that
// turns the reports of the kafkaes components into Prometheus metrics,
// with github.com/prometheus/client_golang.
//
// Create one [Collector] on your registry and give it to every component:
//
//	col, err := prometheus.NewCollector(registry)
//	store, err := kafka.New(ctx, client, "events", kafka.WithObserver(col))
//	repo := aggregate.NewRepository(store, sd, newT, aggregate.WithObserver(col))
//	sd, err := avro.New(ctx, reg, client, topic, avro.WithObserver(col))
//	runner, err := projection.New(name, sd, handlers, projection.WithObserver(col))
//
// and serve the registry with promhttp.HandlerFor. Every metric name starts
// with "kafkaes_". Labels are bounded: topic, partition, aggregate type,
// projection name, event type (only on error counters), operation and
// result; never stream or event IDs, whose number is unbounded. Latencies
// are histograms in seconds; batch sizes and events per load are
// histograms too. docs/observability.md lists every metric with a PromQL
// query for a dashboard.
package prometheus
