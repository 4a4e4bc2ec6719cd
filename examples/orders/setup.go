package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/IBM/sarama"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkaconfig"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/eventstore/observe"
	"github.com/kafkaes/kafkaes/examples/internal/metrics"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
	"github.com/kafkaes/kafkaes/serde"
)

type config struct {
	// kafkaConfig is a Kafka client.properties file with the TLS and SASL
	// settings of a secured cluster (see package kafkaconfig).
	kafkaConfig string
	brokers     string
	postgres    string
	topic       string
	// metricsAddr, when set, serves /metrics there; holdMetrics keeps
	// serving after the scenario until the context ends (the command
	// does, tests do not).
	metricsAddr string
	holdMetrics bool
	// hold keeps the program (and the embedded Kafka) running after the
	// scenario until the context ends, for the CLI.
	hold bool
	// log receives the runner's warnings (default: stderr).
	log io.Writer
}

type env struct {
	brokers []string
	sarama  *sarama.Config
	client  sarama.Client // the service's one client; every kafkaes component derives its connections from it
	topic   string
	serde   serde.Serde
	repo    *aggregate.Repository[*Order]
	view    view
	runner  *projection.Runner
	runErr  chan error
	suffix  string // makes IDs and groups unique per run on a real cluster
	// metrics serves /metrics when -metrics-addr is set; observer is its
	// collector (nil without metrics), given to every component.
	metrics  *metrics.Server
	observer observe.Observer
	closers  []func()
}

func (e *env) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
}

func setup(ctx context.Context, w io.Writer, cfg config) (_ *env, err error) {
	e := &env{topic: cfg.topic, runErr: make(chan error, 1)}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	e.brokers = strings.Split(cfg.brokers, ",")
	desc := "Kafka at " + cfg.brokers
	var b [3]byte
	_, _ = rand.Read(b[:])
	e.suffix = "-" + hex.EncodeToString(b[:])
	if cfg.brokers == "" {
		cluster, err := kafkatest.StartEmbedded()
		if err != nil {
			return nil, err
		}
		e.closers = append(e.closers, cluster.Close)
		e.brokers, desc = cluster.Brokers, "embedded in-process Kafka (kfake) at "+strings.Join(cluster.Brokers, ",")
	}
	if cfg.metricsAddr != "" {
		m, err := metrics.Start(cfg.metricsAddr)
		if err != nil {
			return nil, err
		}
		e.closers = append(e.closers, m.Close)
		e.metrics, e.observer = m, m.Collector
		fmt.Fprintf(w, "metrics: %s\n", m.URL)
	}
	e.sarama = sarama.NewConfig()
	e.sarama.Version = sarama.V3_6_0_0
	e.sarama.ClientID = "kafkaes-orders"
	if err := applyKafkaConfig(e.sarama, cfg.kafkaConfig); err != nil {
		return nil, err
	}
	client, err := sarama.NewClient(e.brokers, e.sarama)
	if err != nil {
		return nil, fmt.Errorf("connect to Kafka at %v: %w (-kafka-config for TLS/SASL)", e.brokers, kafkaconfig.Explain(err, e.brokers, e.sarama))
	}
	e.closers = append(e.closers, func() { _ = client.Close() })
	e.client = client
	store, err := kafka.New(ctx, client, cfg.topic, kafka.WithCreateTopic(3, 1), kafka.WithObserver(e.observer))
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, func() { _ = store.Close() })
	fmt.Fprintf(w, "event store: topic %s on %s\n", cfg.topic, desc)

	e.serde = serde.NewJSON(newRegistry())
	e.repo = aggregate.NewRepository(store, e.serde, func() *Order { return &Order{} }, aggregate.WithObserver(e.observer))

	name := "order-summary"
	if cfg.postgres == "" {
		e.view = newMemView()
	} else {
		db, err := sql.Open("pgx", cfg.postgres)
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL: %w", err)
		}
		e.closers = append(e.closers, func() { _ = db.Close() })
		if err := db.PingContext(ctx); err != nil {
			return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
		}
		// Each run gets its own table and projection name: the embedded
		// Kafka log is new every run, so an older checkpoint would not fit.
		table := "order_summary" + strings.ReplaceAll(e.suffix, "-", "_")
		name += e.suffix
		if e.view, err = newSQLView(ctx, db, table); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(w, "read model: %s (projection %q)\n\n", e.view.describe(), name)

	e.runner, err = projection.New(name, e.serde, e.view.handlers(),
		projection.WithCheckpoints(e.view.checkpoints()),
		projection.WithRetry(5, 20*time.Millisecond, time.Second),
		// The runner's own warnings and errors (retries, a stop) are
		// worth seeing: never discard them.
		projection.WithLogger(slog.New(slog.NewTextHandler(logOut(cfg), &slog.HandlerOptions{Level: slog.LevelWarn}))),
		projection.WithObserver(e.observer))
	if err != nil {
		return nil, err
	}
	src, err := kafkaprojection.NewSource(ctx, e.client, cfg.topic, name+"-group"+e.suffix)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	go func() { e.runErr <- e.runner.Run(runCtx, src) }()
	e.closers = append(e.closers, func() { cancel(); <-e.runErr; _ = src.Close() })
	if e.metrics != nil {
		go refreshLag(runCtx, e.runner) // the lag gauge is set when Lag runs
	}
	return e, nil
}

// logOut returns where the runner logs.
func logOut(cfg config) io.Writer {
	if cfg.log != nil {
		return cfg.log
	}
	return os.Stderr
}

// refreshLag computes the projection's lag every 2 seconds until ctx ends,
// which updates the kafkaes_projection_lag gauge.
func refreshLag(ctx context.Context, r *projection.Runner) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = r.Lag(ctx) // an error leaves the gauge as it was
		}
	}
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
