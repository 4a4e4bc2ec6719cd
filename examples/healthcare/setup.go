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

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkaconfig"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/examples/healthcare/patient"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/avro/avrotest"
	"github.com/kafkaes/kafkaes/serde/pii"
	"github.com/kafkaes/kafkaes/serde/pii/erasure"
	"github.com/kafkaes/kafkaes/serde/pii/kafkakeys"
)

// config holds the command-line settings.
type config struct {
	kafkaConfig    string
	brokers        string
	schemaRegistry string
	topic          string
}

// env is what the scenario runs on.
type env struct {
	store  eventstore.Store
	serde  serde.Serde
	client sarama.Client
	// keys holds one AES-256 key per patient, in the compacted topic
	// <topic>.pii-keys; eraser deletes a patient's key and tells the
	// projections.
	keys   *kafkakeys.Store
	eraser *erasure.Eraser
	// idSuffix makes patient IDs unique per run on a real cluster, where
	// the topics outlive the run; it is empty on the embedded one.
	idSuffix string
	brokers  []string
	topic    string
	closers  []func()
}

func (e *env) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
}

// setup connects to Kafka and the Schema Registry (embedded in-process ones
// unless flags name real services), and opens the event store and the Avro
// serde.
func setup(ctx context.Context, w io.Writer, cfg config) (_ *env, err error) {
	e := &env{topic: cfg.topic}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	e.brokers = strings.Split(cfg.brokers, ",")
	kafkaDesc := "Kafka at " + cfg.brokers
	if cfg.brokers == "" {
		cluster, err := kafkatest.StartEmbedded()
		if err != nil {
			return nil, err
		}
		e.closers = append(e.closers, cluster.Close)
		e.brokers, kafkaDesc = cluster.Brokers, "embedded in-process Kafka (kfake) at "+strings.Join(cluster.Brokers, ",")
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

	sc := sarama.NewConfig()
	sc.Version = sarama.V3_6_0_0
	sc.ClientID = "kafkaes-healthcare-example"
	if cfg.kafkaConfig != "" {
		p, err := kafkaconfig.ReadProperties(cfg.kafkaConfig)
		if err != nil {
			return nil, err
		}
		if err := p.Apply(sc); err != nil {
			return nil, err
		}
	}
	client, err := sarama.NewClient(e.brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("connect to Kafka at %v: %w (is it running? omit -brokers for the embedded one; -kafka-config for TLS/SASL)", e.brokers, kafkaconfig.Explain(err, e.brokers, sc))
	}
	e.client = client
	e.closers = append(e.closers, func() { _ = client.Close() })

	store, err := kafka.New(ctx, client, cfg.topic, kafka.WithCreateTopic(3, 1))
	if err != nil {
		return nil, err
	}
	e.store = store
	e.closers = append(e.closers, func() { _ = store.Close() })

	keys, err := kafkakeys.New(ctx, client, kafkakeys.DefaultTopic(cfg.topic))
	if err != nil {
		return nil, err
	}
	e.keys = keys
	e.closers = append(e.closers, func() { _ = keys.Close() })

	reg := serde.NewRegistry()
	if err := patient.Register(reg); err != nil {
		return nil, err
	}
	sd, err := avro.New(ctx, reg, avro.NewClient(registryURL, 10*time.Second), cfg.topic, avro.WithEncryption(pii.NewEncryptor(keys)))
	if err != nil {
		return nil, err
	}
	if err := sd.Prepare(ctx); err != nil {
		return nil, err
	}
	e.serde = sd
	if e.eraser, err = erasure.New(keys, store, sd); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "kafka: %s\nschema registry: %s\nevents topic: %s (Avro values, personal fields encrypted per patient)\nkey topic: %s (compacted)\n",
		kafkaDesc, registryDesc, cfg.topic, keys.Topic())
	return e, nil
}
