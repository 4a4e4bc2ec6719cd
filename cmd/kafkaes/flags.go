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

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkaconfig"
	"github.com/kafkaes/kafkaes/internal/wire"
	"github.com/kafkaes/kafkaes/serde/avro"
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
	tlsCert      string
	tlsKey       string
	tlsInsecure  bool
	saslUser     string
	saslMech     string
	kafkaConfig  string
	quiet        bool
	// Schema Registry security: CA, client certificate, basic auth user
	// (password from KAFKAES_SCHEMA_REGISTRY_PASSWORD) or bearer token
	// (KAFKAES_SCHEMA_REGISTRY_TOKEN).
	registryCA, registryCert, registryKey, registryUser string
	// registryOpts are the avro.NewClient options built from them.
	registryOpts                    []avro.ClientOption
	registryPassword, registryToken string
	// props is the --kafka-config file, without its registry settings.
	props kafkaconfig.Properties
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
	fs.StringVar(&e.tlsCert, "tls-cert", e.tlsCert, "PEM file of the client certificate for mutual TLS (implies --tls; key in --tls-key, or in the same file)")
	fs.StringVar(&e.tlsKey, "tls-key", e.tlsKey, "PEM file of the client certificate's unencrypted private key")
	fs.StringVar(&e.saslUser, "sasl-user", e.saslUser, "SASL user name (env KAFKAES_SASL_USER); the password comes from env KAFKAES_SASL_PASSWORD")
	fs.StringVar(&e.saslMech, "sasl-mechanism", e.saslMech, "SASL mechanism: PLAIN (default with --sasl-user), SCRAM-SHA-256, SCRAM-SHA-512, or OAUTHBEARER with a static token in env KAFKAES_SASL_TOKEN (env KAFKAES_SASL_MECHANISM)")
	fs.StringVar(&e.kafkaConfig, "kafka-config", e.kafkaConfig, "Kafka client.properties file with the connection settings (bootstrap.servers, security.protocol, sasl.*, ssl.* with PEM files; env KAFKAES_KAFKA_CONFIG); flags override it")
	fs.StringVar(&e.registryCA, "schema-registry-ca", e.registryCA, "PEM file of the CA that signed the Schema Registry's certificate")
	fs.StringVar(&e.registryCert, "schema-registry-cert", e.registryCert, "PEM file of a client certificate for the Schema Registry (key in --schema-registry-key or the same file)")
	fs.StringVar(&e.registryKey, "schema-registry-key", e.registryKey, "PEM file of that certificate's unencrypted private key")
	fs.StringVar(&e.registryUser, "schema-registry-user", e.registryUser, "Schema Registry basic auth user (env KAFKAES_SCHEMA_REGISTRY_USER); the password comes from env KAFKAES_SCHEMA_REGISTRY_PASSWORD. A bearer token comes from env KAFKAES_SCHEMA_REGISTRY_TOKEN")
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

// resolveEnv fills what the flags left empty from the environment and the
// --kafka-config file, and splits the broker list. It fails on a config
// file that cannot be read or holds unsupported settings.
func (e *env) resolveEnv() error {
	for _, v := range []struct {
		dst *string
		env string
	}{
		{&e.brokersFlag, "KAFKAES_BROKERS"}, {&e.registry, "KAFKAES_SCHEMA_REGISTRY"}, {&e.topic, "KAFKAES_TOPIC"},
		{&e.kafkaConfig, "KAFKAES_KAFKA_CONFIG"}, {&e.saslUser, "KAFKAES_SASL_USER"}, {&e.saslMech, "KAFKAES_SASL_MECHANISM"},
		{&e.registryUser, "KAFKAES_SCHEMA_REGISTRY_USER"},
	} {
		if *v.dst == "" {
			*v.dst = e.getenv(v.env)
		}
	}
	if e.kafkaConfig != "" {
		p, err := kafkaconfig.ReadProperties(e.kafkaConfig)
		if err != nil {
			return fmt.Errorf("--kafka-config: %w", err)
		}
		if err := e.takeRegistryProps(p); err != nil {
			return err
		}
		if err := p.Apply(sarama.NewConfig()); err != nil {
			return fmt.Errorf("--kafka-config %s: %w", e.kafkaConfig, err)
		}
		e.props = p
		if e.brokersFlag == "" {
			e.brokersFlag = strings.Join(p.Brokers(), ",")
		}
	}
	for b := range strings.SplitSeq(e.brokersFlag, ",") {
		if b = strings.TrimSpace(b); b != "" {
			e.brokers = append(e.brokers, b)
		}
	}
	e.topicExplicit = e.topic != ""
	if e.topic == "" {
		e.topic = defaultTopic
	}
	return e.buildRegistryOpts()
}

// takeRegistryProps takes the Schema Registry settings that Confluent's
// tools read from the same client.properties (schema.registry.url,
// basic.auth.user.info, bearer.auth.token,
// schema.registry.ssl.truststore.location with a PEM file) out of p;
// flags and environment win over them.
func (e *env) takeRegistryProps(p kafkaconfig.Properties) error {
	for k, v := range p {
		switch k {
		case "schema.registry.url":
			if e.registry == "" {
				e.registry = v
			}
		case "basic.auth.credentials.source":
			if v != "USER_INFO" {
				return fmt.Errorf("--kafka-config: basic.auth.credentials.source=%s is not supported; use USER_INFO with basic.auth.user.info=user:password", v)
			}
		case "basic.auth.user.info":
			u, pw, _ := strings.Cut(v, ":")
			if e.registryUser == "" {
				e.registryUser, e.registryPassword = u, pw
			}
		case "bearer.auth.token":
			e.registryToken = v
		case "schema.registry.ssl.truststore.location":
			if e.registryCA == "" {
				e.registryCA = v
			}
		case "schema.registry.ssl.truststore.type":
			if !strings.EqualFold(v, "PEM") {
				return fmt.Errorf("--kafka-config: schema.registry.ssl.truststore.type=%s is not supported; use a PEM file", v)
			}
		default:
			continue
		}
		delete(p, k)
	}
	return nil
}

// buildRegistryOpts turns the registry security settings into
// avro.NewClient options.
func (e *env) buildRegistryOpts() error {
	e.registryOpts = nil
	if e.registryCA != "" || e.registryCert != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if e.registryCA != "" {
			pool, err := readCA(e.registryCA)
			if err != nil {
				return fmt.Errorf("--schema-registry-ca: %w", err)
			}
			tc.RootCAs = pool
		}
		if e.registryCert != "" {
			cert, err := readKeyPair(e.registryCert, e.registryKey)
			if err != nil {
				return fmt.Errorf("--schema-registry-cert: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		e.registryOpts = append(e.registryOpts, avro.WithTLSConfig(tc))
	}
	if e.registryPassword == "" {
		e.registryPassword = e.getenv("KAFKAES_SCHEMA_REGISTRY_PASSWORD")
	}
	if tok := e.getenv("KAFKAES_SCHEMA_REGISTRY_TOKEN"); tok != "" {
		e.registryToken = tok
	}
	switch {
	case e.registryUser != "":
		if e.registryPassword == "" {
			return errors.New("--schema-registry-user is set but KAFKAES_SCHEMA_REGISTRY_PASSWORD is empty; export the password in KAFKAES_SCHEMA_REGISTRY_PASSWORD")
		}
		e.registryOpts = append(e.registryOpts, avro.WithBasicAuth(e.registryUser, e.registryPassword))
	case e.registryToken != "":
		e.registryOpts = append(e.registryOpts, avro.WithBearerToken(e.registryToken))
	}
	return nil
}

func readCA(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in the file", path)
	}
	return pool, nil
}

// readKeyPair reads a client certificate and its key; keyFile may be
// empty when certFile holds both.
func readKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	if keyFile == "" {
		keyFile = certFile
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: %w (the key must be an unencrypted PEM key)", certFile, err)
	}
	return cert, nil
}

// saramaConfig builds the client configuration: the --kafka-config file
// first, then the flags and environment on top.
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
	if e.props != nil {
		if err := e.props.Apply(cfg); err != nil {
			return nil, fmt.Errorf("--kafka-config %s: %w", e.kafkaConfig, err)
		}
		if e.clientID != "kafkaes-cli" || e.props["client.id"] == "" {
			cfg.ClientID = e.clientID
		}
	}
	if e.useTLS || e.tlsCA != "" || e.tlsInsecure || e.tlsCert != "" {
		tc := cfg.Net.TLS.Config
		if tc == nil {
			tc = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tc.InsecureSkipVerify = tc.InsecureSkipVerify || e.tlsInsecure //nolint:gosec // opt-in flag for testing
		if e.tlsCA != "" {
			pool, err := readCA(e.tlsCA)
			if err != nil {
				return nil, fmt.Errorf("--tls-ca: %w", err)
			}
			tc.RootCAs = pool
		}
		if e.tlsCert != "" {
			cert, err := readKeyPair(e.tlsCert, e.tlsKey)
			if err != nil {
				return nil, fmt.Errorf("--tls-cert: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		cfg.Net.TLS.Enable = true
		cfg.Net.TLS.Config = tc
	}
	if e.saslUser != "" || e.saslMech != "" {
		if err := e.applySASL(cfg); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// applySASL sets the SASL mechanism and credentials of the flags and
// environment.
func (e *env) applySASL(cfg *sarama.Config) error {
	mech := strings.ToUpper(e.saslMech)
	if mech == "" {
		mech = sarama.SASLTypePlaintext
	}
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Handshake = true
	cfg.Net.SASL.Mechanism = sarama.SASLMechanism(mech)
	switch mech {
	case sarama.SASLTypePlaintext, sarama.SASLTypeSCRAMSHA256, sarama.SASLTypeSCRAMSHA512:
		if e.saslUser == "" {
			return fmt.Errorf("--sasl-mechanism %s needs --sasl-user (or KAFKAES_SASL_USER) and KAFKAES_SASL_PASSWORD", mech)
		}
		pw := e.getenv("KAFKAES_SASL_PASSWORD")
		if pw == "" {
			return errors.New("--sasl-user is set but KAFKAES_SASL_PASSWORD is empty; export the password in KAFKAES_SASL_PASSWORD")
		}
		cfg.Net.SASL.User, cfg.Net.SASL.Password = e.saslUser, pw
		cfg.Net.SASL.SCRAMClientGeneratorFunc = kafkaconfig.SCRAMClientGenerator(sarama.SASLMechanism(mech))
	case sarama.SASLTypeOAuth:
		tok := e.getenv("KAFKAES_SASL_TOKEN")
		if tok == "" {
			return errors.New("--sasl-mechanism OAUTHBEARER needs the access token in env KAFKAES_SASL_TOKEN")
		}
		cfg.Net.SASL.TokenProvider = kafkaconfig.StaticToken(tok)
	default:
		return fmt.Errorf("--sasl-mechanism %s is not supported; use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER", e.saslMech)
	}
	return nil
}

// connect returns a client for the cluster. On failure it prints what went
// wrong, with the broker's own error (a failed SASL authentication, a TLS
// error) rather than sarama's "run out of available brokers", and returns
// nil.
func (e *env) connect() sarama.Client {
	cfg, err := e.saramaConfig()
	if err != nil {
		e.errorf("%v", err)
		return nil
	}
	// Looking at a topic must never create it: a broker with Apache
	// Kafka's stock auto.create.topics.enable=true would create a
	// mistyped --topic with its default settings.
	cfg.Metadata.AllowAutoTopicCreation = false
	cl, err := sarama.NewClient(e.brokers, cfg)
	if err != nil {
		err = kafkaconfig.Explain(err, e.brokers, cfg)
		e.errorf("cannot reach the Kafka cluster at %s: %v\n(check --brokers / KAFKAES_BROKERS, and --kafka-config, --tls*, --sasl-* if the listener needs them)", strings.Join(e.brokers, ","), err)
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
