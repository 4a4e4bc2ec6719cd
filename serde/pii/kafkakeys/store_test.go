package kafkakeys_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/kafkafetch"
	"github.com/kafkaes/kafkaes/serde/pii"
	"github.com/kafkaes/kafkaes/serde/pii/kafkakeys"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newClient(t testing.TB, c *kafkatest.Cluster) sarama.Client {
	t.Helper()
	cfg := c.Config()
	cfg.Producer.Return.Successes = true
	cl, err := sarama.NewClient(c.Brokers, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

func open(t testing.TB, c *kafkatest.Cluster, topic string, opts ...kafkakeys.Option) *kafkakeys.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := kafkakeys.New(ctx, newClient(t, c), topic, append([]kafkakeys.Option{kafkakeys.WithLogger(quiet())}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	deleteLater(t, c, topic)
	return s
}

// deleteLater deletes a topic New created when the test ends, unless
// KAFKAES_KEEP_TOPICS=1.
func deleteLater(t testing.TB, c *kafkatest.Cluster, topic string) {
	if os.Getenv("KAFKAES_KEEP_TOPICS") == "1" {
		return
	}
	t.Cleanup(func() {
		if a, err := sarama.NewClusterAdmin(c.Brokers, c.AdminConfig()); err == nil {
			_ = a.DeleteTopic(topic)
			_ = a.Close()
		}
	})
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestGetOrCreateGetErase(t *testing.T) {
	ctx := ctxT(t)
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "keys")
	s := open(t, c, topic)

	k, err := s.GetOrCreate(ctx, "p-1")
	require.NoError(t, err)
	require.NoError(t, k.Valid())
	again, err := s.GetOrCreate(ctx, "p-1")
	require.NoError(t, err)
	require.Equal(t, k, again)
	got, err := s.Get(ctx, "p-1", k.ID)
	require.NoError(t, err)
	require.Equal(t, k, got)
	_, err = s.Get(ctx, "nobody", 0)
	require.ErrorIs(t, err, pii.ErrKeyNotFound)

	require.NoError(t, s.Erase(ctx, "p-1"))
	_, err = s.Get(ctx, "p-1", k.ID)
	require.ErrorIs(t, err, pii.ErrKeyNotFound)
	k2, err := s.GetOrCreate(ctx, "p-1")
	require.NoError(t, err)
	require.NotEqual(t, k.ID, k2.ID, "a new key after erasure")
	_, err = s.Get(ctx, "p-1", k.ID)
	require.ErrorIs(t, err, pii.ErrKeyNotFound, "the erased key stays erased")

	// A fresh instance reads the same from the topic.
	s2 := open(t, c, topic, kafkakeys.WithRefreshInterval(0))
	got, err = s2.Get(ctx, "p-1", k2.ID)
	require.NoError(t, err)
	require.Equal(t, k2, got)
	_, err = s2.Get(ctx, "p-1", k.ID)
	require.ErrorIs(t, err, pii.ErrKeyNotFound)
	require.Equal(t, 1, s2.Len())
}

func TestRefusesTopicThatExpires(t *testing.T) {
	ctx := ctxT(t)
	c := kafkatest.New(t)
	for _, policy := range []string{"delete", "compact,delete"} {
		topic := kafkatest.TopicName(t, "keys")
		c.CreateTopic(t, topic, 1, map[string]*string{"cleanup.policy": &policy})
		_, err := kafkakeys.New(ctx, newClient(t, c), topic, kafkakeys.WithLogger(quiet()))
		require.ErrorContains(t, err, "needs cleanup.policy=compact", policy)
	}
	_, err := kafkakeys.New(ctx, newClient(t, c), kafkatest.TopicName(t, "missing"), kafkakeys.WithoutTopicCreation())
	require.ErrorContains(t, err, "does not exist")
}

// committedKeys reads the whole topic with a plain read-committed fetch
// and returns the committed key records per subject (tombstones reset).
func committedKeys(t *testing.T, c *kafkatest.Cluster, topic string) map[string]int {
	t.Helper()
	ctx := ctxT(t)
	cl := newClient(t, c)
	ends, err := kafkafetch.ListOffsets(ctx, cl, topic, []int32{0}, sarama.OffsetNewest, sarama.ReadCommitted)
	require.NoError(t, err)
	starts, err := kafkafetch.ListOffsets(ctx, cl, topic, []int32{0}, sarama.OffsetOldest, sarama.ReadCommitted)
	require.NoError(t, err)
	out := map[string]int{}
	for off := starts[0]; off < ends[0]; {
		res, err := kafkafetch.Fetch(ctx, cl, topic, map[int32]int64{0: off}, kafkafetch.Options{Isolation: sarama.ReadCommitted})
		require.NoError(t, err)
		r := res[0]
		require.NoError(t, r.Err)
		for _, rec := range r.Records {
			if rec.Value == nil {
				out[string(rec.Key)] = 0
			} else {
				out[string(rec.Key)]++
			}
		}
		require.Greater(t, r.Next, off)
		off = r.Next
	}
	return out
}

func TestConcurrentFirstKeysAgree(t *testing.T) {
	ctx := ctxT(t)
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "keys")
	a := open(t, c, topic, kafkakeys.WithRefreshInterval(0))
	b := open(t, c, topic, kafkakeys.WithRefreshInterval(0))
	const subjects, rounds = 20, 3
	for round := range rounds {
		keys := [2]map[string]pii.Key{{}, {}}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i, s := range []*kafkakeys.Store{a, b} {
			for n := range subjects {
				subject := fmt.Sprintf("r%d-s%d", round, n)
				wg.Go(func() {
					k, err := s.GetOrCreate(ctx, subject)
					if !assertNoError(t, err) {
						return
					}
					mu.Lock()
					keys[i][subject] = k
					mu.Unlock()
				})
			}
		}
		wg.Wait()
		require.Len(t, keys[0], subjects)
		require.Equal(t, keys[0], keys[1], "round %d: both instances must end with one key per subject", round)
	}
	// The log holds exactly one committed key per subject, and the
	// instances did race: there are aborted candidates.
	for subject, n := range committedKeys(t, c, topic) {
		require.Equal(t, 1, n, subject)
	}
	raw := rawRecords(t, c, topic)
	t.Logf("%d candidate records for %d subjects", raw, subjects*rounds)
	require.Greater(t, raw, subjects*rounds, "no candidate lost: the test did not race")
	// And a third instance reads those keys.
	third := open(t, c, topic, kafkakeys.WithRefreshInterval(0))
	require.Equal(t, subjects*rounds, third.Len())
	k, err := a.GetOrCreate(ctx, "r0-s0")
	require.NoError(t, err)
	got, err := third.Get(ctx, "r0-s0", k.ID)
	require.NoError(t, err)
	require.Equal(t, k, got)
}

// rawRecords counts the data records of partition 0, aborted ones too.
func rawRecords(t *testing.T, c *kafkatest.Cluster, topic string) int {
	t.Helper()
	ctx := ctxT(t)
	cl := newClient(t, c)
	ends, err := kafkafetch.ListOffsets(ctx, cl, topic, []int32{0}, sarama.OffsetNewest, sarama.ReadUncommitted)
	require.NoError(t, err)
	n := 0
	for off := int64(0); off < ends[0]; {
		res, err := kafkafetch.Fetch(ctx, cl, topic, map[int32]int64{0: off}, kafkafetch.Options{})
		require.NoError(t, err)
		n += len(res[0].Records)
		require.Greater(t, res[0].Next, off)
		off = res[0].Next
	}
	return n
}

func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}

func TestOtherInstances(t *testing.T) {
	ctx := ctxT(t)
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "keys")
	a := open(t, c, topic)
	b := open(t, c, topic, kafkakeys.WithRefreshInterval(50*time.Millisecond))
	still := open(t, c, topic, kafkakeys.WithRefreshInterval(0))

	// A key created elsewhere a moment ago is found by its ID at once,
	// without waiting for a poll.
	k, err := a.GetOrCreate(ctx, "p-1")
	require.NoError(t, err)
	got, err := still.Get(ctx, "p-1", k.ID)
	require.NoError(t, err)
	require.Equal(t, k, got)
	got, err = b.GetOrCreate(ctx, "p-1")
	require.NoError(t, err)
	require.Equal(t, k, got)

	// An erasure by a is learnt by b's polling.
	require.NoError(t, a.Erase(ctx, "p-1"))
	require.Eventually(t, func() bool {
		_, err := b.Get(ctx, "p-1", k.ID)
		return err != nil
	}, 10*time.Second, 20*time.Millisecond)
	_, err = b.Get(ctx, "p-1", k.ID)
	require.ErrorIs(t, err, pii.ErrKeyNotFound)
	before := b.Fetches()
	_, err = b.Get(ctx, "p-1", k.ID)
	require.ErrorIs(t, err, pii.ErrKeyNotFound)
	require.Equal(t, before, b.Fetches(), "a known erased key costs no I/O")
}

func TestCacheEviction(t *testing.T) {
	ctx := ctxT(t)
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "keys")
	s := open(t, c, topic, kafkakeys.WithCacheSize(3), kafkakeys.WithRefreshInterval(0))
	keys := map[string]pii.Key{}
	for i := range 12 {
		subject := fmt.Sprintf("p-%d", i)
		k, err := s.GetOrCreate(ctx, subject)
		require.NoError(t, err)
		keys[subject] = k
	}
	require.LessOrEqual(t, s.Cached(), 3)
	for round := range 2 {
		for subject, k := range keys {
			before := s.Fetches()
			got, err := s.Get(ctx, subject, k.ID)
			require.NoError(t, err)
			require.Equal(t, k, got, "round %d", round)
			require.LessOrEqual(t, s.Fetches()-before, int64(1), "an evicted key is one fetch")
		}
	}
	require.LessOrEqual(t, s.Cached(), 3)
}

func TestWithEncryptor(t *testing.T) {
	ctx := ctxT(t)
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "keys")
	a := open(t, c, topic)
	b := open(t, c, topic, kafkakeys.WithRefreshInterval(0))
	type Admitted struct {
		pii.Redactable
		PatientID string
		Name      string `pii:"PatientID"`
	}
	p, err := pii.Inspect(reflect.TypeFor[Admitted]())
	require.NoError(t, err)
	encA, encB := pii.NewEncryptor(a), pii.NewEncryptor(b)
	sealed, err := encA.Encrypt(ctx, p, reflect.ValueOf(Admitted{PatientID: "p-9", Name: "Ada"}))
	require.NoError(t, err)
	out := reflect.New(p.Type())
	out.Elem().Set(sealed)
	require.NoError(t, encB.Decrypt(ctx, p, out))
	require.Equal(t, "Ada", out.Elem().Interface().(Admitted).Name)

	require.NoError(t, b.Erase(ctx, "p-9"))
	out.Elem().Set(sealed)
	require.Eventually(t, func() bool {
		out.Elem().Set(sealed)
		return encA.Decrypt(ctx, p, out) == nil && pii.IsRedacted(out.Elem().Interface())
	}, 10*time.Second, 20*time.Millisecond)
}

// TestSeveralPartitions: a key topic with more partitions places each
// subject by murmur2 and still ends with one key per subject.
func TestSeveralPartitions(t *testing.T) {
	ctx := ctxT(t)
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "keys")
	compact := "compact"
	c.CreateTopic(t, topic, 3, map[string]*string{"cleanup.policy": &compact})
	a := open(t, c, topic, kafkakeys.WithRefreshInterval(0))
	b := open(t, c, topic, kafkakeys.WithRefreshInterval(0))
	var wg sync.WaitGroup
	keys := [2]map[string]pii.Key{{}, {}}
	var mu sync.Mutex
	for i, s := range []*kafkakeys.Store{a, b} {
		for n := range 30 {
			subject := fmt.Sprintf("s-%d", n)
			wg.Go(func() {
				k, err := s.GetOrCreate(ctx, subject)
				if assertNoError(t, err) {
					mu.Lock()
					keys[i][subject] = k
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	require.Equal(t, keys[0], keys[1])
	fresh := open(t, c, topic, kafkakeys.WithRefreshInterval(0))
	require.Equal(t, 30, fresh.Len())
	for subject, k := range keys[0] {
		got, err := fresh.Get(ctx, subject, k.ID)
		require.NoError(t, err)
		require.Equal(t, k, got)
	}
}

func TestKeyEncryptionKey(t *testing.T) {
	ctx := ctxT(t)
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "keys")
	kek := bytes.Repeat([]byte{7}, 32)
	a := open(t, c, topic, kafkakeys.WithKeyEncryptionKey(kek))
	k, err := a.GetOrCreate(ctx, "p-1")
	require.NoError(t, err)

	// The topic holds the key wrapped, not in the clear.
	cl := newClient(t, c)
	res, err := kafkafetch.Fetch(ctx, cl, topic, map[int32]int64{0: 0}, kafkafetch.Options{})
	require.NoError(t, err)
	require.NotEmpty(t, res[0].Records)
	for _, r := range res[0].Records {
		require.False(t, bytes.Contains(r.Value, k.Secret), "the secret is in the clear")
	}

	b := open(t, c, topic, kafkakeys.WithKeyEncryptionKey(kek), kafkakeys.WithRefreshInterval(0))
	got, err := b.Get(ctx, "p-1", k.ID)
	require.NoError(t, err)
	require.Equal(t, k, got)

	// Without the KEK, or with another one, the key cannot be read: an
	// error, never an erasure.
	for _, opts := range [][]kafkakeys.Option{nil, {kafkakeys.WithKeyEncryptionKey(bytes.Repeat([]byte{8}, 32))}} {
		s := open(t, c, topic, append(opts, kafkakeys.WithRefreshInterval(0))...)
		_, err := s.Get(ctx, "p-1", k.ID)
		require.Error(t, err)
		require.NotErrorIs(t, err, pii.ErrKeyNotFound)
		require.ErrorContains(t, err, "cannot be read")
		_, err = s.GetOrCreate(ctx, "p-1")
		require.Error(t, err, "no second key for a subject whose key cannot be read")
	}
	_, err = kafkakeys.New(ctx, newClient(t, c), topic, kafkakeys.WithKeyEncryptionKey([]byte("short")))
	require.ErrorContains(t, err, "32")
}
