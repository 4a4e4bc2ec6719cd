package kafka_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

var compCodecs = []struct {
	name  string
	codec sarama.CompressionCodec
}{
	{"none", sarama.CompressionNone},
	{"gzip", sarama.CompressionGZIP},
	{"snappy", sarama.CompressionSnappy},
	{"lz4", sarama.CompressionLZ4},
	{"zstd", sarama.CompressionZSTD},
}

// compEvent returns an event-like JSON payload: repetitive field names,
// varying values, about 230 bytes.
func compEvent(i int) eventstore.Event {
	data := fmt.Sprintf(`{"accountId":"acc-%06d","amount":%d,"currency":"EUR","reference":"invoice 2026-11-%06d",`+
		`"channel":"mobile","initiatedBy":"user-%04d","note":"monthly transfer to savings","at":"2026-11-24T07:%02d:%02d.%03dZ"}`,
		i%5000, (i*7919)%100000, i, i%700, (i/60)%60, i%60, i%1000)
	return eventstore.Event{Type: "bank.MoneyDeposited", Data: []byte(data)}
}

// topicBytes returns the size of the topic's log on the brokers (sum over
// partitions and log directories), as DescribeLogDirs reports it.
func topicBytes(tb testing.TB, c *kafkatest.Cluster, topic string) int64 {
	tb.Helper()
	admin, err := sarama.NewClusterAdmin(c.Brokers, c.AdminConfig())
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	ids := []int32{}
	brokers, _, err := admin.DescribeCluster()
	if err != nil {
		tb.Fatal(err)
	}
	for _, b := range brokers {
		ids = append(ids, b.ID())
	}
	dirs, err := admin.DescribeLogDirs(ids)
	if err != nil {
		tb.Fatal(err)
	}
	var n int64
	for _, ds := range dirs {
		for _, d := range ds {
			for _, t := range d.Topics {
				if t.Topic != topic {
					continue
				}
				for _, p := range t.Partitions {
					n += p.Size
				}
			}
		}
	}
	return n
}

// TestCompressionRoundTrip appends with every codec and reads the events
// back unchanged; compressing codecs store fewer bytes than none.
func TestCompressionRoundTrip(t *testing.T) {
	c := kafkatest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sizes := map[string]int64{}
	for _, cc := range compCodecs {
		t.Run(cc.name, func(t *testing.T) {
			topic := kafkatest.TopicName(t, "compression")
			c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
			s, err := kafka.New(ctx, c.Client(t), topic, kafka.WithCompression(cc.codec))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var evs []eventstore.Event
			for i := range 50 {
				evs = append(evs, compEvent(i))
			}
			if _, err := s.Append(ctx, "acc-1", eventstore.NoStream, evs...); err != nil {
				t.Fatal(err)
			}
			i := 0
			for rec, err := range s.ReadStream(ctx, "acc-1", 1) {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(rec.Data, evs[i].Data) || rec.Type != evs[i].Type {
					t.Fatalf("event %d read back as %q, want %q", i+1, rec.Data, evs[i].Data)
				}
				i++
			}
			if i != len(evs) {
				t.Fatalf("read %d events, want %d", i, len(evs))
			}
			// A second store reads them through its index catch-up too.
			s2, err := kafka.New(ctx, c.Client(t), topic)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			n := 0
			for _, err := range s2.ReadStream(ctx, "acc-1", 1) {
				if err != nil {
					t.Fatal(err)
				}
				n++
			}
			if n != len(evs) {
				t.Fatalf("second store read %d events, want %d", n, len(evs))
			}
			sizes[cc.name] = topicBytes(t, c, topic)
		})
	}
	t.Logf("topic bytes for 50 events in one transaction: %v", sizes)
	if len(sizes) == len(compCodecs) {
		for _, cc := range compCodecs[1:] {
			if sizes[cc.name] <= 0 || sizes[cc.name] >= sizes["none"] {
				t.Errorf("%s stored %d bytes, none %d: want fewer", cc.name, sizes[cc.name], sizes["none"])
			}
		}
	}
}

func TestCompressionUnknownCodec(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "compression")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	_, err := kafka.New(context.Background(), c.Client(t), topic, kafka.WithCompression(sarama.CompressionCodec(42)))
	if err == nil || !strings.Contains(err.Error(), "unknown compression codec") {
		t.Fatalf("New with codec 42: %v", err)
	}
}

// BenchmarkCompression appends event-like JSON with every codec and
// reports the bytes on the brokers per event (disk-B/event) next to the
// append cost: "parallel" from 32 concurrent appenders (group commit
// batches them), "sequential" one append (one event) at a time. Compare
// the codecs with each other within one run.
func BenchmarkCompression(b *testing.B) {
	c := kafkatest.New(b)
	// zstd-every-batch compresses the batches under the size the store
	// writes uncompressed too (kafka.compressMinBytes), as before it.
	codecs := append(compCodecs[:len(compCodecs):len(compCodecs)], struct {
		name  string
		codec sarama.CompressionCodec
	}{"zstd-every-batch", sarama.CompressionZSTD})
	every := func(b *testing.B, name string) {
		if name == "zstd-every-batch" {
			b.Cleanup(kafka.SetCompressMinBytes(0))
		}
	}
	for _, cc := range codecs {
		b.Run("sequential/"+cc.name, func(b *testing.B) {
			every(b, cc.name)
			ctx := context.Background()
			topic := kafkatest.TopicName(b, "compression")
			c.CreateTopic(b, topic, 4, kafkatest.EventsTopicConfig())
			s, err := kafka.New(ctx, c.Client(b), topic, kafka.WithCompression(cc.codec))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.ResetTimer()
			for i := range b.N {
				if _, err := s.Append(ctx, "acc-1", eventstore.Any, compEvent(i)); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(topicBytes(b, c, topic))/float64(b.N), "disk-B/event")
		})
	}
	for _, cc := range codecs {
		b.Run("parallel/"+cc.name, func(b *testing.B) {
			every(b, cc.name)
			ctx := context.Background()
			topic := kafkatest.TopicName(b, "compression")
			c.CreateTopic(b, topic, 4, kafkatest.EventsTopicConfig())
			s, err := kafka.New(ctx, c.Client(b), topic, kafka.WithCompression(cc.codec))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var n, stream atomic.Int64
			b.SetParallelism(16) // 16 x GOMAXPROCS appenders
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				id := fmt.Sprintf("acc-%d", stream.Add(1))
				for pb.Next() {
					i := int(n.Add(1))
					if _, err := s.Append(ctx, id, eventstore.Any, compEvent(i)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			size := topicBytes(b, c, topic)
			b.ReportMetric(float64(size)/float64(n.Load()), "disk-B/event")
			b.ReportMetric(float64(len(compEvent(1).Data)), "payload-B")
		})
	}
}

// TestSmallBatchesUncompressed: a batch whose records take fewer bytes
// than the store's threshold (one ~450-byte event) is written
// uncompressed whatever the codec; a larger one (50 events in one
// append) with the codec. Both read back.
func TestSmallBatchesUncompressed(t *testing.T) {
	c := kafkatest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	topic := kafkatest.TopicName(t, "compression")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	s, err := kafka.New(ctx, c.Client(t), topic, kafka.WithCompression(sarama.CompressionZSTD))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Append(ctx, "acc-1", eventstore.NoStream, compEvent(0)); err != nil {
		t.Fatal(err)
	}
	var evs []eventstore.Event
	for i := range 50 {
		evs = append(evs, compEvent(i+1))
	}
	if _, err := s.Append(ctx, "acc-1", eventstore.Exact(1), evs...); err != nil {
		t.Fatal(err)
	}
	client := c.Client(t)
	leader, err := client.Leader(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	req := &sarama.FetchRequest{Version: 4, MaxWaitTime: 0, MinBytes: 1, MaxBytes: 1 << 20}
	req.AddBlock(topic, 0, 0, 1<<20, -1)
	resp, err := leader.Fetch(req)
	if err != nil {
		t.Fatal(err)
	}
	var codecs []string
	for _, rs := range resp.GetBlock(topic, 0).RecordsSet {
		if rb := rs.RecordBatch; rb != nil && !rb.Control {
			codecs = append(codecs, fmt.Sprintf("%d records: %v", len(rb.Records), rb.Codec))
		}
	}
	if want := []string{"1 records: none", "50 records: zstd"}; strings.Join(codecs, ", ") != strings.Join(want, ", ") {
		t.Fatalf("data batches %v, want %v", codecs, want)
	}
	n := 0
	for _, err := range s.ReadStream(ctx, "acc-1", 1) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 51 {
		t.Fatalf("read %d events, want 51", n)
	}
}
