package logcheck

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// EndStreamPrefix starts the stream IDs of the end markers [ReadCommitted]
// writes; they are left out of what it returns.
const EndStreamPrefix = "logcheck.end."

// ReadCommitted reads every committed event of topic with a plain sarama
// consumer (isolation read_committed, from the oldest offset) and returns
// them, partition by partition in offset order, decoded with the wire
// format. cfg is the base sarama configuration (for example
// kafkatest.Cluster.Config()); it is copied and not changed.
//
// To know where the log ends without trusting the store, it first appends
// an end marker, a valid kafkaes event of a fresh stream named
// EndStreamPrefix+..., to every partition with a plain idempotent producer,
// and then reads each partition until it meets its marker. A transaction
// left open by a crashed writer holds the marker back until the broker
// aborts it, exactly as it holds back any read_committed reader; ctx bounds
// the wait. Call it after all writers have stopped.
func ReadCommitted(ctx context.Context, brokers []string, cfg *sarama.Config, topic string) ([]eventstore.RecordedEvent, error) {
	pcfg := *cfg
	pcfg.Producer.Idempotent = true
	pcfg.Producer.RequiredAcks = sarama.WaitForAll
	pcfg.Producer.Return.Successes = true
	pcfg.Producer.Return.Errors = true
	pcfg.Producer.Partitioner = sarama.NewManualPartitioner
	pcfg.Producer.Transaction.ID = ""
	pcfg.Net.MaxOpenRequests = 1
	pcfg.Metadata.AllowAutoTopicCreation = false // a mistyped topic must not be created
	client, err := sarama.NewClient(brokers, &pcfg)
	if err != nil {
		return nil, fmt.Errorf("logcheck: connect: %w", err)
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("logcheck: partitions of %s: %w", topic, err)
	}
	n := int32(len(parts))
	prod, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		return nil, fmt.Errorf("logcheck: producer: %w", err)
	}
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	ends := make(map[int32]int64, n)
	for _, p := range parts {
		stream := endStream(p, n, hex.EncodeToString(suffix[:]))
		key, hs := wire.Encode(stream, 1, eventstore.Event{ID: eventstore.NewEventID(), Type: "logcheck.End"}, time.Now())
		_, off, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: p, Key: sarama.ByteEncoder(key), Headers: hs})
		if err != nil {
			_ = prod.Close()
			return nil, fmt.Errorf("logcheck: write end marker to %s/%d: %w", topic, p, err)
		}
		ends[p] = off
	}
	if err := prod.Close(); err != nil {
		return nil, fmt.Errorf("logcheck: close producer: %w", err)
	}

	ccfg := *cfg
	ccfg.Consumer.IsolationLevel = sarama.ReadCommitted
	ccfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	ccfg.Consumer.Return.Errors = true
	ccfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cons, err := sarama.NewConsumer(brokers, &ccfg)
	if err != nil {
		return nil, fmt.Errorf("logcheck: consumer: %w", err)
	}
	defer cons.Close()
	// Read the partitions in parallel; return them in partition order.
	results := make([][]eventstore.RecordedEvent, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Go(func() { results[i], errs[i] = readPartition(ctx, cons, topic, p, ends[p]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var out []eventstore.RecordedEvent
	for _, evs := range results {
		out = append(out, evs...)
	}
	return out, nil
}

func readPartition(ctx context.Context, cons sarama.Consumer, topic string, p int32, end int64) ([]eventstore.RecordedEvent, error) {
	pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
	if err != nil {
		return nil, fmt.Errorf("logcheck: consume %s/%d: %w", topic, p, err)
	}
	defer pc.Close()
	var out []eventstore.RecordedEvent
	// sarama's partition consumer reports errors it recovers from (a
	// connection dropped, "broker not connected", a leader moving) on
	// Errors and keeps consuming; it closes Messages when it gives up (an
	// offset out of range). So an error is remembered, not fatal: the
	// read ends at the end marker, when Messages closes, or when ctx ends,
	// and the last two report the last error.
	var lastErr error
	for {
		select {
		case m, ok := <-pc.Messages():
			if !ok {
				return nil, fmt.Errorf("logcheck: %s/%d: the consumer stopped before the end marker at offset %d (read %d events): %w", topic, p, end, len(out), lastErr)
			}
			if m.Offset > end {
				return nil, fmt.Errorf("logcheck: %s/%d: read offset %d past the end marker at %d without seeing it", topic, p, m.Offset, end)
			}
			ev, err := wire.DecodeMessage(m)
			if err != nil {
				return nil, err
			}
			if m.Offset == end {
				return out, nil
			}
			if !strings.HasPrefix(ev.StreamID, EndStreamPrefix) {
				out = append(out, ev)
			}
		case err := <-pc.Errors():
			lastErr = err
		case <-ctx.Done():
			if lastErr != nil {
				return nil, fmt.Errorf("logcheck: %s/%d: end marker at offset %d not reached (read %d events; last consumer error: %v): %w", topic, p, end, len(out), lastErr, ctx.Err())
			}
			return nil, fmt.Errorf("logcheck: %s/%d: end marker at offset %d not reached (read %d events): %w", topic, p, end, len(out), ctx.Err())
		}
	}
}

// endStream returns a stream ID for the end marker of partition p: the
// first of EndStreamPrefix+suffix+"."+i that hashes to p.
func endStream(p, n int32, suffix string) string {
	for i := 0; ; i++ {
		s := fmt.Sprintf("%s%s.%d", EndStreamPrefix, suffix, i)
		if wire.PartitionString(s, n) == p {
			return s
		}
	}
}
