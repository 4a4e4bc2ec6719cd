package kafkaprojection

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/internal/kafkaauth"
	"github.com/kafkaes/kafkaes/internal/wire"
	"github.com/kafkaes/kafkaes/projection"
)

// Headers a [DLQ] adds to every dead letter, besides the event's own.
const (
	HeaderDLQError      = "dlq.error"      // the error text
	HeaderDLQProjection = "dlq.projection" // the projection's name
	HeaderDLQTopic      = "dlq.topic"      // origin topic
	HeaderDLQPartition  = "dlq.partition"  // origin partition, decimal
	HeaderDLQOffset     = "dlq.offset"     // origin offset, decimal
	HeaderDLQAttempts   = "dlq.attempts"   // handler attempts, decimal
	HeaderDLQTime       = "dlq.time"       // when, RFC 3339 UTC with six fraction digits (docs/wire-format.md#times)
	HeaderDLQParked     = "dlq.parked"     // "true" for events that only follow an earlier dead letter of their stream
)

// DLQTopic returns the dead-letter topic of an events topic: topic + ".dlq".
func DLQTopic(topic string) string { return topic + ".dlq" }

// DLQ is a [projection.DeadLetterSink] that writes dead letters to a Kafka
// topic, keyed by stream ID and partitioned like the events topic (so the
// letters of one stream stay in order), with the original record's value and
// headers and the HeaderDLQ* headers. Create the topic beforehand
// (cleanup.policy=delete and a retention long enough to repair and replay the
// letters). Close it when done.
type DLQ struct {
	topic    string
	client   sarama.Client
	producer sarama.SyncProducer
}

// NewDLQ returns a dead-letter sink writing to topic (usually
// [DLQTopic](eventsTopic)) on the cluster that client is connected to, with
// connections of its own from a copy of the client's configuration; it
// never closes client. The topic must exist (it is checked now). The
// producer is idempotent with acks=all, so a letter is written once per
// Send. ctx bounds the connecting and the check.
func NewDLQ(ctx context.Context, client sarama.Client, topic string) (*DLQ, error) {
	if topic == "" {
		return nil, errors.New("kafkaprojection: empty dead-letter topic name")
	}
	addrs, cfg, err := fromClient(client, "dead-letter sink")
	if err != nil {
		return nil, err
	}
	c := producerConfig(cfg)
	c.Producer.Partitioner = wire.NewPartitioner
	c.Consumer.IsolationLevel = sarama.ReadCommitted
	// Parked reads the topic with a partition consumer: its errors (a
	// denied Read) must reach Parked, not only sarama's logger.
	c.Consumer.Return.Errors = true
	own, err := connect(ctx, addrs, &c, "dead-letter sink")
	if err != nil {
		return nil, err
	}
	client = own
	d := &DLQ{topic: topic, client: client}
	// The client never auto-creates the topic (see clientConfig); a
	// missing one is refused now rather than at the first letter.
	if _, err := client.Partitions(topic); err != nil {
		_ = client.Close()
		if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			return nil, missingTopic("dead-letter", topic, howPlain)
		}
		return nil, d.denied("look up the dead-letter topic", "Describe", err)
	}
	p, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		_ = client.Close()
		// An idempotent producer needs Write on a topic (or
		// IdempotentWrite on the cluster) to get a producer ID.
		return nil, d.denied("start the dead-letter producer (an idempotent producer needs Write on a topic)", "Write", err)
	}
	d.producer = p
	return d, nil
}

// Topic returns the dead-letter topic.
func (d *DLQ) Topic() string { return d.topic }

// Close closes the producer and the client.
func (d *DLQ) Close() error {
	return errors.Join(d.producer.Close(), d.client.Close())
}

// Send writes the letter and waits for the acknowledgement.
func (d *DLQ) Send(ctx context.Context, l projection.Letter) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ev := l.Record.Event
	msg := &sarama.ProducerMessage{Topic: d.topic, Key: sarama.StringEncoder(ev.StreamID)}
	if raw, ok := l.Record.Raw.(*sarama.ConsumerMessage); ok {
		msg.Key = sarama.ByteEncoder(raw.Key)
		msg.Value = sarama.ByteEncoder(raw.Value)
		for _, h := range raw.Headers {
			if h != nil {
				msg.Headers = append(msg.Headers, *h)
			}
		}
	} else {
		_, hs := wire.Encode(ev.StreamID, ev.Version, ev.Event, ev.RecordedAt)
		msg.Value = sarama.ByteEncoder(ev.Data)
		msg.Headers = hs
	}
	errText := ""
	if l.Err != nil {
		errText = l.Err.Error()
	}
	parked := "false"
	if errors.Is(l.Err, projection.ErrParked) {
		parked = "true"
	}
	add := func(k, v string) {
		msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}
	add(HeaderDLQError, errText)
	add(HeaderDLQProjection, l.Projection)
	add(HeaderDLQTopic, l.Record.Topic)
	add(HeaderDLQPartition, strconv.Itoa(int(ev.Position.Partition)))
	add(HeaderDLQOffset, strconv.FormatInt(ev.Position.Offset, 10))
	add(HeaderDLQAttempts, strconv.Itoa(l.Attempts))
	add(HeaderDLQTime, wire.FormatTime(l.Time))
	add(HeaderDLQParked, parked)
	if _, _, err := d.producer.SendMessage(msg); err != nil {
		return d.denied("write dead letter to "+d.topic, "Write", err)
	}
	return nil
}

// denied turns an authorization error into a [kafkaauth.Error] for op on
// the dead-letter topic, and prefixes any other error with what.
func (d *DLQ) denied(what, op string, err error) error {
	if kafkaauth.Fatal(err) {
		return kafkaauth.Wrap(err, d.client.Config(), "kafkaprojection: "+what, op, kafkaauth.Topic, d.topic, false)
	}
	return fmt.Errorf("kafkaprojection: %s: %w", what, err)
}

// Parked reads the dead-letter topic from the beginning and returns the
// streams with letters of the projection, each with its lowest version.
func (d *DLQ) Parked(ctx context.Context, name string) (map[string]int64, error) {
	out := map[string]int64{}
	parts, err := d.client.Partitions(d.topic)
	if kafkaauth.Fatal(err) {
		return nil, d.denied("read dead-letter topic "+d.topic, "Read", err)
	}
	if err != nil {
		return nil, fmt.Errorf("kafkaprojection: partitions of dead-letter topic %s (create it first): %w", d.topic, err)
	}
	consumer, err := sarama.NewConsumerFromClient(d.client)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	for _, p := range parts {
		oldest, err := d.client.GetOffset(d.topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, d.denied("read dead-letter topic "+d.topic, "Read", err)
		}
		hw, err := d.client.GetOffset(d.topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, d.denied("read dead-letter topic "+d.topic, "Read", err)
		}
		if hw <= oldest {
			continue
		}
		pc, err := consumer.ConsumePartition(d.topic, p, oldest)
		if err != nil {
			return nil, d.denied("read dead-letter topic "+d.topic, "Read", err)
		}
		err = func() error {
			defer pc.Close()
			for {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case cerr := <-pc.Errors():
					return cerr
				case msg := <-pc.Messages():
					if v, ok := wire.Header(msg.Headers, HeaderDLQProjection); ok && string(v) == name {
						var version int64
						if b, ok := wire.Header(msg.Headers, wire.HeaderVersion); ok {
							version, _ = wire.ParseVersion(b)
						}
						stream := string(msg.Key)
						if cur, ok := out[stream]; !ok || version < cur {
							out[stream] = version
						}
					}
					if msg.Offset >= hw-1 {
						return nil
					}
				}
			}
		}()
		if err != nil {
			return nil, d.denied(fmt.Sprintf("read dead-letter topic %s/%d", d.topic, p), "Read", err)
		}
	}
	return out, nil
}
