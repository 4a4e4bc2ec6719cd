package clusterfault_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// endPrefix starts the stream IDs of the end markers the tail writes when
// the writers are done.
const endPrefix = "clusterfault.end."

// tail is a plain read_committed consumer (franz-go's kgo, not sarama, so
// that the check does not share a client library with the store) that
// reads every partition of the topic from the start while the writers run.
// It keeps the committed log in offset order and when it first saw each
// event.
type tail struct {
	topic string
	parts int32
	cl    *kgo.Client

	mu      sync.Mutex
	log     [][]eventstore.RecordedEvent // per partition, in offset order
	seen    map[string]int64             // event ID -> Unix ns first seen
	last    map[string]int64             // writer -> Unix ns of its latest event seen
	lastP   map[int32]int64              // partition -> Unix ns of its latest event seen
	next    map[int32]int64              // partition -> next offset to read
	corrupt []string
	fetchEr int // fetch errors (kgo retries them)
	lastErr string
}

func startTail(ctx context.Context, brokers []string, topic string, parts int32) (*tail, error) {
	offs := map[int32]kgo.Offset{}
	for p := range parts {
		offs[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ClientID("clusterfault-tail"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)
	if err != nil {
		return nil, err
	}
	t := &tail{topic: topic, parts: parts, cl: cl, log: make([][]eventstore.RecordedEvent, parts),
		seen: map[string]int64{}, last: map[string]int64{}, lastP: map[int32]int64{}, next: map[int32]int64{}}
	go t.run(ctx)
	return t, nil
}

func (t *tail) run(ctx context.Context) {
	for ctx.Err() == nil {
		fs := t.cl.PollFetches(ctx)
		now := unixNow()
		t.mu.Lock()
		fs.EachError(func(_ string, _ int32, err error) {
			if ctx.Err() == nil {
				t.fetchEr++
				t.lastErr = err.Error()
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			hs := make([]*sarama.RecordHeader, len(r.Headers))
			for i, h := range r.Headers {
				hs[i] = &sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value}
			}
			t.next[r.Partition] = r.Offset + 1
			ev, err := wire.Decode(r.Topic, r.Partition, r.Offset, r.Key, r.Value, hs, r.Timestamp)
			if err != nil {
				t.corrupt = append(t.corrupt, err.Error())
				return
			}
			if _, dup := t.seen[ev.ID]; !dup {
				t.seen[ev.ID] = now
			}
			t.lastP[r.Partition] = now
			if strings.HasPrefix(ev.StreamID, endPrefix) {
				return
			}
			t.log[r.Partition] = append(t.log[r.Partition], ev)
			var d struct{ W string }
			if json.Unmarshal(ev.Data, &d) == nil && d.W != "" {
				t.last[d.W] = now
			}
		})
		t.mu.Unlock()
	}
}

// lastSeen returns when the tail last saw an event of writer w (0: never).
func (t *tail) lastSeen(w string) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last[w]
}

// partitionSeen returns when the tail last saw an event on partition p.
func (t *tail) partitionSeen(p int32) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastP[p]
}

// seenAt returns when the tail first saw event id (0: never).
func (t *tail) seenAt(id string) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.seen[id]
}

// sync writes an end marker (a valid event of a fresh stream) to every
// partition with a plain idempotent producer and waits until the tail has
// read past each one: then it has every event committed before.
func (t *tail) sync(ctx context.Context) error {
	var b [6]byte
	_, _ = rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	ends := map[int32]int64{}
	for p := range t.parts {
		stream := endStream(p, t.parts, suffix)
		key, hs := wire.Encode(stream, 1, eventstore.Event{ID: eventstore.NewEventID(), Type: "clusterfault.End"}, time.Now())
		r := &kgo.Record{Topic: t.topic, Partition: p, Key: key}
		for _, h := range hs {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: string(h.Key), Value: h.Value})
		}
		res := t.cl.ProduceSync(ctx, r)
		if err := res.FirstErr(); err != nil {
			return fmt.Errorf("write end marker to %s/%d: %w", t.topic, p, err)
		}
		ends[p] = res[0].Record.Offset
	}
	for {
		done := true
		t.mu.Lock()
		for p, end := range ends {
			if t.next[p] <= end {
				done = false
			}
		}
		t.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			t.mu.Lock()
			defer t.mu.Unlock()
			return fmt.Errorf("the read_committed consumer did not reach the end markers %v (it is at %v; last fetch error %q): %w", ends, t.next, t.lastErr, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// finish syncs the tail (see sync) and returns the log, partition by
// partition in offset order. Call it once the writers have stopped.
func (t *tail) finish(ctx context.Context) ([]eventstore.RecordedEvent, error) {
	if err := t.sync(ctx); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []eventstore.RecordedEvent
	for _, evs := range t.log {
		out = append(out, evs...)
	}
	return out, nil
}

// endStream returns a stream ID that hashes to partition p.
func endStream(p, n int32, suffix string) string {
	for i := 0; ; i++ {
		s := fmt.Sprintf("%s%s.%d", endPrefix, suffix, i)
		if wire.PartitionString(s, n) == p {
			return s
		}
	}
}

// endOffsets returns the end offset of every partition that a reader at
// the isolation level sees: the high watermark (read_uncommitted) or the
// last stable offset (read_committed), which an open transaction holds
// back.
func (t *tail) endOffsets(ctx context.Context, committed bool) (map[int32]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	if committed {
		req.IsolationLevel = 1
	}
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = t.topic
	for p := range t.parts {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.Timestamp = -1 // the end
		rp.CurrentLeaderEpoch = -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := t.cl.Request(ctx, req)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for _, rt := range resp.(*kmsg.ListOffsetsResponse).Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				return nil, fmt.Errorf("list offsets of %s/%d: %w", t.topic, rp.Partition, err)
			}
			out[rp.Partition] = rp.Offset
		}
	}
	return out, nil
}

// heldBack returns the partitions whose last stable offset is below the
// high watermark (an open transaction) and stays where it is for the
// second half of d (earlier transactions may still let it move at first),
// with that last stable offset.
func (t *tail) heldBack(ctx context.Context, d time.Duration) (map[int32]int64, error) {
	start := time.Now()
	held := map[int32]int64{} // partition -> LSO while held back
	for {
		hw, err := t.endOffsets(ctx, false)
		if err != nil {
			return nil, err
		}
		lso, err := t.endOffsets(ctx, true)
		if err != nil {
			return nil, err
		}
		late := time.Since(start) >= d/2
		for p := range t.parts {
			stuck := lso[p] < hw[p]
			prev, was := held[p]
			switch {
			case !late && stuck:
				held[p] = lso[p] // the latest value before the second half
			case !late:
				delete(held, p)
			case was && (!stuck || lso[p] != prev):
				delete(held, p)
			}
		}
		if time.Since(start) >= d {
			return held, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// decided waits until the last stable offset of every partition in held
// has moved past the value held gives (the open transaction there was
// decided) and returns when that happened.
func (t *tail) decided(ctx context.Context, held map[int32]int64) (time.Time, error) {
	for {
		lso, err := t.endOffsets(ctx, true)
		if err == nil {
			done := true
			for p, stuck := range held {
				if lso[p] <= stuck {
					done = false
				}
			}
			if done {
				return time.Now(), nil
			}
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("last stable offsets still at %v: %w", held, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
