package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/internal/kafkaauth"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// Headers of dead-letter records (internal/wire defines them for
// projection/kafkaprojection, which writes them, and for the CLI, which
// does not import that package).
const (
	headerDLQProjection = wire.HeaderDLQProjection
	headerDLQError      = wire.HeaderDLQError
)

// Topic kinds.
const (
	kindEvents    = "events"
	kindSnapshots = "snapshots"
	kindDLQ       = "dead-letter"
	kindOther     = "other"
	kindEmpty     = "empty"
)

// topicInfo is what topics shows for one topic.
type topicInfo struct {
	name       string
	kind       string
	partitions int32
	rf         int16
	config     map[string]string
	problems   []string // violations
	notes      []string
}

// runTopics lists the kafkaes topics of the cluster (or the --topic ones),
// tells events topics from snapshot topics by their first records, and
// checks their configuration: events topics must keep events forever
// (cleanup.policy=delete, retention.ms=-1, retention.bytes=-1), snapshot
// topics must be compacted.
//
// With the argument "hanging" it runs runTopicsHanging instead.
func runTopics(ctx context.Context, e *env, args []string) int {
	if len(args) == 1 {
		if args[0] != "hanging" {
			return usageError(e, fmt.Errorf("topics takes no argument or hanging, not %q", args[0]), "topics")
		}
		return runTopicsHanging(ctx, e)
	}
	cl := e.connect()
	if cl == nil {
		return exitFailure
	}
	admin, err := sarama.NewClusterAdminFromClient(cl)
	if err != nil {
		cl.Close()
		e.errorf("admin client: %v", err)
		return exitFailure
	}
	defer admin.Close() // closes cl too
	details, err := admin.ListTopics()
	if err != nil {
		e.errorf("list topics: %v", err)
		return exitFailure
	}
	var names []string
	if e.topicExplicit {
		for t := range strings.SplitSeq(e.topic, ",") {
			if t = strings.TrimSpace(t); t == "" {
				continue
			}
			if _, ok := details[t]; !ok {
				// The topic list leaves out topics the ACLs hide from the
				// user: ask for the topic itself to tell the two apart.
				if _, err := newReader(cl, t).partitions(); kafkaauth.Fatal(err) {
					e.errorf("%v", err)
					return exitFailure
				}
				e.errorf("topic %q does not exist", t)
				return exitFailure
			}
			names = append(names, t)
		}
	} else {
		for t := range details {
			if !internalTopic(t) {
				names = append(names, t)
			}
		}
	}
	slices.Sort(names)
	configs, err := describeTopics(admin, cl.Config(), names)
	if err != nil {
		e.errorf("%v", err)
		return exitFailure
	}
	var infos []*topicInfo
	for i, name := range names {
		if err := ctx.Err(); err != nil {
			e.errorf("%v", err)
			return exitFailure
		}
		if len(names) > 20 && i%20 == 0 {
			e.progressf("topics: sampling %d/%d topics", i, len(names))
		}
		d := details[name]
		config, ok := configs[name]
		if !ok {
			continue // deleted since it was listed
		}
		ti := &topicInfo{name: name, partitions: d.NumPartitions, rf: d.ReplicationFactor, config: config}
		kind, err := sampleKind(ctx, cl, name)
		if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			continue // deleted while it was read
		}
		if err != nil {
			e.errorf("read the first records of %q: %v", name, err)
			return exitFailure
		}
		ti.kind = kind
		if kind == kindEmpty && e.topicExplicit {
			ti.kind = kindEvents // the user named it as an events topic
		}
		// No guessing by name: a topic is ours when its records say so
		// (a Schema Registry's "_…-snapshots" topic is not a snapshot topic).
		checkTopic(ti)
		if ti.kind == kindOther && !e.opts.all && !e.topicExplicit {
			continue
		}
		infos = append(infos, ti)
	}
	if len(infos) == 0 {
		if e.opts.all {
			fmt.Fprintln(e.stdout, "the cluster has no topics (apart from Kafka's internal ones)")
		} else {
			fmt.Fprintln(e.stdout, "no kafkaes topics found (use --all to list every topic)")
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tTOPIC\tPARTITIONS\tRF\tCLEANUP.POLICY\tRETENTION.MS\tSTATUS")
	violations := 0
	for _, ti := range infos {
		status := "ok"
		switch {
		case len(ti.problems) > 0:
			status = fmt.Sprintf("VIOLATION (%d)", len(ti.problems))
			violations += len(ti.problems)
		case ti.kind == kindOther || ti.kind == kindEmpty || ti.kind == kindDLQ:
			status = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\n", ti.kind, ti.name, ti.partitions, ti.rf,
			orDash(ti.config["cleanup.policy"]), orDash(ti.config["retention.ms"]), status)
	}
	tw.Flush()
	for _, ti := range infos {
		for _, p := range ti.problems {
			fmt.Fprintf(e.stdout, "VIOLATION %s topic %s: %s\n", ti.kind, ti.name, p)
		}
		for _, n := range ti.notes {
			fmt.Fprintf(e.stdout, "note: %s topic %s: %s\n", ti.kind, ti.name, n)
		}
	}
	if violations > 0 {
		return exitViolation
	}
	return exitOK
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// internalTopic reports whether t is a topic of Kafka or the Schema
// Registry itself.
func internalTopic(t string) bool {
	return strings.HasPrefix(t, "__") || t == "_schemas" || strings.HasPrefix(t, "_confluent")
}

// describeTopics returns the effective configuration (defaults included)
// of the topics; a topic deleted since it was listed is left out.
func describeTopics(admin sarama.ClusterAdmin, cfg *sarama.Config, names []string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for chunk := range slices.Chunk(names, 100) {
		res := make([]*sarama.ConfigResource, 0, len(chunk))
		for _, n := range chunk {
			res = append(res, &sarama.ConfigResource{Type: sarama.TopicResource, Name: n})
		}
		results, err := admin.DescribeConfigs(res, sarama.DescribeConfigsOptions{})
		if err != nil {
			return nil, fmt.Errorf("describe the configuration of the topics: %w", err)
		}
		for _, r := range results {
			if r.ErrorCode == sarama.ErrUnknownTopicOrPartition {
				continue // deleted since it was listed: not in the answer
			}
			if r.ErrorCode != 0 {
				what := fmt.Sprintf("describe the configuration of topic %q", r.Name)
				if kafkaauth.Fatal(r.ErrorCode) {
					return nil, kafkaauth.Wrap(r.ErrorCode, cfg, what, "DescribeConfigs", kafkaauth.Topic, r.Name, false)
				}
				return nil, fmt.Errorf("%s: %w (%s)", what, r.ErrorCode, r.ErrorMsg)
			}
			m := map[string]string{}
			for _, c := range r.Configs {
				m[c.Name] = c.Value
			}
			out[r.Name] = m
		}
	}
	return out, nil
}

// sampleKind reads the first committed record of each partition and tells
// from its headers what the topic holds: event records carry es.version
// and es.id, snapshot records es.version and es.type without es.id, dead
// letters dlq.projection or dlq.error. Anything else is another
// application's topic, whatever its name.
func sampleKind(ctx context.Context, cl sarama.Client, topic string) (string, error) {
	rd := newReader(cl, topic)
	rd.maxBytes = 64 << 10
	rd.maxWait = 10 * time.Millisecond
	parts, start, end, err := rd.bounds(ctx)
	if err != nil {
		return "", err
	}
	from := map[int32]int64{}
	for _, p := range parts {
		if start[p] < end[p] {
			from[p] = start[p]
		}
	}
	if len(from) == 0 {
		return kindEmpty, nil
	}
	res, err := rd.fetch(ctx, from)
	if err != nil {
		return "", err
	}
	kind := kindEmpty // only aborted records or markers so far
	for _, p := range sortedKeys(res) {
		if recs := res[p].Records; len(recs) > 0 { // the partition's first committed record decides
			r := recs[0]
			_, hasVersion := wire.Header(r.Headers, wire.HeaderVersion)
			_, hasID := wire.Header(r.Headers, wire.HeaderID)
			_, hasType := wire.Header(r.Headers, wire.HeaderType)
			_, dlqProjection := wire.Header(r.Headers, headerDLQProjection)
			_, dlqError := wire.Header(r.Headers, headerDLQError)
			switch {
			case dlqProjection || dlqError:
				return kindDLQ, nil
			case hasVersion && hasID:
				return kindEvents, nil
			case hasVersion && hasType:
				return kindSnapshots, nil
			default:
				kind = kindOther
			}
		}
	}
	return kind, nil
}

// checkTopic fills the problems and notes of a topic from its kind and
// configuration.
func checkTopic(ti *topicInfo) {
	cfg := ti.config
	fix := func(key, value string) string {
		return fmt.Sprintf("fix: kafka-configs.sh --bootstrap-server ... --alter --entity-type topics --entity-name %s --add-config %s=%s", ti.name, key, value)
	}
	switch ti.kind {
	case kindEvents:
		if p := cfg["cleanup.policy"]; p != "delete" {
			ti.problems = append(ti.problems, fmt.Sprintf("cleanup.policy=%s, want delete: compaction deletes events, which are the source of truth; %s", orDash(p), fix("cleanup.policy", "delete")))
		}
		if r := cfg["retention.ms"]; r != "-1" {
			ti.problems = append(ti.problems, fmt.Sprintf("retention.ms=%s%s, want -1: Kafka deletes events older than that; %s", orDash(r), humanMillis(r), fix("retention.ms", "-1")))
		}
		if b, ok := cfg["retention.bytes"]; ok && b != "-1" {
			ti.problems = append(ti.problems, fmt.Sprintf("retention.bytes=%s, want -1: Kafka deletes the oldest events beyond that size; %s", b, fix("retention.bytes", "-1")))
		}
	case kindSnapshots:
		p := cfg["cleanup.policy"]
		if !strings.Contains(p, "compact") {
			ti.problems = append(ti.problems, fmt.Sprintf("cleanup.policy=%s, want compact: a snapshot topic keeps the latest snapshot per stream; without compaction it grows forever or loses snapshots by retention; %s", orDash(p), fix("cleanup.policy", "compact")))
		} else if strings.Contains(p, "delete") {
			ti.notes = append(ti.notes, fmt.Sprintf("cleanup.policy=%s also deletes old snapshots by retention; loads then replay more events (not an error)", p))
		}
	default:
		return
	}
	if ti.rf > 0 && ti.rf < 3 {
		ti.notes = append(ti.notes, fmt.Sprintf("replication factor %d: fine for development; production needs 3 or more with min.insync.replicas=2", ti.rf))
	} else if m := cfg["min.insync.replicas"]; ti.rf >= 3 && m == "1" {
		ti.notes = append(ti.notes, "min.insync.replicas=1: an acknowledged append can be lost with one broker; production needs 2")
	}
}

// humanMillis returns " (7 days)" for a retention in milliseconds.
func humanMillis(ms string) string {
	var n int64
	if _, err := fmt.Sscan(ms, &n); err != nil || n < 0 {
		return ""
	}
	d := time.Duration(n) * time.Millisecond
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf(" (%s)", plural64(int64(d/(24*time.Hour)), "day", "days"))
	}
	return fmt.Sprintf(" (%s)", d)
}
