package kafkaprojection_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/linkedin/goavro/v2"

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

// MoneyMoved is the benchmark's 7-field Avro event (as in serde/avro).
type MoneyMoved struct {
	ID       string    `avro:"id,uuid"`
	From     string    `avro:"from"`
	To       string    `avro:"to"`
	Cents    int64     `avro:"cents"`
	Currency string    `avro:"currency"`
	At       time.Time `avro:"at"`
	Note     *string   `avro:"note"`
}

// BenchmarkCatchUp measures catching up on an events topic of Avro events
// (KAFKAES_BENCH_EVENTS, default 200000, 20000 with -short; 3 partitions):
// raw-sarama-goavro is a plain sarama consumer per partition decoding the
// Confluent framing and the Avro body with goavro into native maps;
// kafkaes is projection.Runner.CatchUp through a consumer-group Source,
// decoding the wire format and the Avro body into Go structs for a no-op
// typed handler; kafkaes-reader is the same through a Reader (plain
// partition consumers, no group). Compare the events/s metrics.
//
// paired alternates both in one loop (load from other processes then hits
// both alike) and reports cost-ratio = kafkaes time / raw time.
//
// filtered is a projection of 2 of 40 event types on a topic of its own,
// with and without a filter on the source, in one loop (see
// catchUpFiltered).
//
//	go test -run '^$' -bench 'BenchmarkCatchUp/paired' -benchtime 5x ./projection/kafkaprojection
//	go test -run '^$' -bench 'BenchmarkCatchUp/filtered' -benchtime 3x ./projection/kafkaprojection
func BenchmarkCatchUp(b *testing.B) {
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	if v, err := strconv.Atoi(os.Getenv("KAFKAES_BENCH_EVENTS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	c := kafkatest.New(b)
	topic := kafkatest.TopicName(b, "events")
	c.CreateTopic(b, topic, 3, kafkatest.EventsTopicConfig())
	reg := serde.NewRegistry()
	serde.MustRegister[MoneyMoved](reg, "bank.MoneyMoved")
	rc, _ := avrotest.Registry(b)
	sd, err := avro.New(ctx, reg, rc, topic)
	if err != nil {
		b.Fatal(err)
	}
	produceAvro(b, c, topic, sd, n)
	schema, err := sd.SchemaFor("bank.MoneyMoved")
	if err != nil {
		b.Fatal(err)
	}
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("raw-sarama-goavro", func(b *testing.B) {
		for b.Loop() {
			rawCatchUp(b, c, topic, codec, n)
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	client := c.Client(b) // the user's client; each source opens its own connections from it
	kafkaesCatchUp := func(b *testing.B, group bool) {
		var got atomic.Int64
		r, err := projection.New("bench", sd, []projection.Handler{
			projection.On(func(_ context.Context, ev MoneyMoved, _ projection.Meta) error { got.Add(1); return nil }),
			// WithReadAll: the sources' unfiltered paths, as compared with raw
			// sarama + goavro since this benchmark began (a runner of On
			// handlers otherwise gives them its types, and the Reader takes
			// its filtered raw-fetch path).
		}, projection.WithLogger(discard()), projection.WithReadAll())
		if err != nil {
			b.Fatal(err)
		}
		var src interface {
			projection.Source
			Close() error
		}
		if group {
			src, err = kafkaprojection.NewSource(ctx, client, topic, fmt.Sprintf("bench-%d", time.Now().UnixNano()))
		} else {
			src, err = kafkaprojection.NewReader(ctx, client, topic)
		}
		if err != nil {
			b.Fatal(err)
		}
		if err := r.CatchUp(ctx, src, nil); err != nil {
			b.Fatal(err)
		}
		_ = src.Close()
		if got.Load() != int64(n) {
			b.Fatalf("handled %d of %d events", got.Load(), n)
		}
	}
	b.Run("kafkaes", func(b *testing.B) {
		for b.Loop() {
			kafkaesCatchUp(b, true)
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("kafkaes-reader", func(b *testing.B) {
		for b.Loop() {
			kafkaesCatchUp(b, false)
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	// paired alternates the two, so that load from other processes hits
	// both alike, and reports kafkaes time / raw time.
	b.Run("paired", func(b *testing.B) {
		var raw, group, reader time.Duration
		var rawCPU, groupCPU, readerCPU time.Duration
		for b.Loop() {
			t0, c0 := time.Now(), cputime.Process()
			rawCatchUp(b, c, topic, codec, n)
			t1, c1 := time.Now(), cputime.Process()
			kafkaesCatchUp(b, true)
			t2, c2 := time.Now(), cputime.Process()
			kafkaesCatchUp(b, false)
			t3, c3 := time.Now(), cputime.Process()
			raw, group, reader = raw+t1.Sub(t0), group+t2.Sub(t1), reader+t3.Sub(t2)
			rawCPU, groupCPU, readerCPU = rawCPU+c1-c0, groupCPU+c2-c1, readerCPU+c3-c2
		}
		b.ReportMetric(group.Seconds()/raw.Seconds(), "cost-ratio-group")
		b.ReportMetric(reader.Seconds()/raw.Seconds(), "cost-ratio-reader")
		// CPU time (user+system of the whole process, the in-process
		// broker included) is less disturbed by other processes.
		b.ReportMetric(groupCPU.Seconds()/rawCPU.Seconds(), "cpu-ratio-group")
		b.ReportMetric(readerCPU.Seconds()/rawCPU.Seconds(), "cpu-ratio-reader")
		b.ReportMetric(float64(n)*float64(b.N)/raw.Seconds(), "raw-events/s")
	})
	b.Run("filtered", func(b *testing.B) { catchUpFiltered(b, n) })
}

func produceAvro(b *testing.B, c *kafkatest.Cluster, topic string, sd serde.Serde, n int) {
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
		name, data, err := sd.Marshal(context.Background(), ev)
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

// rawCatchUp reads the whole topic with plain partition consumers and
// decodes every value with goavro, as a hand-written consumer would.
func rawCatchUp(b *testing.B, c *kafkatest.Cluster, topic string, codec *goavro.Codec, n int) {
	cfg := c.Config()
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cons, err := sarama.NewConsumer(c.Brokers, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer cons.Close()
	parts, err := cons.Partitions(topic)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan int, len(parts))
	for _, p := range parts {
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			defer pc.Close()
			count := 0
			for msg := range pc.Messages() {
				var typ []byte
				for _, h := range msg.Headers {
					if string(h.Key) == "es.type" {
						typ = h.Value
					}
				}
				if len(msg.Value) < 5 || msg.Value[0] != 0 || len(typ) == 0 {
					panic("not a Confluent-framed kafkaes event")
				}
				_ = binary.BigEndian.Uint32(msg.Value[1:5]) // schema ID: one codec here
				v, _, err := codec.NativeFromBinary(msg.Value[5:])
				if err != nil {
					panic(err)
				}
				_ = v.(map[string]any)["cents"]
				count++
				if msg.Offset >= pc.HighWaterMarkOffset()-1 {
					break
				}
			}
			done <- count
		}()
	}
	total := 0
	for range parts {
		total += <-done
	}
	if total != n {
		b.Fatalf("raw consumer read %d of %d events", total, n)
	}
}
