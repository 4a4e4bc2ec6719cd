package prometheus_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	kprom "github.com/kafkaes/kafkaes/eventstore/observe/prometheus"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/snapshot"
	snapmem "github.com/kafkaes/kafkaes/snapshot/memory"
)

type Counter struct {
	aggregate.Root
	N int64
}

type Added struct{ By int64 }

func (c *Counter) Apply(ev any) {
	if e, ok := ev.(Added); ok {
		c.N += e.By
	}
}

func newCounter() *Counter { return &Counter{} }

func counterSerde(t *testing.T) serde.Serde {
	reg := serde.NewRegistry()
	serde.MustRegister[Added](reg, "test.Added")
	serde.MustRegister[Counter](reg, "test.Counter") // snapshot state
	return serde.NewJSON(reg)
}

// TestMetricsAfterKnownSequence runs appends, conflicts, retries and loads
// (with and without a snapshot) through a Kafka store on the embedded
// broker and checks the metrics the collector reports.
func TestMetricsAfterKnownSequence(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "observe")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())

	reg := prometheus.NewRegistry()
	col, err := kprom.NewCollector(reg)
	if err != nil {
		t.Fatal(err)
	}
	store, err := kafka.New(ctx, c.Client(t), topic, kafka.WithObserver(col))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sd := counterSerde(t)
	repo := aggregate.NewRepository(store, sd, newCounter,
		aggregate.WithObserver(col), aggregate.WithRetry(3, time.Millisecond, time.Millisecond),
		aggregate.WithSnapshots(snapmem.New(), snapshot.EveryN(2)))

	add := func(c *Counter) error { aggregate.Raise(c, Added{By: 1}); return nil }
	// 1, 2: two updates (loads: miss on a new stream, miss), one event each.
	for range 2 {
		if _, err := repo.Update(ctx, "c-1", add); err != nil {
			t.Fatal(err)
		}
	}
	if err := repo.FlushSnapshots(ctx); err != nil {
		t.Fatal(err)
	}
	// 3: a load served from the snapshot taken at version 2.
	if a, err := repo.Load(ctx, "c-1"); err != nil || a.N != 2 {
		t.Fatalf("load: %v, %v", a, err)
	}
	// 4: a direct append with a wrong expected version: a conflict.
	ev := eventstore.Event{Type: "test.Added", Data: []byte(`{"By":1}`)}
	if _, err := store.Append(ctx, "c-1", eventstore.Exact(0), ev); !errors.Is(err, eventstore.ErrConcurrencyConflict) {
		t.Fatalf("want a conflict, got %v", err)
	}
	// 5: an update whose first save conflicts (another writer appends in
	// between), then succeeds on the retry.
	first := true
	_, err = repo.Update(ctx, "c-1", func(c *Counter) error {
		if first {
			first = false
			if _, err := store.Append(ctx, "c-1", eventstore.Exact(c.AggregateVersion()), ev); err != nil {
				return err
			}
		}
		return add(c)
	})
	if err != nil {
		t.Fatal(err)
	}

	// Appends: 2 updates + the interloper + the retried save succeeded; the
	// direct conflict and the first save of step 5 conflicted.
	want := `
# HELP kafkaes_appends_total Appends to the event store, by result (ok, conflict, error).
# TYPE kafkaes_appends_total counter
kafkaes_appends_total{result="conflict",topic="TOPIC"} 2
kafkaes_appends_total{result="ok",topic="TOPIC"} 4
# HELP kafkaes_append_events_total Events in successful appends.
# TYPE kafkaes_append_events_total counter
kafkaes_append_events_total{topic="TOPIC"} 4
# HELP kafkaes_update_retries_total Repository.Update attempts that met a concurrency conflict and were retried.
# TYPE kafkaes_update_retries_total counter
kafkaes_update_retries_total{aggregate="prometheus_test.Counter"} 1
`
	want = strings.ReplaceAll(want, "TOPIC", topic)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"kafkaes_appends_total", "kafkaes_append_events_total", "kafkaes_update_retries_total"); err != nil {
		t.Error(err)
	}
	// Loads: two misses (the first finds no stream), one hit from Load, two
	// hits in step 5 (the snapshot at version 2 is still valid).
	assertValue(t, reg, 1, "kafkaes_loads_total", "snapshot", "miss", "result", "not_found")
	assertValue(t, reg, 1, "kafkaes_loads_total", "snapshot", "miss", "result", "ok")
	assertValue(t, reg, 3, "kafkaes_loads_total", "snapshot", "hit", "result", "ok")
	assertValue(t, reg, 5, "kafkaes_loads_total")
	// Snapshots at versions 2 and 4 (EveryN(2)), written in the background.
	if err := repo.FlushSnapshots(ctx); err != nil {
		t.Fatal(err)
	}
	assertValue(t, reg, 2, "kafkaes_snapshot_writes_total", "result", "ok")
	st := repo.SnapshotStats()
	if st.Writer.Written != 2 {
		t.Errorf("snapshot writer wrote %d, want 2", st.Writer.Written)
	}
	if st.Hits != 3 || st.Misses != 2 {
		t.Errorf("repository snapshot stats %+v disagree with the metrics", st)
	}
	if n, err := testutil.GatherAndCount(reg, "kafkaes_load_duration_seconds"); err != nil || n != 1 {
		t.Errorf("load duration histograms: %d, want 1 (one aggregate type)", n)
	}
	// Every append went through a group-commit round of its own (they
	// were sequential): 4 committed, 2 failed by the version check. A round
	// is reported after its appends returned, so wait for the last one.
	waitFor(t, func() bool {
		return sampleValue(t, reg, "kafkaes_group_commit_batches_total") == 6
	})
	assertValue(t, reg, 4, "kafkaes_group_commit_batches_total", "result", "committed")
	assertValue(t, reg, 2, "kafkaes_group_commit_batches_total", "result", "failed")
	if got := sampleSum(t, reg, "kafkaes_group_commit_events"); got != 6 {
		t.Errorf("events in group-commit rounds: %v, want 6", got)
	}

	// A second store on the topic indexes it at start: the index gauges
	// reach the end of every partition.
	reg2 := prometheus.NewRegistry()
	col2, err := kprom.NewCollector(reg2)
	if err != nil {
		t.Fatal(err)
	}
	store2, err := kafka.New(ctx, c.Client(t), topic, kafka.WithObserver(col2))
	if err != nil {
		t.Fatal(err)
	}
	defer store2.Close()
	p := store2.Partition("c-1")
	part := []string{"topic", topic, "partition", strconv.Itoa(int(p))}
	end := sampleValue(t, reg2, "kafkaes_index_end_offset", part...)
	if off := sampleValue(t, reg2, "kafkaes_index_offset", part...); off != end || end < 4 {
		t.Errorf("index offset %v, end %v: want equal and >= 4 (4 events and their commit markers)", off, end)
	}
	if got := sampleValue(t, reg2, "kafkaes_index_records_total", part...); got < 4 {
		t.Errorf("index records of the stream's partition: %v, want >= 4", got)
	}

	// A second collector on the same registry is refused with a clear error.
	if _, err := kprom.NewCollector(reg); err == nil || !strings.Contains(err.Error(), "one Collector per registry") {
		t.Errorf("second collector on one registry: %v", err)
	}
}

func assertValue(t *testing.T, reg prometheus.Gatherer, want float64, name string, labels ...string) {
	t.Helper()
	if got := sampleValue(t, reg, name, labels...); got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// sampleValue sums the counter or gauge samples of the metric family name
// whose labels include the given label pairs.
func sampleValue(t *testing.T, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue metric
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// sampleSum sums the observed values of the histogram family name.
func sampleSum(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetHistogram().GetSampleSum()
			}
		}
	}
	return sum
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
