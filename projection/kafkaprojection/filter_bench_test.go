package kafkaprojection_test

import (
	"context"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/cputime"
	"github.com/kafkaes/kafkaes/internal/wire"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/avro/avrotest"
)

// MoneyRefunded is the second event type the filtered projection of
// BenchmarkCatchUpFiltered handles (the first is MoneyMoved).
type MoneyRefunded MoneyMoved

// filterBenchTypes is how many event types the filtered benchmark's topic
// holds; the projection handles 2 of them.
const filterBenchTypes = 40

// catchUpFiltered is BenchmarkCatchUp/filtered: a projection interested
// in 2 of 40 event types catching up on an events topic of n Avro events
// of all 40 (3 partitions; the types take turns, so 1 in 20 events is the
// projection's), through the consumer-group Source:
//
//   - unfiltered: handlers for the 2 types and no filter
//     (projection.WithReadAll, so the runner does not filter): every record is
//     decoded by sarama and by the wire format; the values of the other 38
//     types are not decoded (the runner knows they have no handler);
//   - filtered: the same handlers, the source filtered with
//     [kafkaprojection.WithReadOptions]([eventstore.WithTypes]) of the 2
//     types;
//   - all: one OnAny handler that decodes every event (what a projection of
//     all 40 types costs);
//   - auto: the handlers for the 2 types, no WithReadOptions and no
//     WithReadAll: the runner gives the source its handlers' types
//     (projection.Filterer), so it costs what filtered does.
//
// The three run in turn in one loop (load from other processes hits them
// alike) and report CPU time (user+system of the whole process, the
// in-process broker included) per catch-up, filtered/unfiltered-cpu and
// filtered/all-cpu.
func catchUpFiltered(b *testing.B, n int) {
	ctx := context.Background()
	c := kafkatest.New(b)
	topic := kafkatest.TopicName(b, "events")
	c.CreateTopic(b, topic, 3, kafkatest.EventsTopicConfig())
	reg := serde.NewRegistry()
	serde.MustRegister[MoneyMoved](reg, "bank.MoneyMoved")
	serde.MustRegister[MoneyRefunded](reg, "bank.MoneyRefunded")
	// The other 38 types: the same fields, distinct Go types (a struct
	// tag makes each one its own type).
	base := reflect.TypeFor[MoneyMoved]()
	others := make([]reflect.Type, 0, filterBenchTypes-2)
	for i := range filterBenchTypes - 2 {
		fields := make([]reflect.StructField, base.NumField())
		for f := range fields {
			fields[f] = base.Field(f)
		}
		fields[0].Tag = reflect.StructTag(fmt.Sprintf(`%s bench:"%d"`, fields[0].Tag, i))
		t := reflect.StructOf(fields)
		if err := reg.RegisterType(t, fmt.Sprintf("bank.Other%02d", i)); err != nil {
			b.Fatal(err)
		}
		others = append(others, t)
	}
	rc, _ := avrotest.Registry(b)
	sd, err := avro.New(ctx, reg, rc, topic)
	if err != nil {
		b.Fatal(err)
	}
	produceTypes(b, c, topic, sd, others, n)
	wanted := n / filterBenchTypes * 2
	if r := n % filterBenchTypes; r > 0 {
		wanted += min(r, 2)
	}

	client := c.Client(b)
	catchUp := func(b *testing.B, group, readAll bool, handlers []projection.Handler, want int64, got *atomic.Int64, opts ...kafkaprojection.Option) {
		got.Store(0)
		ropts := []projection.Option{projection.WithLogger(discard())}
		if readAll {
			ropts = append(ropts, projection.WithReadAll())
		}
		r, err := projection.New("bench", sd, handlers, ropts...)
		if err != nil {
			b.Fatal(err)
		}
		var src interface {
			projection.Source
			Close() error
		}
		if group {
			src, err = kafkaprojection.NewSource(ctx, client, topic, fmt.Sprintf("bench-%d", time.Now().UnixNano()), opts...)
		} else {
			src, err = kafkaprojection.NewReader(ctx, client, topic, opts...)
		}
		if err != nil {
			b.Fatal(err)
		}
		if err := r.CatchUp(ctx, src, nil); err != nil {
			b.Fatal(err)
		}
		_ = src.Close()
		if got.Load() != want {
			b.Fatalf("handled %d events, want %d", got.Load(), want)
		}
	}
	var got atomic.Int64
	two := []projection.Handler{
		projection.On(func(_ context.Context, _ MoneyMoved, _ projection.Meta) error { got.Add(1); return nil }),
		projection.On(func(_ context.Context, _ MoneyRefunded, _ projection.Meta) error { got.Add(1); return nil }),
	}
	all := []projection.Handler{
		projection.OnAny(func(context.Context, any, projection.Meta) error { got.Add(1); return nil }),
	}
	filter := kafkaprojection.WithReadOptions(eventstore.WithTypes("bank.MoneyMoved", "bank.MoneyRefunded"))
	// cpu[i] is the CPU time of run i of runs in all iterations.
	runs := []struct {
		name     string
		group    bool
		readAll  bool // projection.WithReadAll: no filter from the handlers
		handlers []projection.Handler
		want     int
		opts     []kafkaprojection.Option
	}{
		{"reader-unfiltered", false, true, two, wanted, nil},
		{"reader-filtered", false, true, two, wanted, []kafkaprojection.Option{filter}},
		{"reader-all", false, false, all, n, nil},
		{"group-unfiltered", true, true, two, wanted, nil},
		{"group-filtered", true, true, two, wanted, []kafkaprojection.Option{filter}},
		{"reader-auto", false, false, two, wanted, nil},
		{"group-auto", true, false, two, wanted, nil},
	}
	cpu := make([]time.Duration, len(runs))
	for b.Loop() {
		for i, run := range runs {
			c0 := cputime.Process()
			catchUp(b, run.group, run.readAll, run.handlers, int64(run.want), &got, run.opts...)
			cpu[i] += cputime.Process() - c0
		}
	}
	for i, run := range runs {
		b.ReportMetric(float64(cpu[i].Nanoseconds())/float64(b.N), run.name+"-cpu-ns/op")
	}
	b.ReportMetric(cpu[1].Seconds()/cpu[0].Seconds(), "reader-filtered/unfiltered-cpu")
	b.ReportMetric(cpu[1].Seconds()/cpu[2].Seconds(), "reader-filtered/all-cpu")
	b.ReportMetric(cpu[4].Seconds()/cpu[3].Seconds(), "group-filtered/unfiltered-cpu")
	b.ReportMetric(cpu[5].Seconds()/cpu[0].Seconds(), "reader-auto/unfiltered-cpu")
	b.ReportMetric(cpu[6].Seconds()/cpu[3].Seconds(), "group-auto/unfiltered-cpu")
}

// produceTypes writes n Avro events to topic whose types take turns:
// MoneyMoved, MoneyRefunded, then one of each type of others.
func produceTypes(b *testing.B, c *kafkatest.Cluster, topic string, sd serde.Serde, others []reflect.Type, n int) {
	cfg := c.Config()
	cfg.Producer.Return.Successes = false
	cfg.Producer.Return.Errors = true
	cfg.Producer.Partitioner = wire.NewPartitioner
	cfg.Producer.Flush.Messages = 500
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	p, err := sarama.NewAsyncProducer(c.Brokers, cfg)
	if err != nil {
		b.Fatal(err)
	}
	note := "rent"
	at := time.UnixMilli(1_700_000_000_123).UTC()
	for i := range n {
		stream := fmt.Sprint("acc-", i%1000)
		ev := MoneyMoved{ID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", From: stream, To: "acc-2", Cents: int64(i), Currency: "EUR", At: at, Note: &note}
		var v any
		switch k := i % filterBenchTypes; k {
		case 0:
			v = ev
		case 1:
			v = MoneyRefunded(ev)
		default:
			v = reflect.ValueOf(ev).Convert(others[k-2]).Interface()
		}
		name, data, err := sd.Marshal(context.Background(), v)
		if err != nil {
			b.Fatal(err)
		}
		key, hs := wire.Encode(stream, int64(i/1000+1), eventstore.Event{ID: eventstore.NewEventID(), Type: name, Data: data}, at)
		p.Input() <- &sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(key), Value: sarama.ByteEncoder(data), Headers: hs}
		select {
		case err := <-p.Errors():
			b.Fatal(err)
		default:
		}
	}
	if err := p.Close(); err != nil {
		b.Fatal(err)
	}
}
