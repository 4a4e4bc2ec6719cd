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

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/kafkaauth"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
)

// countLimit is the offset lag per partition up to which projection status
// counts the events behind exactly (reading them); above it, only the
// offset difference is shown.
const countLimit = 100_000

// groupState is what the cluster knows of a projection's consumer group.
type groupState struct {
	state   string
	members int
	// committed holds the committed offset per topic and partition (-1:
	// none).
	committed map[string]map[int32]int64
}

// loadGroup returns what the cluster knows of group. DescribeGroups and
// OffsetFetch need Describe on the group; a denial names op, the
// operation the whole command needs (Describe for status, Read, which
// implies it, for rebuild).
func loadGroup(admin sarama.ClusterAdmin, cfg *sarama.Config, group, op string) (*groupState, error) {
	gs, err := loadGroupState(admin, group)
	if kafkaauth.Fatal(err) {
		return nil, kafkaauth.Wrap(err, cfg, fmt.Sprintf("look at consumer group %q", group), op, kafkaauth.Group, group, false)
	}
	return gs, err
}

func loadGroupState(admin sarama.ClusterAdmin, group string) (*groupState, error) {
	descs, err := admin.DescribeConsumerGroups([]string{group})
	if err != nil {
		return nil, fmt.Errorf("describe consumer group %q: %w", group, err)
	}
	gs := &groupState{committed: map[string]map[int32]int64{}}
	for _, d := range descs {
		if d.GroupId != group {
			continue
		}
		if !errors.Is(d.Err, sarama.ErrNoError) && d.Err != 0 {
			return nil, fmt.Errorf("describe consumer group %q: %w", group, d.Err)
		}
		gs.state, gs.members = d.State, len(d.Members)
	}
	resp, err := admin.ListConsumerGroupOffsets(group, nil)
	if errors.Is(err, sarama.ErrGroupIDNotFound) {
		return gs, nil // a group that never committed (real Kafka answers with no offsets instead)
	}
	if err != nil {
		return nil, fmt.Errorf("list the offsets of consumer group %q: %w", group, err)
	}
	if errors.Is(resp.Err, sarama.ErrGroupIDNotFound) {
		return gs, nil
	}
	if resp.Err != 0 && !errors.Is(resp.Err, sarama.ErrNoError) {
		return nil, fmt.Errorf("list the offsets of consumer group %q: %w", group, resp.Err)
	}
	for topic, parts := range resp.Blocks {
		for p, b := range parts {
			if b == nil || (b.Err != 0 && !errors.Is(b.Err, sarama.ErrNoError)) {
				continue
			}
			if gs.committed[topic] == nil {
				gs.committed[topic] = map[int32]int64{}
			}
			gs.committed[topic][p] = b.Offset
		}
	}
	return gs, nil
}

// groupTopics returns the topics to report on: --topic when given, else the
// topics the group has committed offsets for.
func groupTopics(e *env, gs *groupState) []string {
	if e.topicExplicit {
		var ts []string
		for t := range strings.SplitSeq(e.topic, ",") {
			if t = strings.TrimSpace(t); t != "" {
				ts = append(ts, t)
			}
		}
		return ts
	}
	var ts []string
	for t := range gs.committed {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

func runProjection(ctx context.Context, e *env, args []string) int {
	sub := args[0]
	if sub != "status" && sub != "rebuild" {
		return usageError(e, fmt.Errorf("projection takes status or rebuild, not %q", sub), "projection")
	}
	if e.opts.group == "" {
		return usageError(e, errors.New("projection needs --group, the consumer group ID the projection consumes with"), "projection")
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
	op := "Describe"
	if sub == "rebuild" {
		op = "Read"
	}
	gs, err := loadGroup(admin, cl.Config(), e.opts.group, op)
	if err != nil {
		e.errorf("%v", err)
		return exitFailure
	}
	topics := groupTopics(e, gs)
	if len(topics) == 0 {
		e.errorf("consumer group %q has no committed offsets (state %q): is the projection running with this group ID? "+
			"Name the events topic with --topic to see its full lag. Projections that keep their checkpoint in their own database "+
			"(a projection.CheckpointStore) commit no group offsets; look at their checkpoint table instead.", e.opts.group, orDash(gs.state))
		return exitFailure
	}
	// A process manager (kafkaprojection.ProcessCommitter) resumes from
	// the later of the group's offset and its position records.
	positions := map[string]eventstore.Checkpoint{}
	for _, topic := range topics {
		pos, found, err := kafkaprojection.ReadPositions(ctx, cl, topic, e.opts.group, "")
		if kafkaauth.IsAuthorization(err) {
			// Most groups are no process managers: a principal without
			// Describe on a positions topic that may not exist still
			// gets the group's status.
			e.errorf("note: cannot see %s (the positions topic the group would have if it is a process manager): %v; "+
				"a process manager's positions are not taken into account", kafkaprojection.DefaultPositionTopic(topic, e.opts.group), err)
			continue
		}
		if err != nil {
			e.errorf("read the process positions of group %q on %s: %v", e.opts.group, topic, err)
			return exitFailure
		}
		if found {
			positions[topic] = pos
		}
	}
	if sub == "status" {
		return projectionStatus(ctx, e, cl, gs, topics, positions)
	}
	if len(positions) > 0 {
		for topic := range positions {
			e.errorf("consumer group %q is a process manager: it keeps its positions in %s as well as in its group offsets, and resumes from the later of the two, "+
				"so resetting the group's offsets does not move it back. Re-running a process manager repeats its decisions' effects (the commands and events it appends). "+
				"To do it deliberately: stop every instance, delete the positions topic (kafka-topics.sh --delete --topic %s), then run rebuild again",
				e.opts.group, kafkaprojection.DefaultPositionTopic(topic, e.opts.group), kafkaprojection.DefaultPositionTopic(topic, e.opts.group))
		}
		return exitFailure
	}
	return projectionRebuild(ctx, e, cl, gs, topics)
}

func projectionStatus(ctx context.Context, e *env, cl sarama.Client, gs *groupState, topics []string, positions map[string]eventstore.Checkpoint) int {
	fmt.Fprintf(e.stdout, "group %s: state %s, %s\n", e.opts.group, orDash(gs.state), plural(gs.members, "member", "members"))
	for _, topic := range topics {
		if _, ok := positions[topic]; ok {
			fmt.Fprintf(e.stdout, "process manager: positions in %s; POSITION is its last position record, where it resumes when later than COMMITTED\n",
				kafkaprojection.DefaultPositionTopic(topic, e.opts.group))
		}
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
	header := "TOPIC\tPARTITION\tCOMMITTED\tEND\tOFFSET-LAG\tEVENTS-BEHIND\t"
	if len(positions) > 0 {
		header = "TOPIC\tPARTITION\tCOMMITTED\tPOSITION\tEND\tOFFSET-LAG\tEVENTS-BEHIND\t"
	}
	fmt.Fprintln(tw, header)
	var totalOffsets, totalEvents int64
	exact := true
	for _, topic := range topics {
		rd := newReader(cl, topic)
		parts, start, end, err := rd.bounds(ctx)
		if err != nil {
			e.errorf("%v", err)
			return exitFailure
		}
		for _, p := range parts {
			committed, ok := gs.committed[topic][p]
			from := committed
			shown := fmt.Sprint(committed)
			if !ok || committed < 0 {
				from, shown = start[p], "none"
			}
			if len(positions) > 0 {
				pos, isPM := positions[topic]
				at, has := pos[p]
				switch {
				case !isPM:
					shown += "\t-"
				case has:
					from = max(from, at)
					shown += "\t" + fmt.Sprint(at)
				default:
					shown += "\tnone"
				}
			}
			from = max(from, start[p])
			lag := max(0, end[p]-from)
			totalOffsets += lag
			behind := "-"
			if lag <= countLimit {
				// Markers and aborted records take offsets too: count the
				// events a read_committed consumer would still get.
				n := int64(0)
				err := rd.scan(ctx, map[int32]int64{p: from}, map[int32]int64{p: end[p]}, func(rec) error { n++; return nil }, nil)
				if err != nil {
					e.errorf("count the events behind on %s/%d: %v", topic, p, err)
					return exitFailure
				}
				behind = fmt.Sprint(n)
				totalEvents += n
			} else {
				exact = false
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%s\t\n", topic, p, shown, end[p], lag, behind)
		}
	}
	tw.Flush()
	total := fmt.Sprint(totalEvents)
	if !exact {
		total = fmt.Sprintf("at least %d (partitions more than %d offsets behind were not counted)", totalEvents, countLimit)
	}
	fmt.Fprintf(e.stdout, "total: offset lag %d, events behind %s\n", totalOffsets, total)
	return exitOK
}

// projectionRebuild resets the group's committed offsets to the start of
// the log, so the projection replays every event when it starts again.
func projectionRebuild(ctx context.Context, e *env, cl sarama.Client, gs *groupState, topics []string) int {
	if gs.members > 0 || (gs.state != "" && gs.state != "Empty" && gs.state != "Dead") {
		e.errorf("consumer group %q is %s with %s: stop every instance of the projection first, then run rebuild again (Kafka only lets an empty group's offsets be reset)",
			e.opts.group, gs.state, plural(gs.members, "member", "members"))
		return exitFailure
	}
	type change struct {
		topic      string
		partition  int32
		from, to   int64
		hadCommits bool
	}
	var changes []change
	for _, topic := range topics {
		rd := newReader(cl, topic)
		parts, err := rd.partitions()
		if err != nil {
			e.errorf("%v", err)
			return exitFailure
		}
		start, err := rd.offsets(ctx, parts, sarama.OffsetOldest)
		if err != nil {
			e.errorf("%v", err)
			return exitFailure
		}
		for _, p := range parts {
			c, ok := gs.committed[topic][p]
			if !ok {
				c = -1
			}
			changes = append(changes, change{topic, p, c, start[p], ok && c >= 0})
		}
	}
	for _, c := range changes {
		from := "none"
		if c.hadCommits {
			from = fmt.Sprint(c.from)
		}
		fmt.Fprintf(e.stdout, "%s/%d: committed offset %s -> %d\n", c.topic, c.partition, from, c.to)
	}
	if !e.opts.yes {
		fmt.Fprintf(e.stdout, "dry run: nothing changed. Run again with --yes to reset consumer group %q to the start of the log.\n", e.opts.group)
		return exitUsage
	}
	coord, err := cl.Coordinator(e.opts.group)
	if err != nil {
		e.errorf("find the coordinator of consumer group %q: %v", e.opts.group, err)
		return exitFailure
	}
	req := sarama.NewOffsetCommitRequest(cl.Config(), e.opts.group)
	now := time.Now().UnixMilli()
	for _, c := range changes {
		req.AddBlock(c.topic, c.partition, c.to, now, "kafkaes projection rebuild")
	}
	resp, err := coord.CommitOffset(req)
	if err != nil {
		err = kafkaauth.Wrap(err, cl.Config(), fmt.Sprintf("commit the reset offsets of consumer group %q", e.opts.group), "Read", kafkaauth.Group, e.opts.group, false)
		e.errorf("commit the reset offsets of consumer group %q: %v", e.opts.group, err)
		return exitFailure
	}
	failed := 0
	for topic, parts := range resp.Errors {
		for p, kerr := range parts {
			if kerr != sarama.ErrNoError {
				failed++
				what := fmt.Sprintf("reset %s/%d for group %q", topic, p, e.opts.group)
				switch {
				case errors.Is(kerr, sarama.ErrGroupAuthorizationFailed):
					e.errorf("%v", kafkaauth.Wrap(kerr, cl.Config(), what, "Read", kafkaauth.Group, e.opts.group, false))
				case errors.Is(kerr, sarama.ErrTopicAuthorizationFailed):
					e.errorf("%v", kafkaauth.Wrap(kerr, cl.Config(), what, "Read", kafkaauth.Topic, topic, false))
				default:
					e.errorf("%s: %v", what, kerr)
				}
			}
		}
	}
	if failed > 0 {
		if gs.members == 0 {
			e.errorf("if an instance of the projection started meanwhile, stop it and run rebuild again")
		}
		return exitFailure
	}
	fmt.Fprintf(e.stdout, "consumer group %q reset to the start of the log: the projection replays every event when it starts again.\n", e.opts.group)
	fmt.Fprint(e.stdout, `The read model itself was not touched: clear it before the projection
starts again, or make sure its handlers tolerate seeing every event again.
For a rebuild without downtime, build the new read model under a new
projection name (Runner.CatchUp) and switch over when it has caught up.
`)
	return exitOK
}
