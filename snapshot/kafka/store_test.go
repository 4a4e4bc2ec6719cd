package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/kafkafetch"
	"github.com/kafkaes/kafkaes/snapshot"
	snapkafka "github.com/kafkaes/kafkaes/snapshot/kafka"
)

func compacted() map[string]*string {
	c := "compact"
	return map[string]*string{"cleanup.policy": &c}
}

func client(t testing.TB, c *kafkatest.Cluster) sarama.Client {
	t.Helper()
	cfg := c.Config()
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cl, err := sarama.NewClient(c.Brokers, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func open(t testing.TB, cl sarama.Client, topic string, opts ...snapkafka.Option) *snapkafka.Store {
	t.Helper()
	s, err := snapkafka.New(context.Background(), cl, topic, append([]snapkafka.Option{snapkafka.WithLogger(quiet())}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func snap(stream string, v int64, data string) snapshot.Snapshot {
	return snapshot.Snapshot{StreamID: stream, Version: v, EventID: "ev-" + stream, Type: "test.State", SchemaVersion: 2,
		Data: []byte(data), TakenAt: time.Date(2026, 11, 24, 6, 0, 0, int(v)*int(time.Microsecond), time.UTC)} // es.time keeps microseconds
}

func TestStoreSaveLoad(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "snapshot")
	c.CreateTopic(t, topic, 3, compacted())
	cl := client(t, c)
	s := open(t, cl, topic)

	_, err := s.Load(ctx, "a")
	require.ErrorIs(t, err, snapshot.ErrNotFound)
	require.NoError(t, s.Save(ctx, snap("a", 5, "a5")))
	require.NoError(t, s.Save(ctx, snap("b", 1, "b1")))
	require.NoError(t, s.Save(ctx, snap("a", 9, "a9")))
	require.NoError(t, s.Save(ctx, snap("a", 7, "a7")), "an older snapshot is skipped, not an error")
	got, err := s.Load(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, snap("a", 9, "a9"), got)
	got, err = s.Load(ctx, "b")
	require.NoError(t, err)
	require.Equal(t, snap("b", 1, "b1"), got)
	require.Equal(t, 2, s.Len())

	before := s.Fetches()
	_, err = s.Load(ctx, "a")
	require.NoError(t, err)
	require.EqualValues(t, 1, s.Fetches()-before, "a load is one fetch")

	require.Error(t, s.Save(ctx, snapshot.Snapshot{StreamID: "a", Version: 0, Type: "t"}))

	// The records follow the documented wire format.
	recs := readAll(t, cl, topic)
	require.Len(t, recs, 3)
	var a9 *sarama.ConsumerMessage
	for _, r := range recs {
		if string(r.Key) == "a" && string(r.Value) == "a9" {
			a9 = r
		}
	}
	require.NotNil(t, a9)
	h := map[string]string{}
	for _, x := range a9.Headers {
		h[string(x.Key)] = string(x.Value)
	}
	require.Equal(t, map[string]string{"es.version": "9", "es.type": "test.State", "es.snapshot.schema": "2",
		"es.snapshot.event": "ev-a", "es.time": "2026-11-24T06:00:00.000009Z"}, h)
}

// readAll reads every record of topic with a plain sarama consumer.
func readAll(t testing.TB, cl sarama.Client, topic string) []*sarama.ConsumerMessage {
	t.Helper()
	cons, err := sarama.NewConsumerFromClient(cl)
	require.NoError(t, err)
	defer cons.Close()
	parts, err := cl.Partitions(topic)
	require.NoError(t, err)
	var out []*sarama.ConsumerMessage
	for _, p := range parts {
		hw, err := cl.GetOffset(topic, p, sarama.OffsetNewest)
		require.NoError(t, err)
		if hw == 0 {
			continue
		}
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		require.NoError(t, err)
		for m := range pc.Messages() {
			out = append(out, m)
			if m.Offset >= hw-1 {
				break
			}
		}
		require.NoError(t, pc.Close())
	}
	return out
}

func TestStoreRebuildsIndexOnStart(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "snapshot")
	c.CreateTopic(t, topic, 4, compacted())
	cl := client(t, c)
	s1 := open(t, cl, topic)
	for i := range 50 {
		for _, stream := range []string{"x", "y", "z", "w"} {
			require.NoError(t, s1.Save(ctx, snap(stream, int64(i+1), stream)))
		}
	}
	require.NoError(t, s1.Close())

	var progress []snapkafka.Progress
	s2 := open(t, cl, topic, snapkafka.WithProgress(func(p snapkafka.Progress) { progress = append(progress, p) }))
	require.Equal(t, 4, s2.Len())
	require.NotEmpty(t, progress)
	last := progress[len(progress)-1]
	require.EqualValues(t, 200, last.Records)
	require.Zero(t, last.Remaining)
	require.Equal(t, 4, last.Streams)
	for _, stream := range []string{"x", "y", "z", "w"} {
		got, err := s2.Load(ctx, stream)
		require.NoError(t, err)
		require.EqualValues(t, 50, got.Version)
	}
	require.ErrorIs(t, s1.Save(ctx, snap("x", 99, "")), snapkafka.ErrClosed)
	_, err := s1.Load(ctx, "x")
	require.ErrorIs(t, err, snapkafka.ErrClosed)
}

func TestStoreStartIsCancellable(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "snapshot")
	c.CreateTopic(t, topic, 1, compacted())
	cl := client(t, c)
	s := open(t, cl, topic)
	for i := range 20 {
		require.NoError(t, s.Save(context.Background(), snap("k"+string(rune('a'+i)), 1, "v")))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := snapkafka.New(ctx, cl, topic, snapkafka.WithLogger(quiet()))
	require.ErrorIs(t, err, context.Canceled)
}

func TestStoreSeesOtherInstances(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "snapshot")
	c.CreateTopic(t, topic, 2, compacted())
	s1 := open(t, client(t, c), topic)
	s2 := open(t, client(t, c), topic, snapkafka.WithRefreshInterval(10*time.Millisecond))
	require.NoError(t, s1.Save(ctx, snap("a", 3, "a3")))
	require.Eventually(t, func() bool {
		got, err := s2.Load(ctx, "a")
		return err == nil && got.Version == 3
	}, 10*time.Second, 10*time.Millisecond)
	// s3 indexes a3 at start and does not poll: until it indexes a later
	// record, what it saved itself is what it has. (s2 polls every 10ms
	// and may index s1's stale record below before a Load, so it cannot
	// show this deterministically.)
	s3 := open(t, client(t, c), topic, snapkafka.WithRefreshInterval(0))
	require.NoError(t, s3.Save(ctx, snap("a", 4, "a4")))
	require.NoError(t, s1.Save(ctx, snap("a", 3, "stale")), "s1 does not know of version 4 yet and writes its older one")
	got, err := s3.Load(ctx, "a")
	require.NoError(t, err)
	require.EqualValues(t, 4, got.Version, "s3 keeps its newer snapshot until it indexes the later record")
}

func TestStoreRecoversFromDeletedRecords(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "snapshot")
	// Kafka allows DeleteRecords only on topics with the delete policy:
	// "compact,delete" (accepted by the store) stands in for compaction.
	policy := "compact,delete"
	c.CreateTopic(t, topic, 1, map[string]*string{"cleanup.policy": &policy})
	cl := client(t, c)
	s1 := open(t, cl, topic)
	require.NoError(t, s1.Save(ctx, snap("a", 1, "a1")))                 // offset 0
	s2 := open(t, client(t, c), topic, snapkafka.WithRefreshInterval(0)) // indexes a@offset 0, no polling
	require.NoError(t, s1.Save(ctx, snap("a", 2, "a2")))                 // offset 1

	// Delete offset 0, as compaction would once offset 1 supersedes it.
	admin, err := sarama.NewClusterAdmin(c.Brokers, c.AdminConfig())
	require.NoError(t, err)
	defer admin.Close()
	require.NoError(t, admin.DeleteRecords(topic, map[int32]int64{0: 1}))

	got, err := s2.Load(ctx, "a")
	require.NoError(t, err, "the load finds the record gone, catches up and loads the newer one")
	require.EqualValues(t, 2, got.Version)
	require.Equal(t, "a2", string(got.Data))
}

func TestStoreChecksTopic(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.New(t)
	cl := client(t, c)

	del := kafkatest.TopicName(t, "snapshot-delete")
	c.CreateTopic(t, del, 1, kafkatest.EventsTopicConfig())
	_, err := snapkafka.New(ctx, cl, del)
	require.ErrorContains(t, err, "cleanup.policy=delete")
	require.ErrorContains(t, err, "needs cleanup.policy=compact")

	missing := kafkatest.TopicName(t, "snapshot-missing")
	_, err = snapkafka.New(ctx, cl, missing)
	require.ErrorContains(t, err, "does not exist")

	s, err := snapkafka.New(ctx, cl, missing, snapkafka.WithCreateTopic(2, 1), snapkafka.WithLogger(quiet()))
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = s.Close()
		if a, err := sarama.NewClusterAdmin(c.Brokers, c.AdminConfig()); err == nil {
			_ = a.DeleteTopic(missing)
			_ = a.Close()
		}
	})
	require.NoError(t, s.Save(ctx, snap("a", 1, "x")))
	admin, err := sarama.NewClusterAdmin(c.Brokers, c.AdminConfig())
	require.NoError(t, err)
	defer admin.Close()
	entries, err := kafkafetch.TopicConfig(admin, missing, "cleanup.policy")
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "compact", entries[0].Value)

	bad := c.Config() // Return.Successes is false by default
	badClient, err := sarama.NewClient(c.Brokers, bad)
	require.NoError(t, err)
	defer badClient.Close()
	_, err = snapkafka.New(ctx, badClient, missing)
	require.ErrorContains(t, err, "Producer.Return.Successes")
}

// TestStoreDoesNotAutoCreateTopic opens the store on a missing topic of a
// broker that creates topics on Metadata requests (Apache Kafka's stock
// auto.create.topics.enable=true) with a client whose config allows it
// (sarama's default): the store must say the topic does not exist and
// leave it missing, and WithCreateTopic must create it compacted.
func TestStoreDoesNotAutoCreateTopic(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.NewAutoCreate(t)
	cl := client(t, c)
	require.True(t, cl.Config().Metadata.AllowAutoTopicCreation)

	missing := kafkatest.TopicName(t, "snapshot-missing")
	_, err := snapkafka.New(ctx, cl, missing, snapkafka.WithLogger(quiet()))
	require.ErrorContains(t, err, "does not exist")
	require.ErrorContains(t, err, "WithCreateTopic")
	require.False(t, c.TopicExists(t, missing), "opening the store created the topic")

	s, err := snapkafka.New(ctx, cl, missing, snapkafka.WithCreateTopic(2, 1), snapkafka.WithLogger(quiet()))
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = s.Close()
		if a, err := sarama.NewClusterAdmin(c.Brokers, c.AdminConfig()); err == nil {
			_ = a.DeleteTopic(missing)
			_ = a.Close()
		}
	})
	require.NoError(t, s.Save(ctx, snap("a", 1, "x")))
	parts, err := cl.Partitions(missing)
	require.NoError(t, err)
	require.Len(t, parts, 2, "WithCreateTopic created the topic, not a Metadata request")
}

func TestStoreSkipsInvalidRecords(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "invalid-snapshot")
	c.CreateTopic(t, topic, 1, compacted())
	cl := client(t, c)
	prod, err := sarama.NewSyncProducerFromClient(cl)
	require.NoError(t, err)
	defer prod.Close()
	send := func(key string, value []byte, headers ...string) {
		m := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key), Value: sarama.ByteEncoder(value)}
		for i := 0; i+1 < len(headers); i += 2 {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(headers[i]), Value: []byte(headers[i+1])})
		}
		_, _, err := prod.SendMessage(m)
		require.NoError(t, err)
	}
	send("good", []byte("g"), "es.version", "3", "es.type", "t")
	send("good", []byte("bad"), "es.version", "x", "es.type", "t") // bad version: skipped, good@3 stays
	send("notype", []byte("n"), "es.version", "1")                 // no type
	send("noversion", []byte("n"), "es.type", "t")                 // no version
	send("badtime", []byte("n"), "es.version", "1", "es.type", "t", "es.time", "yesterday")
	send("badschema", []byte("n"), "es.version", "1", "es.type", "t", "es.snapshot.schema", "two")
	send("gone", []byte("n"), "es.version", "1", "es.type", "t")
	send("gone", nil) // tombstone

	logs := &strings.Builder{}
	s, err := snapkafka.New(ctx, cl, topic, snapkafka.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	require.NoError(t, err)
	defer s.Close()
	require.EqualValues(t, 5, s.Skipped())
	require.Contains(t, logs.String(), "skipping a record that is not a snapshot")
	require.Equal(t, 1, s.Len())
	got, err := s.Load(ctx, "good")
	require.NoError(t, err)
	require.EqualValues(t, 3, got.Version)
	require.Equal(t, "g", string(got.Data))
	for _, k := range []string{"notype", "noversion", "badtime", "badschema", "gone"} {
		_, err := s.Load(ctx, k)
		require.True(t, errors.Is(err, snapshot.ErrNotFound), "%s: %v", k, err)
	}
}

func TestStoreIndexMatchesLatestRecordPerKey(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "snapshot")
	c.CreateTopic(t, topic, 3, compacted())
	writers := []*snapkafka.Store{
		open(t, client(t, c), topic, snapkafka.WithRefreshInterval(5*time.Millisecond)),
		open(t, client(t, c), topic, snapkafka.WithRefreshInterval(5*time.Millisecond)),
	}
	done := make(chan error, len(writers))
	for w, s := range writers {
		go func() {
			for v := int64(1); v <= 40; v++ {
				for k := range 5 {
					if err := s.Save(ctx, snap(fmt.Sprint("k", k), v, fmt.Sprint("w", w, "v", v))); err != nil {
						done <- err
						return
					}
				}
			}
			done <- nil
		}()
	}
	for range writers {
		require.NoError(t, <-done)
	}
	// What compaction keeps: the last record of every key, read with a
	// plain consumer.
	latest := map[string]string{}
	for _, m := range readAll(t, client(t, c), topic) {
		latest[string(m.Key)] = string(m.Value)
	}
	require.Len(t, latest, 5)
	fresh := open(t, client(t, c), topic)
	for k, want := range latest {
		got, err := fresh.Load(ctx, k)
		require.NoError(t, err)
		require.Equal(t, want, string(got.Data), k)
	}
	for _, s := range writers { // the writers converge on it by polling
		require.Eventually(t, func() bool {
			for k, want := range latest {
				got, err := s.Load(ctx, k)
				if err != nil || string(got.Data) != want {
					return false
				}
			}
			return true
		}, 10*time.Second, 10*time.Millisecond)
	}
}
