package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/internal/wire"
)

// defaultTopic is the events topic used when neither --topic nor
// KAFKAES_TOPIC is given; the same default as the Kafka store.
const defaultTopic = "events"

// env is what a command runs with: its output streams, the global flags and
// the command's flags.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string

	brokersFlag  string
	brokers      []string
	registry     string
	topic        string
	kafkaVersion string
	clientID     string
	timeout      time.Duration
	useTLS       bool
	tlsCA        string
	tlsInsecure  bool
	saslUser     string
	quiet        bool
	// topicExplicit is true when the topic came from --topic or
	// KAFKAES_TOPIC rather than the default.
	topicExplicit bool

	opts cmdOpts
}

// newFlagSet returns a flag set with the global flags bound to e, plus the
// command's flags when register is not nil.
func newFlagSet(name string, e *env, o *cmdOpts, register func(*flag.FlagSet, *cmdOpts)) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&e.brokersFlag, "brokers", e.brokersFlag, "comma-separated bootstrap brokers, host:port (env KAFKAES_BROKERS)")
	fs.StringVar(&e.registry, "schema-registry", e.registry, "Schema Registry URL, to decode Avro payloads (env KAFKAES_SCHEMA_REGISTRY)")
	fs.StringVar(&e.topic, "topic", e.topic, `events topic (env KAFKAES_TOPIC; default "events")`)
	fs.StringVar(&e.kafkaVersion, "kafka-version", orDefault(e.kafkaVersion, "3.6.0"), "Kafka protocol version to speak")
	fs.StringVar(&e.clientID, "client-id", orDefault(e.clientID, "kafkaes-cli"), "Kafka client ID")
	fs.DurationVar(&e.timeout, "timeout", orDefaultDuration(e.timeout, 30*time.Second), "network timeout of single requests")
	fs.BoolVar(&e.useTLS, "tls", e.useTLS, "connect to the brokers with TLS")
	fs.StringVar(&e.tlsCA, "tls-ca", e.tlsCA, "PEM file of the CA that signed the brokers' certificates (implies --tls)")
	fs.BoolVar(&e.tlsInsecure, "tls-insecure-skip-verify", e.tlsInsecure, "do not verify the brokers' certificates (testing only)")
	fs.StringVar(&e.saslUser, "sasl-user", e.saslUser, "SASL/PLAIN user name; the password comes from env KAFKAES_SASL_PASSWORD")
	fs.BoolVar(&e.quiet, "quiet", e.quiet, "no progress messages on stderr")
	if register != nil {
		register(fs, o)
	}
	return fs
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orDefaultDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// parseInterleaved parses flags that may come before, between and after
// positional arguments, and returns the positional ones. With stopAtFirst it
// stops at the first positional argument and returns it and everything after
// (for the global flags before the command name).
func parseInterleaved(fs *flag.FlagSet, args []string, stopAtFirst bool) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if stopAtFirst {
			return rest, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// resolveEnv fills what the flags left empty from the environment and
// splits the broker list.
func (e *env) resolveEnv() {
	if e.brokersFlag == "" {
		e.brokersFlag = e.getenv("KAFKAES_BROKERS")
	}
	for b := range strings.SplitSeq(e.brokersFlag, ",") {
		if b = strings.TrimSpace(b); b != "" {
			e.brokers = append(e.brokers, b)
		}
	}
	if e.registry == "" {
		e.registry = e.getenv("KAFKAES_SCHEMA_REGISTRY")
	}
	if e.topic == "" {
		e.topic = e.getenv("KAFKAES_TOPIC")
	}
	e.topicExplicit = e.topic != ""
	if e.topic == "" {
		e.topic = defaultTopic
	}
}

// saramaConfig builds the client configuration from the flags.
func (e *env) saramaConfig() (*sarama.Config, error) {
	cfg := sarama.NewConfig()
	v, err := sarama.ParseKafkaVersion(e.kafkaVersion)
	if err != nil {
		return nil, fmt.Errorf("--kafka-version %q: %w", e.kafkaVersion, err)
	}
	if !v.IsAtLeast(sarama.V2_1_0_0) {
		return nil, fmt.Errorf("--kafka-version %s is too old: kafkaes needs Kafka 2.1 or later (record headers, transactions, read_committed fetches)", v)
	}
	cfg.Version = v
	if e.timeout < time.Second {
		return nil, fmt.Errorf("--timeout %s is too short: fetches wait up to 500ms for data, so use at least 1s", e.timeout)
	}
	cfg.ClientID = e.clientID
	cfg.Net.DialTimeout = e.timeout
	cfg.Net.ReadTimeout = e.timeout
	cfg.Net.WriteTimeout = e.timeout
	cfg.Admin.Timeout = e.timeout
	cfg.Metadata.Retry.Max = 3
	cfg.Metadata.Retry.Backoff = 200 * time.Millisecond
	cfg.Producer.Partitioner = wire.NewPartitioner
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	if e.useTLS || e.tlsCA != "" || e.tlsInsecure {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: e.tlsInsecure} //nolint:gosec // opt-in flag for testing
		if e.tlsCA != "" {
			pem, err := os.ReadFile(e.tlsCA)
			if err != nil {
				return nil, fmt.Errorf("--tls-ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in the file", e.tlsCA)
			}
			tc.RootCAs = pool
		}
		cfg.Net.TLS.Enable = true
		cfg.Net.TLS.Config = tc
	}
	if e.saslUser != "" {
		pw := e.getenv("KAFKAES_SASL_PASSWORD")
		if pw == "" {
			return nil, errors.New("--sasl-user is set but KAFKAES_SASL_PASSWORD is empty; export the password in KAFKAES_SASL_PASSWORD")
		}
		cfg.Net.SASL.Enable = true
		cfg.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		cfg.Net.SASL.User = e.saslUser
		cfg.Net.SASL.Password = pw
	}
	return cfg, nil
}

// connect returns a client for the cluster. On failure it prints what went
// wrong and returns nil.
func (e *env) connect() sarama.Client {
	cfg, err := e.saramaConfig()
	if err != nil {
		e.errorf("%v", err)
		return nil
	}
	cl, err := sarama.NewClient(e.brokers, cfg)
	if err != nil {
		e.errorf("cannot reach the Kafka cluster at %s: %v\n(check --brokers / KAFKAES_BROKERS, and --tls / --sasl-user if the listener needs them)", strings.Join(e.brokers, ","), err)
		return nil
	}
	return cl
}

// errorf prints an error message on stderr.
func (e *env) errorf(format string, args ...any) {
	fmt.Fprintf(e.stderr, "kafkaes: "+format+"\n", args...)
}

// progressf prints a progress message on stderr unless --quiet.
func (e *env) progressf(format string, args ...any) {
	if !e.quiet {
		fmt.Fprintf(e.stderr, format+"\n", args...)
	}
}
