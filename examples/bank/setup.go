package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkaconfig"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/eventstore/observe"
	"github.com/kafkaes/kafkaes/examples/bank/account"
	"github.com/kafkaes/kafkaes/examples/internal/metrics"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/avro/avrotest"
	"github.com/kafkaes/kafkaes/snapshot"
	snapkafka "github.com/kafkaes/kafkaes/snapshot/kafka"
)

// config holds the command-line settings.
type config struct {
	// kafkaConfig is a Kafka client.properties file with the TLS and SASL
	// settings of a secured cluster (see package kafkaconfig).
	kafkaConfig    string
	brokers        string
	schemaRegistry string
	topic          string
	// metricsAddr, when set, serves /metrics there; holdMetrics keeps
	// serving after the scenario until the context ends (the command
	// does, tests do not).
	metricsAddr string
	holdMetrics bool
	// hold keeps the program (and the embedded Kafka and registry)
	// running after the scenario until the context ends, for the CLI.
	hold bool
}

// env is what the scenario runs on.
type env struct {
	store     eventstore.Store
	serde     serde.Serde
	snapshots snapshot.Store
	// idSuffix makes account IDs unique per run on a real cluster, where
	// the topic outlives the run; it is empty on the embedded one.
	idSuffix string
	// metrics serves /metrics when -metrics-addr is set; repoOpts carry
	// its observer to the repositories.
	metrics  *metrics.Server
	repoOpts []aggregate.Option
	closers  []func()
	// newClient connects another Kafka client with the same settings (a
	// consumer-group source closes its own).
	newClient func() (sarama.Client, error)
	// brokers, registry and topic are where the events are, for -hold.
	brokers  []string
	registry string
	topic    string
}

func (e *env) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
}

// setup connects to Kafka and the Schema Registry (embedded in-process ones
// unless flags name real services), and opens the event store, the Avro
// serde and the snapshot store.
func setup(ctx context.Context, w io.Writer, cfg config) (_ *env, err error) {
	e := &env{}
	defer func() {
		if err != nil {
			e.close()
		}
	}()

	brokers := strings.Split(cfg.brokers, ",")
	kafkaDesc := "Kafka at " + cfg.brokers
	if cfg.brokers == "" {
		cluster, err := kafkatest.StartEmbedded()
		if err != nil {
			return nil, err
		}
		e.closers = append(e.closers, cluster.Close)
		brokers, kafkaDesc = cluster.Brokers, "embedded in-process Kafka (kfake) at "+strings.Join(cluster.Brokers, ",")
	} else {
		var b [3]byte
		_, _ = rand.Read(b[:])
		e.idSuffix = "-" + hex.EncodeToString(b[:])
	}
	registryURL, registryDesc := cfg.schemaRegistry, "Schema Registry at "+avro.RedactURL(cfg.schemaRegistry)
	if registryURL == "" {
		url, stop := avrotest.StartEmbedded()
		e.closers = append(e.closers, stop)
		registryURL, registryDesc = url, "embedded in-process Schema Registry (srfake) at "+url
	}

	var observer observe.Observer // nil: no metrics
	if cfg.metricsAddr != "" {
		m, err := metrics.Start(cfg.metricsAddr)
		if err != nil {
			return nil, err
		}
		e.closers = append(e.closers, m.Close)
		e.metrics, observer = m, m.Collector
		e.repoOpts = append(e.repoOpts, aggregate.WithObserver(observer))
	}

	sc := sarama.NewConfig()
	sc.Version = sarama.V3_6_0_0
	sc.ClientID = "kafkaes-bank-example"
	sc.Producer.Return.Successes = true // the snapshot store writes synchronously
	sc.Producer.RequiredAcks = sarama.WaitForAll
	if err := applyKafkaConfig(sc, cfg.kafkaConfig); err != nil {
		return nil, err
	}
	client, err := sarama.NewClient(brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("connect to Kafka at %v: %w (is it running? omit -brokers for the embedded one; -kafka-config for TLS/SASL)", brokers, kafkaconfig.Explain(err, brokers, sc))
	}
	e.closers = append(e.closers, func() { _ = client.Close() })
	e.newClient = func() (sarama.Client, error) { return sarama.NewClient(brokers, sc) }

	store, err := kafka.New(ctx, client, cfg.topic, kafka.WithCreateTopic(3, 1), kafka.WithObserver(observer))
	if err != nil {
		return nil, err
	}
	e.store = store
	e.closers = append(e.closers, func() { _ = store.Close() })

	snaps, err := snapkafka.New(ctx, client, cfg.topic+"-snapshots", snapkafka.WithCreateTopic(3, 1))
	if err != nil {
		return nil, err
	}
	e.snapshots = snaps
	e.closers = append(e.closers, func() { _ = snaps.Close() })

	reg := serde.NewRegistry()
	if err := account.Register(reg); err != nil {
		return nil, err
	}
	sd, err := avro.New(ctx, reg, avro.NewClient(registryURL, 10*time.Second), cfg.topic, avro.WithObserver(observer))
	if err != nil {
		return nil, err
	}
	// Register (or, against a production registry, look up) every schema
	// now, so a missing or incompatible schema stops the service at start.
	if err := sd.Prepare(ctx); err != nil {
		return nil, err
	}
	e.serde = sd

	fmt.Fprintf(w, "kafka: %s\nschema registry: %s\nevents topic: %s (Avro values), snapshots topic: %s-snapshots\n",
		kafkaDesc, registryDesc, cfg.topic, cfg.topic)
	if e.metrics != nil {
		fmt.Fprintf(w, "metrics: %s\n", e.metrics.URL)
	}
	e.brokers, e.registry, e.topic = brokers, registryURL, cfg.topic
	return e, nil
}

// applyKafkaConfig applies the security settings of a client.properties
// file (-kafka-config) to cfg; an empty path changes nothing.
func applyKafkaConfig(cfg *sarama.Config, path string) error {
	if path == "" {
		return nil
	}
	p, err := kafkaconfig.ReadProperties(path)
	if err != nil {
		return err
	}
	return p.Apply(cfg)
}
