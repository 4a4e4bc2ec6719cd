// Package kafkatest gives tests, examples and local development a Kafka
// cluster to talk to: an embedded in-process broker (franz-go's kfake,
// which speaks the real Kafka protocol, transactions included, so sarama
// and the Kafka event store use the same code path as against a real
// broker), or a real cluster named by the KAFKAES_BROKERS environment
// variable.
//
// Environment switches read by [New]:
//
//   - KAFKAES_BROKERS=host:port[,host:port...]: use that cluster instead of
//     the embedded one.
//   - KAFKAES_KEEP_TOPICS=1: do not delete the topics a test created, so
//     they can be inspected afterwards.
//   - KAFKAES_BROKER_CTL=path of scripts/kafka-broker.sh: lets tests named
//     TestRealBroker... stop, kill and restart the real broker (see
//     [RequireBrokerCtl]); they skip without it.
//   - KAFKAES_KAFKA_CONFIG=path of a Kafka client.properties file (see
//     package kafkaconfig): [Cluster.Config] connects with its TLS and SASL
//     settings, as the application user of a secured cluster.
//   - KAFKAES_KAFKA_ADMIN_CONFIG=path of the client.properties of a super
//     user: [Cluster.AdminConfig] uses it, so the harness can create and
//     delete topics and users and grant ACLs (see [RequireSecure], which
//     falls back to an embedded secured cluster without it).
//   - KAFKAES_REQUIRE_SECURE=1: [RequireSecure] fails instead of falling
//     back to the embedded secured cluster.
//
// scripts/kafka-secure.sh starts a secured broker (SASL_SSL, SCRAM-SHA-512,
// ACLs) and prints all of these.
//
// scripts/kafka-broker.sh starts a real single-node broker from the Apache
// Kafka jars on Maven Central; `eval "$(scripts/kafka-broker.sh env)"` sets
// KAFKAES_BROKERS and KAFKAES_BROKER_CTL for it.
package kafkatest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkaconfig"
)

// Cluster is a Kafka cluster for tests and examples.
type Cluster struct {
	// Brokers are the bootstrap addresses.
	Brokers []string
	// Embedded is true when the cluster is an in-process kfake cluster.
	Embedded bool

	fake *kfake.Cluster
	// adminUser and adminPass are the SCRAM-SHA-512 super user of an
	// embedded secured cluster (StartSecureEmbedded); empty otherwise.
	adminUser, adminPass string
}

// StartEmbedded starts an in-process single-broker Kafka cluster listening
// on 127.0.0.1 with a random port. Close it when done. It does not create
// topics on Metadata requests; see [StartEmbeddedAutoCreate].
func StartEmbedded() (*Cluster, error) { return startEmbedded(false) }

// StartEmbeddedAutoCreate is [StartEmbedded] with topic auto-creation on,
// like a broker with Apache Kafka's stock auto.create.topics.enable=true: a
// Metadata request that allows it creates a missing topic (one partition,
// no topic configs). Tests use it to prove that kafkaes never creates a
// topic by asking for its metadata.
func StartEmbeddedAutoCreate() (*Cluster, error) { return startEmbedded(true) }

func startEmbedded(autoCreate bool) (*Cluster, error) {
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(func(network, _ string) (netListener, error) { return listenLoopback(network) }),
	}
	if autoCreate {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafkatest: start embedded kafka: %w", err)
	}
	return &Cluster{Brokers: c.ListenAddrs(), Embedded: true, fake: c}, nil
}

// New returns the cluster named by KAFKAES_BROKERS, or else a new embedded
// cluster that is closed when the test ends.
func New(tb testing.TB) *Cluster {
	tb.Helper()
	if env := os.Getenv("KAFKAES_BROKERS"); env != "" {
		for _, v := range []string{"KAFKAES_KAFKA_CONFIG", "KAFKAES_KAFKA_ADMIN_CONFIG"} {
			if err := applyEnv(sarama.NewConfig(), v); err != nil {
				tb.Fatal(err)
			}
		}
		return &Cluster{Brokers: strings.Split(env, ",")}
	}
	c, err := StartEmbedded()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

// NewAutoCreate is [New] for tests of topic auto-creation: the cluster
// named by KAFKAES_BROKERS (scripts/kafka-broker.sh and
// scripts/kafka-cluster.sh run with the stock auto.create.topics.enable=true),
// or else a new embedded cluster with auto-creation on
// ([StartEmbeddedAutoCreate]).
func NewAutoCreate(tb testing.TB) *Cluster {
	tb.Helper()
	if os.Getenv("KAFKAES_BROKERS") != "" {
		return New(tb)
	}
	c, err := StartEmbeddedAutoCreate()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

// TopicExists reports whether the topic exists, asking with a Metadata
// request that does not allow auto-creation (so asking never creates it).
func (c *Cluster) TopicExists(tb testing.TB, name string) bool {
	tb.Helper()
	cfg := c.AdminConfig()
	cfg.Metadata.AllowAutoTopicCreation = false
	client, err := sarama.NewClient(c.Brokers, cfg)
	if err != nil {
		tb.Fatalf("kafkatest: connect to %v: %v", c.Brokers, err)
	}
	defer client.Close()
	b, err := client.Controller()
	if err != nil {
		tb.Fatalf("kafkatest: controller: %v", err)
	}
	req := sarama.NewMetadataRequest(cfg.Version, []string{name})
	req.AllowAutoTopicCreation = false
	resp, err := b.GetMetadata(req)
	if err != nil {
		tb.Fatalf("kafkatest: metadata of %s: %v", name, err)
	}
	for _, t := range resp.Topics {
		if t.Name == name {
			return !errors.Is(t.Err, sarama.ErrUnknownTopicOrPartition)
		}
	}
	return false
}

// Fake returns the underlying kfake cluster, or nil for a real cluster. Tests
// use it to inject faults.
func (c *Cluster) Fake() *kfake.Cluster { return c.fake }

// Close stops an embedded cluster; it does nothing for a real one.
func (c *Cluster) Close() {
	if c.fake != nil {
		c.fake.Close()
	}
}

// Config returns a sarama configuration suited to the cluster: protocol
// version 3.6, a client ID, and short timeouts for tests, plus for a real
// cluster the security settings of KAFKAES_KAFKA_CONFIG. Callers may change
// it before use.
func (c *Cluster) Config() *sarama.Config {
	cfg := c.baseConfig()
	switch {
	case c.adminUser != "":
		c.applyAdmin(cfg)
	case !c.Embedded:
		mustApply(cfg, "KAFKAES_KAFKA_CONFIG")
	}
	return cfg
}

// AdminConfig returns the configuration of a super user for the harness's
// own administrative requests (creating and deleting topics, users and
// ACLs): [Cluster.Config] with the security settings of
// KAFKAES_KAFKA_ADMIN_CONFIG when it is set.
func (c *Cluster) AdminConfig() *sarama.Config {
	if c.Embedded || os.Getenv("KAFKAES_KAFKA_ADMIN_CONFIG") == "" {
		return c.Config() // for an embedded secured cluster: its super user
	}
	cfg := c.baseConfig()
	mustApply(cfg, "KAFKAES_KAFKA_ADMIN_CONFIG")
	return cfg
}

// mustApply applies the client.properties file named by the environment
// variable env, if set. [New] checks the files first, so a panic here
// means a file changed during the run.
func mustApply(cfg *sarama.Config, env string) {
	if err := applyEnv(cfg, env); err != nil {
		panic(err)
	}
}

func applyEnv(cfg *sarama.Config, env string) error {
	path := os.Getenv(env)
	if path == "" {
		return nil
	}
	p, err := kafkaconfig.ReadProperties(path)
	if err != nil {
		return fmt.Errorf("kafkatest: %s: %w", env, err)
	}
	if err := p.Apply(cfg); err != nil {
		return fmt.Errorf("kafkatest: %s=%s: %w", env, path, err)
	}
	return nil
}

func (c *Cluster) baseConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = "kafkaes-test"
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	cfg.Net.DialTimeout = 5 * time.Second
	return cfg
}

// Client returns a new sarama client for the cluster, closed when the test
// ends.
func (c *Cluster) Client(tb testing.TB) sarama.Client {
	tb.Helper()
	cl, err := sarama.NewClient(c.Brokers, c.Config())
	if err != nil {
		tb.Fatalf("kafkatest: connect to %v: %v", c.Brokers, err)
	}
	tb.Cleanup(func() { _ = cl.Close() })
	return cl
}

// ClientWith returns a new sarama client for the cluster configured by cfg
// (for example c.Config() with changed consumer-group timings), closed when
// the test ends.
func (c *Cluster) ClientWith(tb testing.TB, cfg *sarama.Config) sarama.Client {
	tb.Helper()
	cl, err := sarama.NewClient(c.Brokers, cfg)
	if err != nil {
		tb.Fatalf("kafkatest: connect to %v: %v", c.Brokers, err)
	}
	tb.Cleanup(func() { _ = cl.Close() })
	return cl
}

// TopicName returns a topic name that is unique to this run: prefix, the
// test's name and a random suffix. Tests that write deliberately invalid
// records must use a prefix containing "invalid"; snapshot topics contain
// "snapshot" and dead-letter topics "dlq".
func TopicName(tb testing.TB, prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := prefix + "-" + sanitize(tb.Name()) + "-" + hex.EncodeToString(b[:])
	if len(name) > 200 {
		name = name[:190] + "-" + hex.EncodeToString(b[:])
	}
	return name
}

// CreateTopic creates a topic for the test with the given partitions and
// configs and the broker's default replication factor
// (default.replication.factor: 1 on the single-node brokers, 3 on the
// cluster of scripts/kafka-cluster.sh) and deletes it when the test ends, unless
// KAFKAES_KEEP_TOPICS=1. Events topics need cleanup.policy=delete and
// retention.ms=-1; see EventsTopicConfig.
func (c *Cluster) CreateTopic(tb testing.TB, name string, partitions int32, configs map[string]*string) {
	tb.Helper()
	admin, err := sarama.NewClusterAdmin(c.Brokers, c.AdminConfig())
	if err != nil {
		tb.Fatalf("kafkatest: admin client: %v", err)
	}
	defer admin.Close()
	err = admin.CreateTopic(name, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: -1, ConfigEntries: configs}, false)
	if err != nil {
		tb.Fatalf("kafkatest: create topic %s: %v", name, err)
	}
	if err := c.awaitTopic(name, partitions, 30*time.Second); err != nil {
		tb.Fatalf("kafkatest: created topic %s: %v", name, err)
	}
	if os.Getenv("KAFKAES_KEEP_TOPICS") == "1" {
		tb.Logf("kafkatest: keeping topic %s (KAFKAES_KEEP_TOPICS=1)", name)
		return
	}
	tb.Cleanup(func() {
		a, err := sarama.NewClusterAdmin(c.Brokers, c.AdminConfig())
		if err != nil {
			return
		}
		defer a.Close()
		_ = a.DeleteTopic(name)
	})
}

// awaitTopic waits until every broker of the cluster knows the topic with
// a leader for each of its partitions. On a multi-broker cluster the
// others learn of a new topic from the controller a little later than the
// broker that created it, and a request sent to them in between (a
// DescribeConfigs, a Metadata request) says the topic does not exist.
func (c *Cluster) awaitTopic(name string, partitions int32, timeout time.Duration) error {
	if c.fake != nil {
		return nil
	}
	cfg := c.Config()
	client, err := sarama.NewClient(c.Brokers, cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	deadline := time.Now().Add(timeout)
	for {
		var missing []string
		for _, b := range client.Brokers() {
			if ok, _ := b.Connected(); !ok {
				if err := b.Open(cfg); err != nil && !errors.Is(err, sarama.ErrAlreadyConnected) {
					missing = append(missing, fmt.Sprintf("broker %d: %v", b.ID(), err))
					continue
				}
			}
			req := sarama.NewMetadataRequest(cfg.Version, []string{name})
			req.AllowAutoTopicCreation = false
			resp, err := b.GetMetadata(req)
			if err != nil {
				missing = append(missing, fmt.Sprintf("broker %d: %v", b.ID(), err))
				continue
			}
			if !topicReady(resp, name, partitions) {
				missing = append(missing, fmt.Sprintf("broker %d does not know it yet", b.ID()))
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not known to every broker after %v: %s", timeout, strings.Join(missing, "; "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// topicReady reports whether resp lists topic with partitions partitions,
// each with a leader.
func topicReady(resp *sarama.MetadataResponse, topic string, partitions int32) bool {
	for _, t := range resp.Topics {
		if t.Name != topic || !errors.Is(t.Err, sarama.ErrNoError) || int32(len(t.Partitions)) != partitions {
			continue
		}
		for _, p := range t.Partitions {
			if !errors.Is(p.Err, sarama.ErrNoError) || p.Leader < 0 {
				return false
			}
		}
		return true
	}
	return false
}

// EventsTopicConfig returns the topic configuration an events topic needs:
// cleanup.policy=delete and retention.ms=-1 (keep forever).
func EventsTopicConfig() map[string]*string {
	del, forever := "delete", "-1"
	return map[string]*string{"cleanup.policy": &del, "retention.ms": &forever}
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}
