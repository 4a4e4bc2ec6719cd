// Command healthcare is the kafkaes example for personal data: a hospital
// service whose patients are admitted, treated and discharged, and one of
// whom then exercises the right to erasure (GDPR article 17).
//
//	go run ./examples/healthcare
//
// The patients' names, dates of birth and clinical notes are personal data:
// the Avro serde encrypts them with a key of each patient's own before they
// reach Kafka, so the events topic never holds them in plaintext. Erasing a
// patient deletes the key. The patient's events stay in the log (the
// admissions, treatments and wards, for statistics and audits), but their
// personal fields can no longer be read by anyone: a load of the aggregate
// and the ward-board projection show that patient as redacted, while every
// other patient is intact.
//
// With no flags it runs on an embedded in-process Kafka (franz-go's kfake)
// and Schema Registry (srfake). Point it at real services with -brokers
// host:port and -schema-registry http://host:port (and -kafka-config
// client.properties for a secured cluster, see docs/security.md); on a real
// cluster the patient IDs get a per-run suffix, since the topics outlive
// the run.
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
	flag.StringVar(&cfg.brokers, "brokers", "", "comma-separated Kafka bootstrap brokers (host:port); empty runs an embedded in-process Kafka")
	flag.StringVar(&cfg.schemaRegistry, "schema-registry", "", "Schema Registry URL; empty runs an embedded in-process registry")
	flag.StringVar(&cfg.topic, "topic", "healthcare-events", "events topic (the keys go to <topic>-keys)")
	flag.StringVar(&cfg.kafkaConfig, "kafka-config", "", "Kafka client.properties file with the TLS/SASL settings of a secured cluster (see docs/security.md)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "healthcare:", err)
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
	return scenario(ctx, w, env)
}
