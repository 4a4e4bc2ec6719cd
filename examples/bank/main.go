// Command bank is the main kafkaes example: an event-sourced bank account
// service that runs a short scripted scenario and prints what happened and
// the resulting event log.
//
//	go run ./examples/bank
//
// With no flags it runs on an embedded in-process Kafka (franz-go's kfake)
// and Schema Registry (srfake): events go to a Kafka topic through the
// Kafka event store, encoded as Avro with schemas registered in the
// registry, and account snapshots go to a compacted topic. Point it at real
// services with -brokers host:port and -schema-registry http://host:port
// (and -kafka-config client.properties for a cluster with TLS or SASL, see
// docs/security.md);
// on a real cluster the account IDs get a per-run suffix, since the topic
// outlives the run.
//
// With -hold the program keeps running after the scenario, with the
// embedded Kafka and Schema Registry, until Ctrl-C, and prints the kafkaes
// commands that inspect its topic (their addresses are random loopback
// ports), for example:
//
//	go run ./examples/bank -hold
//	…
//	kafkaes --brokers 127.0.0.1:40123 --schema-registry http://127.0.0.1:40125 --topic bank-events stream acc-alice
//
// stream decodes the Avro events with the registry and shows decimals and
// timestamps as a person reads them.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/kafkaes/kafkaes/serde/avro"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.brokers, "brokers", "", "comma-separated Kafka bootstrap brokers (host:port); empty runs an embedded in-process Kafka")
	flag.StringVar(&cfg.schemaRegistry, "schema-registry", "", "Schema Registry URL; empty runs an embedded in-process registry")
	flag.StringVar(&cfg.topic, "topic", "bank-events", "events topic")
	flag.StringVar(&cfg.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://<addr>/metrics (for example 127.0.0.1:9464) and keep serving after the scenario until Ctrl-C; empty serves none")
	flag.BoolVar(&cfg.hold, "hold", false, "after the scenario keep running (and keep the embedded Kafka and Schema Registry up) until Ctrl-C, and print kafkaes CLI commands to inspect the topic")
	flag.StringVar(&cfg.kafkaConfig, "kafka-config", "", "Kafka client.properties file with the TLS/SASL settings of a secured cluster (security.protocol, sasl.mechanism, sasl.jaas.config, ssl.truststore.location with PEM; see docs/security.md)")
	flag.Parse()
	cfg.holdMetrics = true

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bank:", err)
		os.Exit(1)
	}
}

// run sets up the store and serde, runs the scenario and prints to w.
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
		cli := fmt.Sprintf("kafkaes --brokers %s --schema-registry %s --topic %s", b, avro.RedactURL(env.registry), env.topic)
		fmt.Fprintf(w, "\nKafka (%s) and the Schema Registry stay up until Ctrl-C; inspect the log with the CLI:\n", b)
		fmt.Fprintf(w, "  %s verify\n  %s stream acc-alice%s\n  kafkaes --brokers %s topics\n", cli, cli, env.idSuffix, b)
		if env.metrics == nil {
			<-ctx.Done()
		}
	}
	if env.metrics != nil && (cfg.holdMetrics || cfg.hold) {
		env.metrics.Hold(ctx, w)
	}
	return nil
}
