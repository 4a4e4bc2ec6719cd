package rawfetch

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// FetchVersion is the highest Fetch version the clients of NewClient
// send: as internal/kafkafetch's, the newest one that only a partition's
// leader answers (from version 11 on a follower answers a consumer's
// fetch from its own log, with its own, older, last stable offset).
const FetchVersion = 10

// NewClient returns a franz-go client with the connection settings of cfg
// (addresses, client ID, dial timeout, TLS, SASL PLAIN and SCRAM), or
// ok=false for settings it cannot carry over (another SASL mechanism): the
// caller then reads through sarama.
func NewClient(addrs []string, cfg *sarama.Config) (cl *kgo.Client, ok bool, err error) {
	// Fetch v12 and older name topics (v13 needs topic IDs); Fetch is
	// held at FetchVersion.
	versions := kversion.V3_0_0()
	versions.SetMaxKeyVersion(kmsg.Fetch.Int16(), FetchVersion)
	opts := []kgo.Opt{kgo.SeedBrokers(addrs...), kgo.ClientID(cfg.ClientID), kgo.MaxVersions(versions)}
	if cfg.Net.DialTimeout > 0 {
		opts = append(opts, kgo.DialTimeout(cfg.Net.DialTimeout))
	}
	if cfg.Net.TLS.Enable {
		tc := cfg.Net.TLS.Config
		if tc == nil {
			tc = &tls.Config{}
		}
		opts = append(opts, kgo.DialTLSConfig(tc.Clone()))
	}
	if cfg.Net.SASL.Enable {
		user, pass := cfg.Net.SASL.User, cfg.Net.SASL.Password
		switch cfg.Net.SASL.Mechanism {
		case sarama.SASLTypePlaintext, "":
			opts = append(opts, kgo.SASL(plain.Auth{User: user, Pass: pass, Zid: cfg.Net.SASL.AuthIdentity}.AsMechanism()))
		case sarama.SASLTypeSCRAMSHA256:
			opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()))
		case sarama.SASLTypeSCRAMSHA512:
			opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()))
		default:
			return nil, false, nil
		}
	}
	cl, err = kgo.NewClient(opts...)
	if err != nil {
		return nil, false, err
	}
	return cl, true, nil
}

// ClientFor is NewClient with the addresses of the brokers sarama's
// client knows.
func ClientFor(client sarama.Client) (cl *kgo.Client, ok bool, err error) {
	var addrs []string
	for _, b := range client.Brokers() {
		addrs = append(addrs, b.Addr())
	}
	return NewClient(addrs, client.Config())
}

// Leaders knows the leader of every partition of a topic, from the
// metadata a franz-go client asks for.
type Leaders struct {
	kc    *kgo.Client
	topic string
	mu    sync.Mutex
	of    map[int32]int32
}

// NewLeaders returns the Leaders of topic, asking kc.
func NewLeaders(kc *kgo.Client, topic string) *Leaders { return &Leaders{kc: kc, topic: topic} }

// Leader returns the ID of the broker leading partition p, asking for
// metadata when it is not known or refresh is set.
func (l *Leaders) Leader(ctx context.Context, p int32, refresh bool) (int32, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if id, ok := l.of[p]; ok && !refresh {
		return id, nil
	}
	req := kmsg.NewPtrMetadataRequest()
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr(l.topic)
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, l.kc)
	if err != nil {
		return -1, fmt.Errorf("metadata of %s: %w", l.topic, err)
	}
	l.of = map[int32]int32{}
	for _, rt := range resp.Topics {
		if rt.ErrorCode != 0 {
			return -1, fmt.Errorf("metadata of %s: %w", l.topic, sarama.KError(rt.ErrorCode))
		}
		for _, rp := range rt.Partitions {
			if rp.ErrorCode == 0 && rp.Leader >= 0 {
				l.of[rp.Partition] = rp.Leader
			}
		}
	}
	id, ok := l.of[p]
	if !ok {
		return -1, fmt.Errorf("partition %s/%d has no leader", l.topic, p)
	}
	return id, nil
}

// Broker returns the broker leading partition p (see Leader).
func (l *Leaders) Broker(ctx context.Context, p int32, refresh bool) (*kgo.Broker, error) {
	id, err := l.Leader(ctx, p, refresh)
	if err != nil {
		return nil, err
	}
	return l.kc.Broker(int(id)), nil
}

// FetchCommitted sends one read_committed Fetch request for the
// partitions of topic in offsets (partition -> fetch offset), outside any
// fetch session, to broker b, and returns its response. maxWait is how
// long the broker may wait for data (0: answer at once), maxBytes the
// limit of each partition's data.
func FetchCommitted(ctx context.Context, b *kgo.Broker, topic string, offsets map[int32]int64, maxWaitMillis, maxBytes int32) (*kmsg.FetchResponse, error) {
	return fetch(ctx, b, topic, offsets, maxWaitMillis, maxBytes, 1)
}

// FetchUncommitted is FetchCommitted with read_uncommitted isolation: the
// broker answers up to the high watermark, with the records of open and
// aborted transactions and their markers (the response lists no aborted
// transactions, so Batches drops none).
func FetchUncommitted(ctx context.Context, b *kgo.Broker, topic string, offsets map[int32]int64, maxWaitMillis, maxBytes int32) (*kmsg.FetchResponse, error) {
	return fetch(ctx, b, topic, offsets, maxWaitMillis, maxBytes, 0)
}

func fetch(ctx context.Context, b *kgo.Broker, topic string, offsets map[int32]int64, maxWaitMillis, maxBytes int32, isolation int8) (*kmsg.FetchResponse, error) {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = maxWaitMillis
	req.MinBytes = 1
	req.MaxBytes = max(maxBytes, maxBytes*int32(min(len(offsets), 64)))
	req.IsolationLevel = isolation // 1: read_committed
	req.SessionEpoch = -1          // no fetch session
	t := kmsg.NewFetchRequestTopic()
	t.Topic = topic
	for p, at := range offsets {
		rt := kmsg.NewFetchRequestTopicPartition()
		rt.Partition = p
		rt.FetchOffset = at
		rt.LogStartOffset = -1
		rt.PartitionMaxBytes = maxBytes
		rt.CurrentLeaderEpoch = -1
		t.Partitions = append(t.Partitions, rt)
	}
	req.Topics = append(req.Topics, t)
	return req.RequestWith(ctx, b)
}
