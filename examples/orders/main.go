// Command orders is an e-commerce order service: an order aggregate (place,
// add item, pay, ship, cancel) stored in Kafka through aggregate.Repository,
// and an order-summary read model kept by a projection.
//
//	go run ./examples/orders                         # embedded Kafka, in-memory view
//	go run ./examples/orders -postgres "$KAFKAES_POSTGRES_DSN"   # view + checkpoint in PostgreSQL
//	go run ./examples/orders -brokers 127.0.0.1:9092  # a real Kafka cluster
//	go run ./examples/orders -brokers kafka:9093 -kafka-config client.properties  # TLS/SASL (docs/security.md)
//
// Every command waits (projection.Runner.WaitFor with the positions
// aggregate.Root.Appended reports) until the projection has processed the
// events it wrote, then reads the summary: read-your-writes on an
// eventually consistent view. At the end it rebuilds the view blue/green
// into a fresh one, with progress, and checks both agree.
//
// # Errors
//
// Errors are shown the way we advise services to show them: a rejected
// command prints the domain error Update returned unchanged; if the
// projection stops (a handler that keeps failing, a lost connection),
// WaitFor returns the runner's own error (matching projection.ErrStopped,
// with the failing event's stream, version and position) instead of only
// a deadline, and the runner's warnings go to stderr through its logger.
//
// The projection here uses the default failure action (stop). Retry,
// skip and dead-letter are shown, with output, in the example of
// projection.FailureAction (go test -run ExampleFailureAction -v
// ./projection); the Kafka dead-letter topic (kafkaprojection.NewDLQ) in
// the tests of projection/kafkaprojection (dlq_test.go).
//
// # Looking at the log with the CLI
//
// With -hold the program keeps running after the scenario, and so does the
// embedded Kafka, until Ctrl-C; it prints the broker address (a random
// port on 127.0.0.1) and the commands to inspect the topic, for example:
//
//	go run ./examples/orders -hold
//	…
//	kafkaes --brokers 127.0.0.1:40123 --topic orders-events verify
//	kafkaes --brokers 127.0.0.1:40123 --topic orders-events stream order-1-3f9a2c
//
// (go run ./cmd/kafkaes … in a checkout). Against a real cluster
// (-brokers) the same commands work without -hold.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.brokers, "brokers", "", "comma-separated Kafka bootstrap brokers; empty runs an embedded in-process Kafka")
	flag.StringVar(&cfg.postgres, "postgres", "", "PostgreSQL DSN (postgres://user@host:port/db); the view and its checkpoint go there. Empty keeps the view in memory")
	flag.StringVar(&cfg.topic, "topic", "orders-events", "events topic")
	flag.StringVar(&cfg.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://<addr>/metrics (for example 127.0.0.1:9464) and keep serving after the scenario until Ctrl-C; empty serves none")
	flag.BoolVar(&cfg.hold, "hold", false, "after the scenario keep running (and keep the embedded Kafka up) until Ctrl-C, and print kafkaes CLI commands to inspect the topic")
	flag.StringVar(&cfg.kafkaConfig, "kafka-config", "", "Kafka client.properties file with the TLS/SASL settings of a secured cluster (security.protocol, sasl.mechanism, sasl.jaas.config, ssl.truststore.location with PEM; see docs/security.md)")
	flag.Parse()
	cfg.holdMetrics = true

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "orders:", err)
		os.Exit(1)
	}
}

// run wires everything up, runs the scenario and prints to w.
func run(ctx context.Context, w io.Writer, cfg config) error {
	env, err := setup(ctx, w, cfg)
	if err != nil {
		return err
	}
	defer env.close()
	if err := scenario(ctx, w, env); err != nil {
		return err
	}
	if cfg.hold {
		b := strings.Join(env.brokers, ",")
		fmt.Fprintf(w, "\nKafka stays up at %s until Ctrl-C; inspect the log with the CLI:\n", b)
		fmt.Fprintf(w, "  kafkaes --brokers %s --topic %s topics\n", b, env.topic)
		fmt.Fprintf(w, "  kafkaes --brokers %s --topic %s verify\n", b, env.topic)
		fmt.Fprintf(w, "  kafkaes --brokers %s --topic %s stream order-1%s\n", b, env.topic, env.suffix)
		if env.metrics == nil {
			<-ctx.Done()
		}
	}
	if env.metrics != nil && (cfg.holdMetrics || cfg.hold) {
		env.metrics.Hold(ctx, w)
	}
	return nil
}
