package kafkaprojection

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/internal/kafkaauth"
	"github.com/kafkaes/kafkaes/internal/wire"
	"github.com/kafkaes/kafkaes/projection"
)

// Headers a [DLQ] adds to every dead letter, besides the event's own.
const (
	HeaderDLQError      = wire.HeaderDLQError      // the error text
	HeaderDLQProjection = wire.HeaderDLQProjection // the projection's name
	HeaderDLQTopic      = wire.HeaderDLQTopic      // origin topic
	HeaderDLQPartition  = wire.HeaderDLQPartition  // origin partition, decimal
	HeaderDLQOffset     = wire.HeaderDLQOffset     // origin offset, decimal
	HeaderDLQAttempts   = wire.HeaderDLQAttempts   // handler attempts, decimal
	HeaderDLQTime       = wire.HeaderDLQTime       // when, RFC 3339 UTC with six fraction digits (docs/wire-format.md#times)
	HeaderDLQParked     = wire.HeaderDLQParked     // "true" for events that only follow an earlier dead letter of their stream
)

// Headers of the release records in a dead-letter topic: an operator's
// retry or drop of a parked stream (written by [DLQ.Release] and `kafkaes
// dlq retry|drop`), and the runner's record that it acted on one. They
// carry HeaderDLQProjection and HeaderDLQTime too, their key is the stream
// ID and their value is empty.
const (
	HeaderDLQAction  = wire.HeaderDLQAction  // "retry", "drop", or "acted" (the runner's answer)
	HeaderDLQBy      = wire.HeaderDLQBy      // who asked for the release
	HeaderDLQRelease = wire.HeaderDLQRelease // acted: the release's ID (partition/offset/last letter offset)
	HeaderDLQOutcome = wire.HeaderDLQOutcome // acted: "ok" (letters done, stream released) or "failed" (see dlq.error)
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

// scan reads the dead-letter topic from the beginning to its end and
// calls fn with every record, each partition in offset order.
func (d *DLQ) scan(ctx context.Context, fn func(msg *sarama.ConsumerMessage)) error {
	parts, err := d.client.Partitions(d.topic)
	if kafkaauth.Fatal(err) {
		return d.denied("read dead-letter topic "+d.topic, "Read", err)
	}
	if err != nil {
		return fmt.Errorf("kafkaprojection: partitions of dead-letter topic %s (create it first): %w", d.topic, err)
	}
	consumer, err := sarama.NewConsumerFromClient(d.client)
	if err != nil {
		return err
	}
	defer consumer.Close()
	for _, p := range parts {
		oldest, err := d.client.GetOffset(d.topic, p, sarama.OffsetOldest)
		if err != nil {
			return d.denied("read dead-letter topic "+d.topic, "Read", err)
		}
		hw, err := d.client.GetOffset(d.topic, p, sarama.OffsetNewest)
		if err != nil {
			return d.denied("read dead-letter topic "+d.topic, "Read", err)
		}
		if hw <= oldest {
			continue
		}
		pc, err := consumer.ConsumePartition(d.topic, p, oldest)
		if err != nil {
			return d.denied("read dead-letter topic "+d.topic, "Read", err)
		}
		err = func() error {
			defer pc.Close()
			// The partition consumer reports errors it recovers from (a
			// dropped connection, a leader moving) and keeps going; a
			// missing ACL does not heal, and a closed Messages channel
			// means it gave up.
			var lastErr error
			for {
				select {
				case <-ctx.Done():
					if lastErr != nil {
						return fmt.Errorf("%w (last consumer error: %v)", ctx.Err(), lastErr)
					}
					return ctx.Err()
				case cerr := <-pc.Errors():
					if kafkaauth.Fatal(cerr) {
						return cerr
					}
					lastErr = cerr
				case msg, ok := <-pc.Messages():
					if !ok {
						return fmt.Errorf("the consumer stopped before offset %d: %w", hw-1, lastErr)
					}
					fn(msg)
					if msg.Offset >= hw-1 {
						return nil
					}
				}
			}
		}()
		if err != nil {
			return d.denied(fmt.Sprintf("read dead-letter topic %s/%d", d.topic, p), "Read", err)
		}
	}
	return nil
}

// streams reads the topic and returns the state of every stream of the
// named projection (see wire.DLQStream), in the order their first record
// appeared.
func (d *DLQ) streams(ctx context.Context, name string) (map[string]*wire.DLQStream[*sarama.ConsumerMessage], []string, error) {
	out := map[string]*wire.DLQStream[*sarama.ConsumerMessage]{}
	var order []string
	err := d.scan(ctx, func(msg *sarama.ConsumerMessage) {
		if v, ok := wire.Header(msg.Headers, HeaderDLQProjection); !ok || string(v) != name {
			return
		}
		stream := string(msg.Key)
		st := out[stream]
		if st == nil {
			st = &wire.DLQStream[*sarama.ConsumerMessage]{}
			out[stream] = st
			order = append(order, stream)
		}
		st.Add(msg, msg.Partition, msg.Offset, msg.Headers)
	})
	return out, order, err
}

// Parked reads the dead-letter topic from the beginning and returns the
// streams with letters of the projection that were not released, each
// with its lowest version.
func (d *DLQ) Parked(ctx context.Context, name string) (map[string]int64, error) {
	states, _, err := d.streams(ctx, name)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for stream, st := range states {
		for _, msg := range st.Letters {
			var version int64
			if b, ok := wire.Header(msg.Headers, wire.HeaderVersion); ok {
				version, _ = wire.ParseVersion(b)
			}
			if cur, ok := out[stream]; !ok || version < cur {
				out[stream] = version
			}
		}
	}
	return out, nil
}

var _ projection.Releaser = (*DLQ)(nil)

// Release asks the runners of projection to act on its parked stream:
// projection.Retry delivers the stream's letters again, in order, then
// un-parks it; projection.Drop gives them up and un-parks it. by says who
// asks (it is kept in the topic). The record goes to the topic now; the
// runner reading the stream's partition acts on it (see
// projection.Releaser). `kafkaes dlq retry|drop` writes the same record.
func (d *DLQ) Release(ctx context.Context, projectionName, stream string, action projection.ReleaseAction, by string) error {
	if action != projection.Retry && action != projection.Drop {
		return fmt.Errorf("kafkaprojection: release action %q: want projection.Retry or projection.Drop", action)
	}
	if projectionName == "" || stream == "" {
		return errors.New("kafkaprojection: a release names a projection and a stream")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	msg := wire.DLQReleaseMessage(d.topic, projectionName, stream, map[string]string{HeaderDLQAction: string(action), HeaderDLQBy: by})
	if _, _, err := d.producer.SendMessage(msg); err != nil {
		return d.denied("write release to "+d.topic, "Write", err)
	}
	return nil
}

// Pending implements [projection.Releaser]: it reads the topic and returns
// the releases of the projection not acted upon, each with all the
// stream's letters not released before (decoded as the source decodes
// records, with the position they had in the events topic).
func (d *DLQ) Pending(ctx context.Context, name string) ([]projection.Release, error) {
	states, order, err := d.streams(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []projection.Release
	for _, stream := range order {
		st := states[stream]
		if st.Release == nil {
			continue
		}
		h := func(k string) string {
			v, _ := wire.Header((*st.Release).Headers, k)
			return string(v)
		}
		rel := projection.Release{Projection: name, Stream: stream, Action: projection.ReleaseAction(h(HeaderDLQAction)), By: h(HeaderDLQBy)}
		rel.Time, _ = time.Parse(time.RFC3339Nano, h(HeaderDLQTime))
		for _, msg := range st.Letters {
			rel.Letters = append(rel.Letters, letterOf(name, msg))
		}
		rel.ID = st.ReleaseID()
		out = append(out, rel)
	}
	return out, nil
}

// letterOf turns a dead-letter record back into the letter it was sent
// as: the event decoded from the original value and headers, with its
// position in the events topic.
func letterOf(name string, msg *sarama.ConsumerMessage) projection.Letter {
	h := func(k string) string {
		v, _ := wire.Header(msg.Headers, k)
		return string(v)
	}
	rec := record(msg)
	if p, err := strconv.ParseInt(h(HeaderDLQPartition), 10, 32); err == nil {
		rec.Event.Position.Partition = int32(p)
	}
	if o, err := strconv.ParseInt(h(HeaderDLQOffset), 10, 64); err == nil {
		rec.Event.Position.Offset = o
	}
	if t := h(HeaderDLQTopic); t != "" {
		rec.Topic = t
	}
	l := projection.Letter{Projection: name, Record: rec}
	if e := h(HeaderDLQError); e != "" {
		l.Err = errors.New(e)
	}
	l.Attempts, _ = strconv.Atoi(h(HeaderDLQAttempts))
	l.Time, _ = time.Parse(time.RFC3339Nano, h(HeaderDLQTime))
	return l
}

// Acted implements [projection.Releaser]: it writes the runner's record
// that it acted on rel (outcome ok, or failed with err's text).
func (d *DLQ) Acted(ctx context.Context, rel projection.Release, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	hs := map[string]string{HeaderDLQAction: wire.DLQActionActed, HeaderDLQRelease: rel.ID, HeaderDLQOutcome: "ok", HeaderDLQBy: rel.By}
	if err != nil {
		hs[HeaderDLQOutcome] = "failed"
		hs[HeaderDLQError] = err.Error()
	}
	msg := wire.DLQReleaseMessage(d.topic, rel.Projection, rel.Stream, hs)
	if _, _, serr := d.producer.SendMessage(msg); serr != nil {
		return d.denied("write release outcome to "+d.topic, "Write", serr)
	}
	return nil
}
