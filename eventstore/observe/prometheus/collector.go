package prometheus

import (
	"context"
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kafkaes/kafkaes/eventstore/observe"
)

// Collector implements every observer interface of package
// eventstore/observe and keeps the metrics listed in the package
// documentation. It is safe for concurrent use. Create it with
// [NewCollector].
type Collector struct {
	observe.Base
	appends        *prometheus.CounterVec
	appendEvents   *prometheus.CounterVec
	appendBytes    *prometheus.CounterVec
	appendDuration *prometheus.HistogramVec

	batches       *prometheus.CounterVec
	batchAppends  *prometheus.HistogramVec
	batchEvents   *prometheus.HistogramVec
	batchDuration *prometheus.HistogramVec
	batchRetried  *prometheus.CounterVec
	indexRecords  *prometheus.CounterVec
	indexOffset   *prometheus.GaugeVec
	indexEnd      *prometheus.GaugeVec
	loads         *prometheus.CounterVec
	loadDuration  *prometheus.HistogramVec
	loadEvents    *prometheus.HistogramVec
	retries       *prometheus.CounterVec
	snapWrites    *prometheus.CounterVec
	snapWriteTime prometheus.Histogram
	serdeOps      *prometheus.CounterVec
	serdeErrors   *prometheus.CounterVec
	serdeDuration *prometheus.HistogramVec
	registryCalls *prometheus.CounterVec
	registryTime  *prometheus.HistogramVec
	cache         *prometheus.CounterVec
	handled       *prometheus.CounterVec
	handlerTime   *prometheus.HistogramVec
	failures      *prometheus.CounterVec
	lag           *prometheus.GaugeVec
	rebuildDone   *prometheus.GaugeVec
	rebuildTotal  *prometheus.GaugeVec
}

// NewCollector returns a collector whose metrics are registered on reg
// (for example prometheus.NewRegistry() or prometheus.DefaultRegisterer).
// It fails when reg already has metrics of the same names, for example
// when a second collector is registered on it.
func NewCollector(reg prometheus.Registerer) (*Collector, error) {
	if reg == nil {
		return nil, fmt.Errorf("prometheus: NewCollector needs a prometheus.Registerer, for example prometheus.NewRegistry()")
	}
	// Latencies from 100µs to ~6.5s; sizes (appends or events per batch,
	// events per load) from 1 to 4096.
	latencyBuckets := prometheus.ExponentialBuckets(0.0001, 2, 17)
	sizeBuckets := prometheus.ExponentialBuckets(1, 2, 13)
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "kafkaes", Name: name, Help: help}, labels)
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "kafkaes", Name: name, Help: help}, labels)
	}
	hist := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "kafkaes", Name: name, Help: help, Buckets: buckets}, labels)
	}
	c := &Collector{
		appends:        counter("appends_total", "Appends to the event store, by result (ok, conflict, error).", "topic", "result"),
		appendEvents:   counter("append_events_total", "Events in successful appends.", "topic"),
		appendBytes:    counter("append_bytes_total", "Event data bytes in successful appends (before compression).", "topic"),
		appendDuration: hist("append_duration_seconds", "Duration of appends, queueing included.", latencyBuckets, "topic", "result"),

		batches:       counter("group_commit_batches_total", "Group-commit rounds (one Kafka transaction each), by result (committed, aborted, failed).", "topic", "result"),
		batchAppends:  hist("group_commit_appends", "Appends per group-commit round.", sizeBuckets, "topic"),
		batchEvents:   hist("group_commit_events", "Events per group-commit round.", sizeBuckets, "topic"),
		batchDuration: hist("group_commit_duration_seconds", "Duration of group-commit rounds (check, produce, conflict scan, commit).", latencyBuckets, "topic"),
		batchRetried:  counter("group_commit_retried_appends_total", "Appends put into a later transaction because their round was aborted.", "topic"),
		indexRecords:  counter("index_records_total", "Records read by the stream index's catch-up.", "topic", "partition"),
		indexOffset:   gauge("index_offset", "Next offset the stream index will read, per partition.", "topic", "partition"),
		indexEnd:      gauge("index_end_offset", "Last stable offset of the partition when the latest index catch-up started.", "topic", "partition"),

		loads:        counter("loads_total", "Aggregate loads, by snapshot use (none, hit, miss, ignored, error) and result (ok, not_found, error).", "aggregate", "snapshot", "result"),
		loadDuration: hist("load_duration_seconds", "Duration of aggregate loads.", latencyBuckets, "aggregate"),
		loadEvents:   hist("load_events", "Events read per aggregate load (after the snapshot, if one was used).", sizeBuckets, "aggregate"),
		retries:      counter("update_retries_total", "Repository.Update attempts that met a concurrency conflict and were retried.", "aggregate"),
		snapWrites:   counter("snapshot_writes_total", "Snapshot save attempts of snapshot writers, by result (ok, error, gave_up: the last failed attempt, dropped: refused, queue full).", "result"),
		snapWriteTime: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "kafkaes", Name: "snapshot_write_duration_seconds",
			Help: "Duration of snapshot saves.", Buckets: latencyBuckets}),

		serdeOps:      counter("serde_operations_total", "Serde encodes and decodes, by result (ok, error).", "serde", "op", "result"),
		serdeErrors:   counter("serde_errors_total", "Serde encode and decode errors, by event type.", "serde", "op", "type"),
		serdeDuration: hist("serde_duration_seconds", "Duration of serde encodes and decodes.", latencyBuckets, "serde", "op"),
		registryCalls: counter("schema_registry_requests_total", "Schema Registry calls (retries included), by operation and result (ok, not_found, error).", "op", "result"),
		registryTime:  hist("schema_registry_request_duration_seconds", "Duration of Schema Registry calls, retries included.", latencyBuckets, "op"),
		cache:         counter("serde_cache_lookups_total", "Serde cache look-ups, by cache and result (hit, miss).", "cache", "result"),

		handled:      counter("projection_events_handled_total", "Handler runs of projections (retries included), by result (ok, error).", "projection", "result"),
		handlerTime:  hist("projection_handler_duration_seconds", "Duration of a projection's decoding and handlers for one event.", latencyBuckets, "projection"),
		failures:     counter("projection_failed_events_total", "Events a projection gave up on, by action (skip, dead_letter).", "projection", "action"),
		lag:          gauge("projection_lag", "Offsets a projection is behind the end of the partition, as of the latest Runner.Lag.", "projection", "partition"),
		rebuildDone:  gauge("projection_rebuild_done", "Events processed by the running (or latest) catch-up or rebuild.", "projection"),
		rebuildTotal: gauge("projection_rebuild_total", "Events the running (or latest) catch-up or rebuild has to process.", "projection"),
	}
	for _, m := range []prometheus.Collector{
		c.appends, c.appendEvents, c.appendBytes, c.appendDuration,
		c.batches, c.batchAppends, c.batchEvents, c.batchDuration, c.batchRetried, c.indexRecords, c.indexOffset, c.indexEnd,
		c.loads, c.loadDuration, c.loadEvents, c.retries, c.snapWrites, c.snapWriteTime,
		c.serdeOps, c.serdeErrors, c.serdeDuration, c.registryCalls, c.registryTime, c.cache,
		c.handled, c.handlerTime, c.failures, c.lag, c.rebuildDone, c.rebuildTotal,
	} {
		if err := reg.Register(m); err != nil {
			return nil, fmt.Errorf("prometheus: register the kafkaes metrics: %w (register one Collector per registry and share it)", err)
		}
	}
	return c, nil
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

func partition(p int32) string { return strconv.FormatInt(int64(p), 10) }

// ObserveAppend implements [observe.AppendObserver].
func (c *Collector) ObserveAppend(_ context.Context, a observe.Append) {
	res := result(a.Err)
	if a.Conflict {
		res = "conflict"
	}
	c.appends.WithLabelValues(a.Topic, res).Inc()
	c.appendDuration.WithLabelValues(a.Topic, res).Observe(a.Duration.Seconds())
	if a.Err == nil {
		c.appendEvents.WithLabelValues(a.Topic).Add(float64(a.Events))
		c.appendBytes.WithLabelValues(a.Topic).Add(float64(a.Bytes))
	}
}

// ObserveBatch implements [observe.BatchObserver].
func (c *Collector) ObserveBatch(_ context.Context, b observe.Batch) {
	res := "failed"
	switch {
	case b.Committed():
		res = "committed"
	case b.Retried > 0:
		res = "aborted"
	}
	c.batches.WithLabelValues(b.Topic, res).Inc()
	c.batchAppends.WithLabelValues(b.Topic).Observe(float64(b.Appends))
	c.batchEvents.WithLabelValues(b.Topic).Observe(float64(b.Events))
	c.batchDuration.WithLabelValues(b.Topic).Observe(b.Duration.Seconds())
	if b.Retried > 0 {
		c.batchRetried.WithLabelValues(b.Topic).Add(float64(b.Retried))
	}
}

// ObserveIndex implements [observe.IndexObserver].
func (c *Collector) ObserveIndex(_ context.Context, ix observe.Index) {
	p := partition(ix.Partition)
	c.indexRecords.WithLabelValues(ix.Topic, p).Add(float64(ix.Records))
	c.indexOffset.WithLabelValues(ix.Topic, p).Set(float64(ix.Offset))
	c.indexEnd.WithLabelValues(ix.Topic, p).Set(float64(ix.End))
}

// ObserveLoad implements [observe.LoadObserver].
func (c *Collector) ObserveLoad(_ context.Context, l observe.Load) {
	res := result(l.Err)
	if l.Err == nil && l.Events == 0 {
		res = "not_found"
	}
	c.loads.WithLabelValues(l.Aggregate, l.Snapshot.String(), res).Inc()
	c.loadDuration.WithLabelValues(l.Aggregate).Observe(l.Duration.Seconds())
	if l.Err == nil {
		c.loadEvents.WithLabelValues(l.Aggregate).Observe(float64(l.Events))
	}
}

// ObserveRetry implements [observe.RetryObserver].
func (c *Collector) ObserveRetry(_ context.Context, r observe.Retry) {
	c.retries.WithLabelValues(r.Aggregate).Inc()
}

// ObserveSnapshotWrite implements [observe.SnapshotObserver].
func (c *Collector) ObserveSnapshotWrite(_ context.Context, w observe.SnapshotWrite) {
	res := result(w.Err)
	switch {
	case w.Dropped:
		c.snapWrites.WithLabelValues("dropped").Inc()
		return
	case w.GaveUp:
		res = "gave_up"
	}
	c.snapWrites.WithLabelValues(res).Inc()
	c.snapWriteTime.Observe(w.Duration.Seconds())
}

// ObserveSerde implements [observe.SerdeObserver].
func (c *Collector) ObserveSerde(_ context.Context, s observe.Serde) {
	op := string(s.Op)
	c.serdeOps.WithLabelValues(s.Serde, op, result(s.Err)).Inc()
	c.serdeDuration.WithLabelValues(s.Serde, op).Observe(s.Duration.Seconds())
	if s.Err != nil {
		c.serdeErrors.WithLabelValues(s.Serde, op, s.Type).Inc()
	}
}

// ObserveRegistry implements [observe.RegistryObserver].
func (c *Collector) ObserveRegistry(_ context.Context, r observe.RegistryCall) {
	res := result(r.Err)
	if r.NotFound {
		res = "not_found"
	}
	c.registryCalls.WithLabelValues(r.Op, res).Inc()
	c.registryTime.WithLabelValues(r.Op).Observe(r.Duration.Seconds())
}

// ObserveCache implements [observe.CacheObserver].
func (c *Collector) ObserveCache(_ context.Context, l observe.CacheLookup) {
	res := "miss"
	if l.Hit {
		res = "hit"
	}
	c.cache.WithLabelValues(l.Cache, res).Inc()
}

// ObserveHandled implements [observe.ProjectionObserver].
func (c *Collector) ObserveHandled(_ context.Context, h observe.Handled) {
	c.handled.WithLabelValues(h.Projection, result(h.Err)).Inc()
	c.handlerTime.WithLabelValues(h.Projection).Observe(h.Duration.Seconds())
}

// ObserveFailure implements [observe.FailureObserver].
func (c *Collector) ObserveFailure(_ context.Context, f observe.Failure) {
	c.failures.WithLabelValues(f.Projection, f.Action).Inc()
}

// ObserveLag implements [observe.LagObserver].
func (c *Collector) ObserveLag(_ context.Context, l observe.Lag) {
	c.lag.WithLabelValues(l.Projection, partition(l.Partition)).Set(float64(l.Lag))
}

// ObserveRebuild implements [observe.RebuildObserver].
func (c *Collector) ObserveRebuild(_ context.Context, r observe.Rebuild) {
	c.rebuildDone.WithLabelValues(r.Projection).Set(float64(r.Done))
	c.rebuildTotal.WithLabelValues(r.Projection).Set(float64(r.Total))
}

var (
	_ observe.AppendObserver     = (*Collector)(nil)
	_ observe.BatchObserver      = (*Collector)(nil)
	_ observe.IndexObserver      = (*Collector)(nil)
	_ observe.LoadObserver       = (*Collector)(nil)
	_ observe.RetryObserver      = (*Collector)(nil)
	_ observe.SnapshotObserver   = (*Collector)(nil)
	_ observe.SerdeObserver      = (*Collector)(nil)
	_ observe.RegistryObserver   = (*Collector)(nil)
	_ observe.CacheObserver      = (*Collector)(nil)
	_ observe.ProjectionObserver = (*Collector)(nil)
	_ observe.FailureObserver    = (*Collector)(nil)
	_ observe.LagObserver        = (*Collector)(nil)
	_ observe.RebuildObserver    = (*Collector)(nil)
)
