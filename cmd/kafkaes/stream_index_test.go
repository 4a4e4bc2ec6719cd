package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaes/kafkaes/eventstore"
	eskafka "github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// fetchOffsets records the offset of every partition of every Fetch request
// the in-process broker gets from now on.
func fetchOffsets(t *testing.T, c *kafkatest.Cluster) func() []int64 {
	var mu sync.Mutex
	var offs []int64
	c.Fake().ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.Fake().KeepControl()
		mu.Lock()
		defer mu.Unlock()
		for _, tp := range req.(*kmsg.FetchRequest).Topics {
			for _, p := range tp.Partitions {
				offs = append(offs, p.FetchOffset)
			}
		}
		return nil, nil, false
	})
	return func() []int64 {
		mu.Lock()
		defer mu.Unlock()
		return append([]int64(nil), offs...)
	}
}

// TestStreamReadsThroughIndex: stream fetches only the stream's own
// records and, with --index-dir, what was appended after the store saved
// its index; it never reads the other records of the partition. Without
// --index-dir it reads the partition from its start to build the index.
func TestStreamReadsThroughIndex(t *testing.T) {
	c := kafkatest.New(t)
	if c.Fake() == nil {
		t.Skip("counts the fetches of the in-process broker")
	}
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	// 3 MB of other streams, more than one fetch of a scan.
	big := `{"pad":"` + strings.Repeat("x", 1000) + `"}`
	var others []testRecord
	for i := range 3000 {
		others = append(others, event(fmt.Sprint("other-", i%100), int64(i/100+1), fmt.Sprint("o-", i), big))
	}
	newProducer(t, c, "").send(topic, 1, others...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	st, err := eskafka.New(ctx, c.Client(t), topic, eskafka.WithIndexDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	for v := range 3 {
		if _, err := st.Append(ctx, "acc-1", eventstore.Exact(int64(v)), eventstore.Event{Type: "test.Happened", Data: []byte(`{"n":1}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil { // saves the index
		t.Fatal(err)
	}
	saved, err := c.Client(t).GetOffset(topic, 0, sarama.OffsetNewest)
	if err != nil {
		t.Fatal(err)
	}
	fetched := fetchOffsets(t, c)
	r := kafkaesCtx(ctx, t, "stream", "acc-1", brokers(c), "--topic", topic, "--index-dir", dir)
	if r.code != exitOK || len(lines(r.stdout)) != 3 {
		t.Fatalf("stream --index-dir: want 3 events\n%s", r)
	}
	own := map[int64]bool{}
	for _, l := range decodeLines(t, r.stdout) {
		own[l.Offset] = true
	}
	for _, off := range fetched() {
		if !own[off] && off < saved {
			t.Errorf("stream --index-dir fetched offset %d, which is neither the stream's (%v) nor after the saved index (%d): it scanned", off, own, saved)
		}
	}

	fetched = fetchOffsets(t, c)
	r = kafkaesCtx(ctx, t, "stream", "acc-1", brokers(c), "--topic", topic)
	if r.code != exitOK || len(lines(r.stdout)) != 3 {
		t.Fatalf("stream: want 3 events\n%s", r)
	}
	if offs := fetched(); len(offs) == 0 || offs[0] != 0 {
		t.Errorf("stream without --index-dir: want the index built from offset 0, fetched %v", offs)
	}
}
