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

	"github.com/kafkaes/kafkaes/internal/kafkaauth"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// More headers of dead-letter records (see headerDLQProjection).
const (
	headerDLQTopic     = wire.HeaderDLQTopic
	headerDLQPartition = wire.HeaderDLQPartition
	headerDLQOffset    = wire.HeaderDLQOffset
	headerDLQAttempts  = wire.HeaderDLQAttempts
	headerDLQTime      = wire.HeaderDLQTime
	headerDLQParked    = wire.HeaderDLQParked
	headerDLQAction    = wire.HeaderDLQAction
	headerDLQBy        = wire.HeaderDLQBy
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
	// Release is a retry or drop asked for and not acted upon yet
	// ("retry by ada"); LastReleaseError why the last one failed.
	Release          string `json:"release,omitempty"`
	LastReleaseError string `json:"last_release_error,omitempty"`
}

// runDLQ lists the streams a projection dead-lettered (list) or prints
// one stream's dead letters (show), reading the dead-letter topic
// (<topic>.dlq unless --dlq-topic) read_committed from start to end.
func runDLQ(ctx context.Context, e *env, args []string) int {
	what := args[0]
	switch {
	case what == "list" && len(args) == 1:
	case what == "show" && len(args) == 2 && args[1] != "":
	case (what == "retry" || what == "drop") && len(args) == 2 && args[1] != "":
		if e.opts.projection == "" {
			e.errorf("dlq %s: name the projection with --projection (dlq list shows the projections of each parked stream)", what)
			return exitUsage
		}
	default:
		e.errorf("dlq: want `dlq list`, `dlq show <stream-id>`, `dlq retry <stream-id> --projection NAME` or `dlq drop <stream-id> --projection NAME`")
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
	if what == "retry" || what == "drop" {
		// Writing needs Write on the topic only (no read first).
		return releaseStream(ctx, e, cl, topic, what, args[1])
	}
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
	type letter struct {
		offset  int64
		version int64
		parked  bool
		reason  string
		at      string
		release string // of a release record: "retry by ada"
	}
	states := map[key]*wire.DLQStream[letter]{}
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
			if stream != args[1] || h(headerDLQAction) != "" { // letters only, not releases
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
		st := states[k]
		if st == nil {
			st = &wire.DLQStream[letter]{}
			states[k] = st
			order = append(order, k)
		}
		// A release is kept as a letter value too: its action and who
		// asked, in reason.
		st.Add(letter{r.offset, version, parked, h(headerDLQError), h(headerDLQTime), h(headerDLQAction) + " by " + h(headerDLQBy)},
			r.partition, r.offset, r.headers)
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
	var listed int
	slices.SortFunc(order, func(a, b key) int {
		if c := cmp.Compare(a.projection, b.projection); c != 0 {
			return c
		}
		return cmp.Compare(a.stream, b.stream)
	})
	for _, k := range order {
		st := states[k]
		if len(st.Letters) == 0 {
			continue // released
		}
		sl := streamLetters{Projection: k.projection, Stream: k.stream, Letters: len(st.Letters),
			FirstVersion: st.Letters[0].version, FirstReason: st.Letters[0].reason, LastReleaseError: st.LastReleaseError}
		if st.Release != nil {
			sl.Release = st.Release.release
		}
		for _, l := range st.Letters {
			if !l.parked {
				sl.Failed++
			}
			if l.version < sl.FirstVersion {
				sl.FirstVersion, sl.FirstReason = l.version, l.reason
			}
			sl.LastVersion = max(sl.LastVersion, l.version)
			sl.LastTime = l.at
		}
		listed++
		if err := enc.Encode(sl); err != nil {
			e.errorf("%v", err)
			return exitFailure
		}
	}
	if !e.quiet {
		fmt.Fprintf(e.stderr, "%d parked streams in %s\n", listed, topic)
	}
	return exitOK
}

// releaseStream writes a retry or drop of a parked stream to the
// dead-letter topic, as kafkaprojection.DLQ.Release does: the runner that
// reads the stream's partition acts on it (before the partition's next
// delivery, or when it starts), and writes the outcome next to it, which
// dlq list shows.
func releaseStream(ctx context.Context, e *env, cl sarama.Client, topic, action, stream string) int {
	by := e.opts.by
	if by == "" {
		by = e.getenv("USER")
	}
	if by == "" {
		e.errorf("dlq %s: say who asks with --by (kept in the topic)", action)
		return exitUsage
	}
	cfg := *cl.Config()
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Partitioner = wire.NewPartitioner // a stream's records and releases share a partition
	var addrs []string
	for _, b := range cl.Brokers() {
		addrs = append(addrs, b.Addr())
	}
	p, err := sarama.NewSyncProducer(addrs, &cfg)
	if err != nil {
		// An idempotent producer needs Write on a topic (or
		// IdempotentWrite on the cluster) for its producer ID.
		e.errorf("%v", kafkaauth.Wrap(err, &cfg, "dlq "+action+": start a producer", "Write", kafkaauth.Topic, topic, false))
		return exitFailure
	}
	defer p.Close()
	msg := wire.DLQReleaseMessage(topic, e.opts.projection, stream, map[string]string{headerDLQAction: action, headerDLQBy: by})
	if err := ctx.Err(); err != nil {
		e.errorf("dlq %s: %v", action, err)
		return exitFailure
	}
	part, off, err := p.SendMessage(msg)
	if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		e.errorf("dead-letter topic %q does not exist: no projection with a dead-letter sink wrote there (pass --dlq-topic for another name)", topic)
		return exitFailure
	}
	if err != nil {
		e.errorf("%v", kafkaauth.Wrap(err, &cfg, "dlq "+action+": write to "+topic, "Write", kafkaauth.Topic, topic, false))
		return exitFailure
	}
	fmt.Fprintf(e.stdout, "%s of stream %q of projection %q asked by %s (%s/%d at offset %d); the runner reading the stream's partition acts on it before its next delivery or when it starts; dlq list shows the outcome\n",
		action, stream, e.opts.projection, by, topic, part, off)
	return exitOK
}
