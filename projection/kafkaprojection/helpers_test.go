package kafkaprojection_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/wire"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/serde"
)

type Deposited struct {
	Amount int64 `json:"amount"`
}

func testSerde() *serde.JSON {
	reg := serde.NewRegistry()
	serde.MustRegister[Deposited](reg, "test.Deposited")
	return serde.NewJSON(reg)
}

// eventsTopic returns a cluster (kafkatest.New) and a new events topic
// on it with the given number of partitions.
func eventsTopic(t testing.TB, partitions int32) (*kafkatest.Cluster, string) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, partitions, kafkatest.EventsTopicConfig())
	return c, topic
}

// derivedTopic creates a new topic for a transformer's output on c.
func derivedTopic(t testing.TB, c *kafkatest.Cluster, partitions int32) string {
	topic := kafkatest.TopicName(t, "derived")
	c.CreateTopic(t, topic, partitions, kafkatest.EventsTopicConfig())
	return topic
}

// producer writes events in wire format v1 with a plain idempotent
// producer, like the Kafka store does (without its transactions).
type producer struct {
	t       testing.TB
	p       sarama.SyncProducer
	topic   string
	mu      sync.Mutex
	version map[string]int64
}

func newProducer(t testing.TB, c *kafkatest.Cluster, topic string) *producer {
	cfg := c.Config()
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Partitioner = wire.NewPartitioner
	p, err := sarama.NewSyncProducer(c.Brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return &producer{t: t, p: p, topic: topic, version: map[string]int64{}}
}

// deposit appends a Deposited event to stream and returns its position.
func (p *producer) deposit(stream string, amount int64) eventstore.Position {
	data, _ := json.Marshal(Deposited{Amount: amount})
	return p.event(stream, "test.Deposited", data)
}

func (p *producer) event(stream, typ string, data []byte) eventstore.Position {
	p.mu.Lock()
	p.version[stream]++
	v := p.version[stream]
	p.mu.Unlock()
	key, hs := wire.Encode(stream, v, eventstore.Event{ID: eventstore.NewEventID(), Type: typ, Data: data}, time.Now())
	part, off, err := p.p.SendMessage(&sarama.ProducerMessage{Topic: p.topic, Key: sarama.ByteEncoder(key), Value: sarama.ByteEncoder(data), Headers: hs})
	if err != nil {
		p.t.Fatal(err)
	}
	return eventstore.Position{Partition: part, Offset: off}
}

// depositN appends n Deposited events (amounts 0 to n-1) to the streams
// s0 to s<streams-1> in turn and returns the last position of every
// partition.
func (p *producer) depositN(n, streams int) map[int32]eventstore.Position {
	last := map[int32]eventstore.Position{}
	for i := range n {
		pos := p.deposit(fmt.Sprint("s", i%streams), int64(i))
		last[pos.Partition] = pos
	}
	return last
}

// raw writes a record that is not a valid event (no headers).
func (p *producer) raw(key string, value []byte) eventstore.Position {
	part, off, err := p.p.SendMessage(&sarama.ProducerMessage{Topic: p.topic, Key: sarama.StringEncoder(key), Value: sarama.ByteEncoder(value)})
	if err != nil {
		p.t.Fatal(err)
	}
	return eventstore.Position{Partition: part, Offset: off}
}

// seen collects "stream/version" of handled events.
type seen struct {
	mu sync.Mutex
	n  map[string]int
	by map[string][]int64
}

func newSeen() *seen { return &seen{n: map[string]int{}, by: map[string][]int64{}} }

func (s *seen) add(stream string, version int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n[fmt.Sprintf("%s/%d", stream, version)]++
	s.by[stream] = append(s.by[stream], version)
}

// handler returns a handler that records every Deposited event in s.
func (s *seen) handler() projection.Handler {
	return projection.On(func(_ context.Context, _ Deposited, m projection.Meta) error {
		s.add(m.StreamID, m.Version)
		return nil
	})
}

// versions returns the versions of stream handled, in order.
func (s *seen) versions(stream string) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.by[stream])
}

func (s *seen) counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.n {
		out[k] = v
	}
	return out
}

func (s *seen) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.n)
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func timeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
