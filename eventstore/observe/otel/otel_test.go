package otel_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/eventstore/observe"
	"github.com/kafkaes/kafkaes/eventstore/observe/otel"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
	"github.com/kafkaes/kafkaes/serde"
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

func testSerde() serde.Serde {
	reg := serde.NewRegistry()
	serde.MustRegister[Added](reg, "test.Added")
	return serde.NewJSON(reg)
}

// TestTracePropagationEndToEnd: a command runs in a span; the event it
// appends carries the span's context in the Kafka header "traceparent";
// the projection handler of the event gets a ctx in the same trace, and
// a span it starts there is a child of the command's span.
func TestTracePropagationEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tracer := tp.Tracer("test")

	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "trace")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	store, err := kafka.New(ctx, c.Client(t), topic, kafka.WithObserver(otel.SpanEvents()))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sd := testSerde()
	repo := aggregate.NewRepository(store, sd, func() *Counter { return &Counter{} }, aggregate.WithMetadata(otel.Inject))

	// The command, in its span.
	cmdCtx, cmdSpan := tracer.Start(ctx, "deposit command")
	if _, err := repo.Update(cmdCtx, "acc-1", func(c *Counter) error { aggregate.Raise(c, Added{By: 5}); return nil }); err != nil {
		t.Fatal(err)
	}
	cmdSpan.End()
	want := cmdSpan.SpanContext()

	// An event appended without a span carries no trace context.
	if _, err := repo.Update(ctx, "acc-2", func(c *Counter) error { aggregate.Raise(c, Added{By: 1}); return nil }); err != nil {
		t.Fatal(err)
	}

	// The Kafka record has the W3C header, under its own name.
	msg := firstRecord(t, c, topic, store.Partition("acc-1"), "acc-1")
	var traceparent string
	for _, h := range msg.Headers {
		switch string(h.Key) {
		case "traceparent":
			traceparent = string(h.Value)
		case "meta.traceparent":
			t.Error("trace context written as meta.traceparent")
		}
	}
	wantHeader := "00-" + want.TraceID().String() + "-" + want.SpanID().String() + "-01"
	if traceparent != wantHeader {
		t.Fatalf("traceparent header %q, want %q", traceparent, wantHeader)
	}

	// The append was recorded as an event of the command's span.
	if !hasEvent(rec.Ended(), "deposit command", "kafkaes.append") {
		t.Error("the command span has no kafkaes.append event (otel.SpanEvents on the store)")
	}

	// The projection handler's ctx is in the command's trace.
	var mu sync.Mutex
	seen := map[string]trace.SpanContext{}
	r, err := projection.New("trace-test", sd, []projection.Handler{
		projection.On(func(ctx context.Context, ev Added, m projection.Meta) error {
			_, span := tracer.Start(ctx, "project "+m.StreamID)
			defer span.End()
			mu.Lock()
			seen[m.StreamID] = trace.SpanContextFromContext(ctx)
			mu.Unlock()
			return nil
		}),
	}, projection.WithHandlerContext(otel.ExtractEvent))
	if err != nil {
		t.Fatal(err)
	}
	src, err := kafkaprojection.NewSource(context.Background(), c.Client(t), topic, kafkatest.TopicName(t, "group"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := r.CatchUp(ctx, src, nil); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got, other := seen["acc-1"], seen["acc-2"]
	mu.Unlock()
	if got.TraceID() != want.TraceID() || got.SpanID() != want.SpanID() || !got.IsRemote() {
		t.Fatalf("handler ctx span context %v, want the remote command span %v", got, want)
	}
	if other.IsValid() {
		t.Errorf("event appended without a span: handler ctx has span context %v", other)
	}
	var child sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "project acc-1" {
			child = s
		}
	}
	if child == nil || child.Parent().SpanID() != want.SpanID() || child.SpanContext().TraceID() != want.TraceID() {
		t.Fatalf("handler span %v is not a child of the command span %v", child, want)
	}
}

func firstRecord(t *testing.T, c *kafkatest.Cluster, topic string, partition int32, key string) *sarama.ConsumerMessage {
	t.Helper()
	cfg := c.Config()
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cons, err := sarama.NewConsumer(c.Brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, partition, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case m := <-pc.Messages():
			if string(m.Key) == key {
				return m
			}
		case <-timeout:
			t.Fatalf("no record of %s in %s/%d", key, topic, partition)
		}
	}
}

func hasEvent(spans []sdktrace.ReadOnlySpan, span, event string) bool {
	for _, s := range spans {
		if s.Name() != span {
			continue
		}
		for _, e := range s.Events() {
			if e.Name == event {
				return true
			}
		}
	}
	return false
}

func TestInjectExtract(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("t").Start(context.Background(), "s")
	defer span.End()

	// Inject keeps the caller's values and does not need a map.
	md := eventstore.Metadata{CorrelationID: "c"}
	otel.Inject(ctx, &md)
	if md.Values[otel.KeyTraceparent] == "" || md.CorrelationID != "c" {
		t.Fatalf("inject: %+v", md)
	}
	back := trace.SpanContextFromContext(otel.Extract(context.Background(), md))
	if back.TraceID() != span.SpanContext().TraceID() || back.SpanID() != span.SpanContext().SpanID() {
		t.Fatalf("extract: %v, want %v", back, span.SpanContext())
	}

	// No span: nothing injected.
	var empty eventstore.Metadata
	otel.Inject(context.Background(), &empty)
	if len(empty.Values) != 0 {
		t.Fatalf("inject without a span wrote %v", empty.Values)
	}
	otel.Inject(ctx, nil) // no panic

	// Garbage from the wire gives no span context, and no panic.
	for _, bad := range []string{"", "00-xyz", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"} {
		md := eventstore.Metadata{Values: map[string]string{otel.KeyTraceparent: bad}}
		if sc := trace.SpanContextFromContext(otel.Extract(context.Background(), md)); sc.IsValid() {
			t.Errorf("traceparent %q gave a valid span context %v", bad, sc)
		}
	}
}

// TestSpanEventsWithoutSpan: the observer ignores contexts without a
// recording span.
func TestSpanEventsWithoutSpan(t *testing.T) {
	h := observe.Resolve(otel.SpanEvents())
	if h.Append == nil || h.Load == nil || h.Retry == nil || h.Handled == nil {
		t.Fatalf("SpanEvents implements %+v", h)
	}
	h.Append.ObserveAppend(context.Background(), observe.Append{Stream: "s"})
	h.Load.ObserveLoad(context.Background(), observe.Load{Stream: "s"})
}
