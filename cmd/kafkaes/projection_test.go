package main

import (
	"context"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/wire"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
	"github.com/kafkaes/kafkaes/serde"
)

type happened struct {
	N int `json:"n"`
}

// newRunner returns a projection runner that counts the events it handles.
func newRunner(t *testing.T, n *atomic.Int64) *projection.Runner {
	t.Helper()
	reg := serde.NewRegistry()
	serde.MustRegister[happened](reg, "test.Happened")
	r, err := projection.New("counter", serde.NewJSON(reg), []projection.Handler{
		projection.On(func(_ context.Context, _ happened, _ projection.Meta) error {
			n.Add(1)
			return nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newGroupSource(t *testing.T, c *kafkatest.Cluster, topic, group string) *kafkaprojection.Source {
	t.Helper()
	cfg := c.Config()
	cfg.Consumer.Offsets.AutoCommit.Interval = 50 * time.Millisecond
	src, err := kafkaprojection.NewSource(context.Background(), c.ClientWith(t, cfg), topic, group)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// catchUp runs a fresh runner over the topic with the group until it has
// caught up, closes the source (committing the offsets) and returns how
// many events it handled.
func catchUp(t *testing.T, c *kafkatest.Cluster, topic, group string) int64 {
	t.Helper()
	var n atomic.Int64
	src := newGroupSource(t, c, topic, group)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := newRunner(t, &n).CatchUp(ctx, src, nil); err != nil {
		t.Fatalf("catch up: %v", err)
	}
	if err := src.Close(); err != nil {
		t.Fatalf("close source: %v", err)
	}
	return n.Load()
}

var totalRE = regexp.MustCompile(`total: offset lag (\d+), events behind (\d+)`)

// behind runs projection status and returns the total offset lag and
// events behind.
func behind(t *testing.T, c *kafkatest.Cluster, group string) (offsetLag, events string) {
	t.Helper()
	r := kafkaes(t, "projection", "status", "--group", group, brokers(c))
	m := totalRE.FindStringSubmatch(r.stdout)
	if r.code != exitOK || m == nil {
		t.Fatalf("projection status:\n%s", r)
	}
	return m[1], m[2]
}

// tenEventsParts is the partition count of tenEvents' topic.
const tenEventsParts = 2

// tenEvents returns a cluster with an events topic of tenEventsParts partitions
// holding 2 events of each of 5 streams, and the producer that wrote them.
func tenEvents(t *testing.T) (*kafkatest.Cluster, string, *producer) {
	t.Helper()
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, tenEventsParts, kafkatest.EventsTopicConfig())
	p := newProducer(t, c, "")
	for _, s := range []string{"a", "b", "c", "d", "e"} {
		p.send(topic, tenEventsParts, streamEvents(s, 2)...)
	}
	return c, topic, p
}

func TestProjectionStatusAndRebuild(t *testing.T) {
	c, topic, p := tenEvents(t)
	const nparts = tenEventsParts
	group := kafkatest.TopicName(t, "group")

	r := kafkaes(t, "projection", "status", "--group", group, brokers(c))
	if r.code != exitFailure || !strings.Contains(r.stderr, "has no committed offsets") {
		t.Fatalf("status of an unknown group:\n%s", r)
	}
	// With --topic the lag of a group that never committed is the whole
	// topic.
	r = kafkaes(t, "projection", "status", "--group", group, brokers(c), "--topic", topic)
	if m := totalRE.FindStringSubmatch(r.stdout); r.code != exitOK || m == nil || m[2] != "10" || !strings.Contains(r.stdout, "none") {
		t.Fatalf("status of an unknown group with --topic:\n%s", r)
	}

	if n := catchUp(t, c, topic, group); n != 10 {
		t.Fatalf("projection handled %d events, want 10", n)
	}
	if off, ev := behind(t, c, group); off != "0" || ev != "0" {
		t.Fatalf("after catch-up: offset lag %s, events behind %s; want 0, 0", off, ev)
	}

	// Three new events, plus an aborted transaction: its records and
	// markers take offsets but are no events.
	tx := newProducer(t, c, kafkatest.TopicName(t, "txn"))
	tx.txn(false, topic, nparts, event("a", 3, "aborted", `{"n":0}`), event("b", 3, "aborted-2", `{"n":0}`))
	p.send(topic, nparts, event("a", 3, "a-3", `{"n":3}`), event("b", 3, "b-3", `{"n":3}`), event("c", 3, "c-3", `{"n":3}`))
	off, ev := behind(t, c, group)
	if ev != "3" || off == "3" {
		t.Fatalf("after 3 new events and an aborted transaction: offset lag %s, events behind %s; want events behind 3 and a larger offset lag", off, ev)
	}
	r = kafkaes(t, "projection", "status", "--group", group, brokers(c))
	if !strings.Contains(r.stdout, "group "+group+": state Empty, 0 members") || !strings.Contains(r.stdout, topic) {
		t.Errorf("status does not show the group state and the topic:\n%s", r)
	}

	// A dry run changes nothing.
	r = kafkaes(t, "projection", "rebuild", "--group", group, brokers(c))
	if r.code != exitUsage || !strings.Contains(r.stdout, "dry run: nothing changed") || !strings.Contains(r.stdout, "-> 0") {
		t.Fatalf("rebuild without --yes:\n%s", r)
	}
	if _, ev := behind(t, c, group); ev != "3" {
		t.Fatalf("dry run changed the offsets: events behind %s", ev)
	}

	r = kafkaes(t, "projection", "rebuild", "--group", group, brokers(c), "--yes")
	if r.code != exitOK || !strings.Contains(r.stdout, "reset to the start of the log") {
		t.Fatalf("rebuild --yes:\n%s", r)
	}
	if _, ev := behind(t, c, group); ev != "13" {
		t.Fatalf("after rebuild: events behind %s, want 13", ev)
	}
	// The projection really replays everything.
	if n := catchUp(t, c, topic, group); n != 13 {
		t.Fatalf("projection after rebuild handled %d events, want 13", n)
	}

	// A running projection is not reset under its feet.
	var n atomic.Int64
	src := newGroupSource(t, c, topic, group)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- newRunner(t, &n).Run(ctx, src) }()
	defer func() {
		cancel()
		<-done
		_ = src.Close()
	}()
	waitFor(t, "the projection to join its group", func() bool {
		r := kafkaes(t, "projection", "status", "--group", group, brokers(c))
		return strings.Contains(r.stdout, "1 member")
	})
	r = kafkaes(t, "projection", "rebuild", "--group", group, brokers(c), "--yes")
	if r.code != exitFailure || !strings.Contains(r.stderr, "stop every instance of the projection first") {
		t.Fatalf("rebuild of a running projection:\n%s", r)
	}
}

// A process manager's group (kafkaprojection.ProcessCommitter) keeps its
// positions in a positions topic too and resumes from the later of its
// group offset and its last position record: status shows the position
// and counts the lag from it, and rebuild refuses, saying why and what
// to do, since resetting the group's offsets would not move it back.
func TestProjectionStatusProcessPositions(t *testing.T) {
	c, topic, p := tenEvents(t)
	const nparts = tenEventsParts
	group := kafkatest.TopicName(t, "pm")
	if n := catchUp(t, c, topic, group); n != 10 {
		t.Fatalf("projection handled %d events, want 10", n)
	}
	// Three events more, which the manager decided and committed, but
	// whose offset commit Kafka lost: only its position records say so.
	p.send(topic, nparts, event("a", 3, "a-3", `{"n":3}`), event("b", 3, "b-3", `{"n":3}`), event("c", 3, "c-3", `{"n":3}`))
	if off, ev := behind(t, c, group); ev != "3" || off != "3" {
		t.Fatalf("before positions: offset lag %s, events behind %s; want 3, 3", off, ev)
	}
	positions := kafkaprojection.DefaultPositionTopic(topic, group)
	c.CreateTopic(t, positions, nparts, map[string]*string{"cleanup.policy": strp("compact")})
	cl := c.Client(t)
	for part := range int32(nparts) {
		end, err := cl.GetOffset(topic, part, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		p.send(positions, nparts, testRecord{partition: wire.PositionPartition(part, nparts),
			key: wire.PositionKey(group, topic, part), value: wire.PositionValue(end)})
	}
	r := kafkaes(t, "projection", "status", "--group", group, brokers(c))
	if m := totalRE.FindStringSubmatch(r.stdout); r.code != exitOK || m == nil || m[1] != "0" || m[2] != "0" ||
		!strings.Contains(r.stdout, "POSITION") || !strings.Contains(r.stdout, "process manager: positions in "+positions) {
		t.Fatalf("status of a process manager whose positions are ahead of its group offsets:\n%s", r)
	}
	r = kafkaes(t, "projection", "rebuild", "--group", group, brokers(c), "--yes")
	if r.code != exitFailure || !strings.Contains(r.stderr, "is a process manager") || !strings.Contains(r.stderr, "--delete --topic "+positions) {
		t.Fatalf("rebuild of a process manager:\n%s", r)
	}
	if off, ev := behind(t, c, group); off != "0" || ev != "0" {
		t.Fatalf("the refused rebuild changed the offsets: offset lag %s, events behind %s", off, ev)
	}
}
