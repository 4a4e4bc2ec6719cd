package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/internal/wire"
)

// More headers of dead-letter records (see headerDLQProjection).
const (
	headerDLQTopic     = "dlq.topic"
	headerDLQPartition = "dlq.partition"
	headerDLQOffset    = "dlq.offset"
	headerDLQAttempts  = "dlq.attempts"
	headerDLQTime      = "dlq.time"
	headerDLQParked    = "dlq.parked"
)

// letterLine is how `dlq show` prints one dead letter: the event as
// `stream` prints it (topic, partition and offset are those of the letter
// in the dead-letter topic) and where it came from and why.
type letterLine struct {
	eventLine
	Projection string `json:"projection"`
	Reason     string `json:"reason"`
	// Parked is set for an event that did not fail itself but followed
	// an earlier dead letter of its stream (kept in order behind it).
	Parked          bool   `json:"parked"`
	Attempts        int    `json:"attempts,omitempty"`
	DeadLetteredAt  string `json:"dead_lettered_at,omitempty"`
	OriginTopic     string `json:"origin_topic,omitempty"`
	OriginPartition *int32 `json:"origin_partition,omitempty"`
	OriginOffset    *int64 `json:"origin_offset,omitempty"`
}

// streamLetters is how `dlq list` prints one parked stream of a projection.
type streamLetters struct {
	Projection string `json:"projection"`
	Stream     string `json:"stream"`
	// Letters counts the stream's dead letters, Failed those that failed
	// themselves (the others are parked behind them).
	Letters int `json:"letters"`
	Failed  int `json:"failed"`
	// FirstVersion is the version the stream is parked from: the runner
	// delivers none of its later events until the letters are dealt with.
	FirstVersion int64  `json:"first_version"`
	LastVersion  int64  `json:"last_version"`
	FirstReason  string `json:"first_reason"`
	LastTime     string `json:"last_time,omitempty"`
}

// runDLQ lists the streams a projection dead-lettered (list) or prints
// one stream's dead letters (show), reading the dead-letter topic
// (<topic>.dlq unless --dlq-topic) read_committed from start to end.
func runDLQ(ctx context.Context, e *env, args []string) int {
	what := args[0]
	switch {
	case what == "list" && len(args) == 1:
	case what == "show" && len(args) == 2 && args[1] != "":
	default:
		e.errorf("dlq: want `dlq list` or `dlq show <stream-id>`")
		return exitUsage
	}
	topic := e.opts.dlqTopic
	if topic == "" {
		topic = e.topic + ".dlq"
	}
	cl := e.connect()
	if cl == nil {
		return exitFailure
	}
	defer cl.Close()
	rd := newReader(cl, topic)
	parts, start, end, err := rd.bounds(ctx)
	if err != nil {
		if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			e.errorf("dead-letter topic %q does not exist: no projection with a dead-letter sink wrote there (its name is <events topic>.dlq unless the service chose another; pass --dlq-topic)", topic)
		} else {
			e.errorf("%v", err)
		}
		return exitFailure
	}
	var reg *registry
	if e.registry != "" {
		reg = newRegistry(e.registry, e.timeout, e.registryOpts...)
	}
	pr := newPrinter(e.stdout, topic, reg)
	enc := json.NewEncoder(e.stdout)
	enc.SetEscapeHTML(false)
	type key struct{ projection, stream string }
	summary := map[key]*streamLetters{}
	var order []key
	shown := 0
	prog := newProgress(e, fmt.Sprintf("dlq %s: reading %s", what, topic), start, end)
	err = rd.scan(ctx, start, end, func(r rec) error {
		h := func(k string) string {
			v, _ := wire.Header(r.headers, k)
			return string(v)
		}
		projection := h(headerDLQProjection)
		if e.opts.projection != "" && projection != e.opts.projection {
			return nil
		}
		stream := string(r.key)
		version := int64(0)
		if v, ok := wire.Header(r.headers, wire.HeaderVersion); ok {
			version, _ = wire.ParseVersion(v)
		}
		parked := h(headerDLQParked) == "true"
		if what == "show" {
			if stream != args[1] {
				return nil
			}
			l := letterLine{eventLine: pr.line(r), Projection: projection, Reason: h(headerDLQError), Parked: parked,
				DeadLetteredAt: h(headerDLQTime), OriginTopic: h(headerDLQTopic)}
			l.Attempts, _ = strconv.Atoi(h(headerDLQAttempts))
			if p, err := strconv.ParseInt(h(headerDLQPartition), 10, 32); err == nil {
				p32 := int32(p)
				l.OriginPartition = &p32
			}
			if o, err := strconv.ParseInt(h(headerDLQOffset), 10, 64); err == nil {
				l.OriginOffset = &o
			}
			shown++
			return enc.Encode(l)
		}
		k := key{projection, stream}
		s := summary[k]
		if s == nil {
			s = &streamLetters{Projection: projection, Stream: stream, FirstVersion: version, FirstReason: h(headerDLQError)}
			summary[k] = s
			order = append(order, k)
		}
		s.Letters++
		if !parked {
			s.Failed++
		}
		if version < s.FirstVersion {
			s.FirstVersion, s.FirstReason = version, h(headerDLQError)
		}
		s.LastVersion = max(s.LastVersion, version)
		s.LastTime = h(headerDLQTime)
		return nil
	}, prog.update)
	prog.finish()
	if err != nil {
		e.errorf("read dead-letter topic %s: %v", topic, err)
		return exitFailure
	}
	if what == "show" {
		if shown == 0 {
			e.errorf("stream %q has no dead letters in %s (partitions %v)", args[1], topic, parts)
			return exitViolation
		}
		return exitOK
	}
	slices.SortFunc(order, func(a, b key) int {
		if c := cmp.Compare(a.projection, b.projection); c != 0 {
			return c
		}
		return cmp.Compare(a.stream, b.stream)
	})
	for _, k := range order {
		if err := enc.Encode(summary[k]); err != nil {
			e.errorf("%v", err)
			return exitFailure
		}
	}
	if !e.quiet {
		fmt.Fprintf(e.stderr, "%d parked streams in %s\n", len(order), topic)
	}
	return exitOK
}
