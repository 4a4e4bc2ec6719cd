package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/internal/kafkafetch"
)

// defaultTxnMaxTimeout is Kafka's default transaction.max.timeout.ms, used
// when the brokers' value cannot be read.
const defaultTxnMaxTimeout = 15 * time.Minute

// openTxn is an open transaction of one producer on one partition, as the
// partition leader's producer state (DescribeProducers) shows it.
type openTxn struct {
	topic      string
	partition  int32
	producerID int64
	epoch      int32
	start      int64     // first offset of the transaction on the partition
	lastWrite  time.Time // the producer's last write to the partition; zero when the broker does not know
	lso, hw    int64     // last stable offset and high watermark of the partition
}

// heldBack is how many offsets read_committed readers cannot read because
// of the transaction.
func (o openTxn) heldBack() int64 { return max(0, o.hw-o.start) }

// runTopicsHanging reports the open transactions that hold back the last
// stable offset of the --topic topics (all non-internal topics when no
// --topic is given) and whose producer has not written to the partition for
// longer than --older-than (default: the brokers'
// transaction.max.timeout.ms, beyond which no live producer may keep a
// transaction open). It exits 1 when it finds one.
func runTopicsHanging(ctx context.Context, e *env) int {
	if e.opts.olderThan < 0 {
		return usageError(e, fmt.Errorf("--older-than %s is negative", e.opts.olderThan), "topics")
	}
	cl := e.connect()
	if cl == nil {
		return exitFailure
	}
	defer cl.Close()
	var names []string
	if e.topicExplicit {
		for t := range strings.SplitSeq(e.topic, ",") {
			if t = strings.TrimSpace(t); t != "" && !slices.Contains(names, t) {
				names = append(names, t)
			}
		}
	} else {
		all, err := cl.Topics()
		if err != nil {
			e.errorf("list topics: %v", err)
			return exitFailure
		}
		for _, t := range all {
			if !internalTopic(t) {
				names = append(names, t)
			}
		}
	}
	slices.Sort(names)
	threshold, source := e.opts.olderThan, "--older-than"
	if threshold == 0 {
		threshold, source = txnMaxTimeout(cl)
	}
	var found, young []openTxn
	nparts := 0
	for i, topic := range names {
		if err := ctx.Err(); err != nil {
			e.errorf("%v", err)
			return exitFailure
		}
		if len(names) > 20 && i%20 == 0 {
			e.progressf("topics hanging: checked %d/%d topics", i, len(names))
		}
		txns, n, err := openTxns(ctx, cl, topic)
		if err != nil {
			e.errorf("%v", err)
			return exitFailure
		}
		nparts += n
		now := time.Now()
		for _, o := range txns {
			if o.lastWrite.IsZero() || now.Sub(o.lastWrite) >= threshold {
				found = append(found, o)
			} else {
				young = append(young, o)
			}
		}
	}
	if len(found) == 0 {
		fmt.Fprintf(e.stdout, "no hanging transactions in %s of %s (open for more than %s, %s)", plural(nparts, "partition", "partitions"), plural(len(names), "topic", "topics"), threshold, source)
		if len(young) > 0 {
			fmt.Fprintf(e.stdout, "; %s", plural(len(young), "younger open transaction", "younger open transactions"))
		}
		fmt.Fprintln(e.stdout)
		return exitOK
	}
	now := time.Now()
	tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tPRODUCER-ID\tEPOCH\tSTART-OFFSET\tIDLE\tHELD-BACK\tLSO\tHW")
	for _, o := range found {
		idle := "unknown"
		if d := now.Sub(o.lastWrite); !o.lastWrite.IsZero() && d >= time.Second {
			idle = d.Truncate(time.Second).String()
		} else if !o.lastWrite.IsZero() {
			idle = d.Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%d\t%d\t%d\n", o.topic, o.partition, o.producerID, o.epoch, o.start, idle, o.heldBack(), o.lso, o.hw)
	}
	tw.Flush()
	bootstrap := strings.Join(e.brokers, ",")
	extra := ""
	if e.useTLS || e.tlsCA != "" || e.tlsInsecure || e.saslUser != "" {
		extra = " --command-config client.properties"
	}
	for _, o := range found {
		fmt.Fprintf(e.stdout, "HANGING %s/%d: producer %d (epoch %d) has had a transaction open since offset %d and has not written for more than %s; read_committed readers stop at offset %d (%s held back)\n",
			o.topic, o.partition, o.producerID, o.epoch, o.start, threshold, o.lso, plural64(o.heldBack(), "offset", "offsets"))
		fmt.Fprintf(e.stdout, "  fix: kafka-transactions.sh --bootstrap-server %s%s abort --topic %s --partition %d --start-offset %d\n",
			bootstrap, extra, o.topic, o.partition, o.start)
	}
	fmt.Fprintf(e.stdout, "%s (open for more than %s, %s). Abort one only when its producer is gone for good: the abort writes an abort marker, so its records are dropped.\n",
		plural(len(found), "hanging transaction", "hanging transactions"), threshold, source)
	return exitViolation
}

// txnMaxTimeout returns the transaction.max.timeout.ms of a broker of the
// cluster and where it came from, or Kafka's default when it cannot be
// read.
func txnMaxTimeout(cl sarama.Client) (time.Duration, string) {
	fallback := "Kafka's default transaction.max.timeout.ms; the broker's value could not be read"
	brokers := cl.Brokers()
	if len(brokers) == 0 {
		return defaultTxnMaxTimeout, fallback
	}
	admin, err := sarama.NewClusterAdminFromClient(cl)
	if err != nil {
		return defaultTxnMaxTimeout, fallback
	}
	// Do not close admin: that would close the shared client.
	res, err := admin.DescribeConfigs([]*sarama.ConfigResource{{
		Type: sarama.BrokerResource, Name: strconv.Itoa(int(brokers[0].ID())), ConfigNames: []string{"transaction.max.timeout.ms"},
	}}, sarama.DescribeConfigsOptions{})
	if err != nil || len(res) == 0 || res[0].ErrorCode != 0 {
		return defaultTxnMaxTimeout, fallback
	}
	for _, c := range res[0].Configs {
		if c.Name != "transaction.max.timeout.ms" {
			continue
		}
		if ms, err := strconv.ParseInt(c.Value, 10, 64); err == nil && ms > 0 {
			return time.Duration(ms) * time.Millisecond, "the broker's transaction.max.timeout.ms"
		}
	}
	return defaultTxnMaxTimeout, fallback
}

// openTxns returns the open transactions of every partition of topic and
// the number of partitions. It asks each partition leader for its producer
// state (DescribeProducers, Kafka 2.8 or later) and for the partitions'
// last stable offsets and high watermarks.
func openTxns(ctx context.Context, cl sarama.Client, topic string) ([]openTxn, int, error) {
	parts, err := newReader(cl, topic).partitions()
	if err != nil {
		return nil, 0, err
	}
	lso, err := withRetry(ctx, func() (map[int32]int64, error) {
		return kafkafetch.ListOffsets(ctx, cl, topic, parts, sarama.OffsetNewest, sarama.ReadCommitted)
	})
	if err != nil {
		return nil, 0, err
	}
	hw, err := withRetry(ctx, func() (map[int32]int64, error) {
		return kafkafetch.ListOffsets(ctx, cl, topic, parts, sarama.OffsetNewest, sarama.ReadUncommitted)
	})
	if err != nil {
		return nil, 0, err
	}
	states, err := withRetry(ctx, func() (map[int32][]sarama.ProducerState, error) {
		return describeProducers(ctx, cl, topic, parts)
	})
	if err != nil {
		return nil, 0, err
	}
	return openFromStates(topic, parts, states, lso, hw), len(parts), nil
}

// openFromStates returns the open transactions in the producer states of
// the partitions, sorted by partition and start offset: producers without
// a transaction start offset (idempotent producers, ended transactions) are
// left out.
func openFromStates(topic string, parts []int32, states map[int32][]sarama.ProducerState, lso, hw map[int32]int64) []openTxn {
	var out []openTxn
	for _, p := range parts {
		for _, s := range states[p] {
			if s.CurrentTxnStartOffset < 0 {
				continue // idempotent producer or no open transaction here
			}
			o := openTxn{topic: topic, partition: p, producerID: s.ProducerID, epoch: s.ProducerEpoch,
				start: s.CurrentTxnStartOffset, lso: lso[p], hw: hw[p]}
			if s.LastTimestamp >= 0 {
				o.lastWrite = time.UnixMilli(s.LastTimestamp)
			}
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b openTxn) int {
		if a.partition != b.partition {
			return int(a.partition - b.partition)
		}
		return int(a.start - b.start)
	})
	return out
}

// describeProducers sends one DescribeProducers request to the leader of
// each group of partitions and returns the active producers per partition.
// Any error, including a partition's error code, fails the call.
func describeProducers(ctx context.Context, cl sarama.Client, topic string, parts []int32) (map[int32][]sarama.ProducerState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	byLeader := map[*sarama.Broker][]int32{}
	for _, p := range parts {
		b, err := cl.Leader(topic, p)
		if err != nil {
			_ = cl.RefreshMetadata(topic)
			return nil, fmt.Errorf("find the leader of %s/%d: %w", topic, p, err)
		}
		byLeader[b] = append(byLeader[b], p)
	}
	out := make(map[int32][]sarama.ProducerState, len(parts))
	for b, ps := range byLeader {
		req := &sarama.DescribeProducersRequest{Version: 0, Topics: []sarama.DescribeProducersRequestTopic{{Name: topic, PartitionIndexes: ps}}}
		resp, err := b.DescribeProducers(req)
		if errors.Is(err, sarama.ErrUnsupportedVersion) {
			return nil, fmt.Errorf("describe the producers of %s on broker %s: %w (DescribeProducers needs Kafka 2.8 or later; raise --kafka-version if the cluster is newer)", topic, b.Addr(), err)
		}
		if err != nil {
			_ = b.Close()
			_ = cl.RefreshMetadata(topic)
			return nil, fmt.Errorf("describe the producers of %s on broker %s: %w", topic, b.Addr(), err)
		}
		seen := map[int32]bool{}
		for _, rt := range resp.Topics {
			if rt.Name != topic {
				continue
			}
			for _, rp := range rt.Partitions {
				if !slices.Contains(ps, rp.PartitionIndex) {
					continue
				}
				if !errors.Is(rp.ErrorCode, sarama.ErrNoError) {
					if kafkafetch.Retriable(rp.ErrorCode) {
						_ = cl.RefreshMetadata(topic)
					}
					msg := ""
					if rp.ErrorMessage != nil && *rp.ErrorMessage != "" {
						msg = " (" + *rp.ErrorMessage + ")"
					}
					return nil, fmt.Errorf("describe the producers of %s/%d: %w%s", topic, rp.PartitionIndex, rp.ErrorCode, msg)
				}
				seen[rp.PartitionIndex] = true
				out[rp.PartitionIndex] = rp.ActiveProducers
			}
		}
		for _, p := range ps {
			if !seen[p] {
				return nil, fmt.Errorf("describe the producers of %s/%d: broker %s did not answer for the partition", topic, p, b.Addr())
			}
		}
	}
	return out, nil
}
