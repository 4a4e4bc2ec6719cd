// Command orders is an e-commerce order service: an order aggregate (place,
// add item, pay, ship, cancel) stored in Kafka through aggregate.Repository,
// and an order-summary read model kept by a projection.
//
//	go run ./examples/orders                         # embedded Kafka, in-memory view
//	go run ./examples/orders -postgres "$KAFKAES_POSTGRES_DSN"   # view + checkpoint in PostgreSQL
//	go run ./examples/orders -brokers 127.0.0.1:9092  # a real Kafka cluster
//
// Every command waits (projection.Runner.WaitFor) until the projection has
// processed the events it wrote, then reads the summary: read-your-writes
// on an eventually consistent view. At the end it rebuilds the view
// blue/green into a fresh one, with progress, and checks both agree.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.brokers, "brokers", "", "comma-separated Kafka bootstrap brokers; empty runs an embedded in-process Kafka")
	flag.StringVar(&cfg.postgres, "postgres", "", "PostgreSQL DSN (postgres://user@host:port/db); the view and its checkpoint go there. Empty keeps the view in memory")
	flag.StringVar(&cfg.topic, "topic", "orders-events", "events topic")
	flag.StringVar(&cfg.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://<addr>/metrics (for example 127.0.0.1:9464) and keep serving after the scenario until Ctrl-C; empty serves none")
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
	if env.metrics != nil && cfg.holdMetrics {
		env.metrics.Hold(ctx, w)
	}
	return nil
}
