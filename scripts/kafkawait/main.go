// Command kafkawait waits until a Kafka cluster really serves requests: it
// connects with sarama, sends a Metadata request and requires at least one
// broker (or -min-brokers of them) and a controller in the answer.
// scripts/kafka-broker.sh and scripts/kafka-cluster.sh use it to tell when
// the brokers they started are ready.
//
// Usage:
//
//	go run ./scripts/kafkawait [-brokers 127.0.0.1:19092] [-timeout 60s] [-config client.properties] [-min-brokers 1]
//
// -config names a Kafka client.properties file with the TLS and SASL
// settings of a secured listener (see package kafkaconfig).
// -brokers defaults to $KAFKAES_BROKERS, or 127.0.0.1:19092 when unset.
// -timeout is the total time to keep trying (default 60s). It exits 0 once
// the cluster answers, and 1 with the last error when the time is up.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkaconfig"
)

func main() {
	def := os.Getenv("KAFKAES_BROKERS")
	if def == "" {
		def = "127.0.0.1:19092"
	}
	brokers := flag.String("brokers", def, "comma-separated bootstrap addresses")
	timeout := flag.Duration("timeout", 60*time.Second, "total time to keep trying")
	interval := flag.Duration("interval", 250*time.Millisecond, "pause between attempts")
	quiet := flag.Bool("q", false, "print nothing on success")
	config := flag.String("config", "", "client.properties with TLS/SASL settings")
	minBrokers := flag.Int("min-brokers", 1, "how many brokers the metadata must list")
	flag.Parse()
	if *config != "" {
		p, err := kafkaconfig.ReadProperties(*config)
		if err == nil {
			err = p.Apply(sarama.NewConfig())
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "kafkawait:", err)
			os.Exit(2)
		}
		props = p
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	info, err := wait(ctx, strings.Split(*brokers, ","), *minBrokers, *interval)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kafkawait: %s not serving after %v: %v\n", *brokers, *timeout, err)
		os.Exit(1)
	}
	if !*quiet {
		fmt.Println("kafkawait: ready:", info)
	}
}

// wait probes until one Metadata round trip succeeds or ctx ends; it returns
// a short description of the cluster.
func wait(ctx context.Context, brokers []string, minBrokers int, interval time.Duration) (string, error) {
	var last error
	for {
		info, err := probe(ctx, brokers, minBrokers)
		if err == nil {
			return info, nil
		}
		last = err
		select {
		case <-ctx.Done():
			if last == nil {
				last = ctx.Err()
			}
			return "", last
		case <-time.After(interval):
		}
	}
}

// props are the client properties of -config, if any.
var props kafkaconfig.Properties

func probe(ctx context.Context, brokers []string, minBrokers int) (string, error) {
	cfg := sarama.NewConfig()
	if err := props.Apply(cfg); err != nil {
		return "", err
	}
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = "kafkaes-kafkawait"
	cfg.Net.DialTimeout = 2 * time.Second
	cfg.Net.ReadTimeout = 5 * time.Second
	cfg.Net.WriteTimeout = 5 * time.Second
	cfg.Metadata.Retry.Max = 0
	cfg.Metadata.Full = false
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < cfg.Net.ReadTimeout && left > 0 {
			cfg.Net.ReadTimeout = left
		}
	}
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return "", err
	}
	defer client.Close()
	if err := client.RefreshMetadata(); err != nil {
		return "", err
	}
	bs := client.Brokers()
	if len(bs) == 0 {
		return "", errors.New("metadata lists no brokers yet")
	}
	if len(bs) < minBrokers {
		return "", fmt.Errorf("metadata lists %d of %d brokers", len(bs), minBrokers)
	}
	ctl, err := client.Controller()
	if err != nil {
		return "", fmt.Errorf("no controller yet: %w", err)
	}
	return fmt.Sprintf("%d broker(s), controller id %d at %s", len(bs), ctl.ID(), ctl.Addr()), nil
}
