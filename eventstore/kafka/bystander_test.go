package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// TestBystandersOfAnOpenTransaction: another writer's transaction stays
// open on stream "held" of partition 0 (a writer that died with it open).
// Appends to "held" keep conflicting with it until it ends; appends to
// streams of the other partitions, made at the same time, must not be
// held up by them: once the partition counts as blocked, no transaction
// that carries a bystander's append is aborted because of a conflict on
// "held" (each such append runs in a transaction of its own), and no
// bystander append fails. Every error of the appends to "held" is typed
// (a conflict, or eventstore.ErrUnavailable).
func TestBystandersOfAnOpenTransaction(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	const parts = 4
	c.CreateTopic(t, topic, parts, kafkatest.EventsTopicConfig())
	var mu sync.Mutex
	var aborts []string
	s := openStore(t, c, topic, WithTestTrace(func(format string, args ...any) {
		if strings.Contains(format, "conflict scan:") {
			mu.Lock()
			aborts = append(aborts, fmt.Sprintf(format, args...))
			mu.Unlock()
		}
	}))
	ctx := testCtx(t)

	held := streamOn(0, parts, "held")
	var bystanders []string
	for p := int32(1); p < parts; p++ {
		for i := range 2 {
			bystanders = append(bystanders, streamOn(p, parts, fmt.Sprintf("by-%d-%d", p, i)))
		}
	}
	_, err := s.Append(ctx, held, eventstore.NoStream, ev("T", 1))
	require.NoError(t, err)

	p := otherTxnProducer(t, c, "held-"+topic, sarama.CompressionNone)
	require.NoError(t, p.BeginTxn())
	require.NoError(t, p.SendMessages([]*sarama.ProducerMessage{encodedMsg(topic, held, 2, "T")}))

	// The store learns that the partition is blocked.
	_, err = s.Append(ctx, held, eventstore.Exact(1), ev("T", 2))
	require.ErrorIs(t, err, eventstore.ErrConcurrencyConflict)
	time.Sleep(blockedAfter + 100*time.Millisecond)
	mu.Lock()
	aborts = nil
	mu.Unlock()

	deadline := time.Now().Add(1500 * time.Millisecond)
	var wg sync.WaitGroup
	errs := make(chan error, 1024)
	var heldErrs sync.Map
	for range 3 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				_, err := s.Append(ctx, held, eventstore.Exact(1), ev("T", 2))
				if err == nil {
					errs <- errors.New("an append to the held stream succeeded next to the open transaction")
					return
				}
				heldErrs.Store(err.Error(), err)
			}
		})
	}
	for _, stream := range bystanders {
		wg.Go(func() {
			for v := int64(0); time.Now().Before(deadline); v++ {
				if _, err := s.Append(ctx, stream, eventstore.Exact(v), ev("T", int(v))); err != nil {
					errs <- fmt.Errorf("bystander %s: %w", stream, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	heldErrs.Range(func(_, v any) bool {
		err := v.(error)
		if !errors.Is(err, eventstore.ErrConcurrencyConflict) && !errors.Is(err, eventstore.ErrUnavailable) {
			t.Errorf("untyped error of an append to the held stream: %v", err)
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	mixed := 0
	for _, a := range aborts {
		for _, b := range bystanders {
			if strings.Contains(a, " "+b) {
				mixed++
				t.Logf("%s", a)
				break
			}
		}
	}
	require.Zero(t, mixed, "transactions with bystander appends aborted because of the held stream (of %d aborts)", len(aborts))
	require.NotEmpty(t, aborts, "the held stream's appends met the open transaction")
	require.NoError(t, p.AbortTxn())
}

// streamOn returns a stream ID with prefix that lands on partition p of n.
func streamOn(p, n int32, prefix string) string {
	for i := 0; ; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if wire.PartitionString(id, n) == p {
			return id
		}
	}
}

var _ = context.Background

// TestAnyAppendWaitsForOpenTransaction: an Any append expects nothing, so
// another writer's transaction holding a record of its stream open is no
// conflict: the append waits for it to end. Aborted within the append
// timeout, the append then succeeds (it used to fail with a
// ConflictError{Actual: -1} after 8 quick attempts); still open at the
// timeout, the append fails with ErrUnavailable, never as a conflict,
// which would tell its caller to reload and decide again for nothing.
func TestAnyAppendWaitsForOpenTransaction(t *testing.T) {
	held := "held-any"
	s, ctx := anyWaitsForOpenTransaction(t, 1, held, func(ctx context.Context, s *Store, v int) error {
		_, err := s.Append(ctx, held, eventstore.Any, ev("T", v))
		return err
	})
	var versions []int64
	for e, err := range s.ReadStream(ctx, held, 1) {
		require.NoError(t, err)
		versions = append(versions, e.Version)
	}
	require.Equal(t, []int64{1, 2}, versions, "the stream holds its first event and the Any append's, nothing of the aborted transaction")
}

// TestAnyMultiAppendWaitsForOpenTransaction is
// TestAnyAppendWaitsForOpenTransaction for a multi-stream append whose
// entry on the held stream is Any: it waits for the other writer's
// transaction too, and fails with ErrUnavailable, never with a
// MultiConflictError, when the transaction outlives its append timeout.
func TestAnyMultiAppendWaitsForOpenTransaction(t *testing.T) {
	held, other := "held-any-multi", "other-any-multi"
	var first error
	anyWaitsForOpenTransaction(t, 2, held, func(ctx context.Context, s *Store, v int) error {
		_, err := s.AppendMulti(ctx,
			eventstore.StreamAppend{StreamID: other, Expected: eventstore.Any, Events: []eventstore.Event{ev("T", v)}},
			eventstore.StreamAppend{StreamID: held, Expected: eventstore.Any, Events: []eventstore.Event{ev("T", v)}})
		if first == nil {
			first = err
		}
		return err
	})
	// The timeout's error names the multi-stream append, not only its
	// first stream.
	require.ErrorContains(t, first, fmt.Sprintf("multi-stream append to streams %q, %q", other, held))
}

// anyWaitsForOpenTransaction runs the scenario of
// TestAnyAppendWaitsForOpenTransaction on a topic of parts partitions:
// stream held has version 1, another writer's transaction holds a record
// of it open, and appendAny (an append with Any on held, whose events are
// ev("T", v)) must fail with ErrUnavailable, never as a conflict, while
// the transaction outlives the store's append timeout (3s), then, started
// again with the transaction open, wait until it is aborted a second
// later and succeed. It returns the store and the test's context.
func anyWaitsForOpenTransaction(t *testing.T, parts int32, held string, appendAny func(ctx context.Context, s *Store, v int) error) (*Store, context.Context) {
	t.Helper()
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, parts, kafkatest.EventsTopicConfig())
	s := openStore(t, c, topic, WithAppendTimeout(3*time.Second))
	ctx := testCtx(t)
	_, err := s.Append(ctx, held, eventstore.NoStream, ev("T", 1))
	require.NoError(t, err)

	p := otherTxnProducer(t, c, "held-"+topic, sarama.CompressionNone)
	msg := encodedMsg(topic, held, 2, "T")
	msg.Partition = s.Partition(held)
	require.NoError(t, p.BeginTxn())
	require.NoError(t, p.SendMessages([]*sarama.ProducerMessage{msg}))

	// Still open at the append timeout: unavailable, not a conflict.
	err = appendAny(ctx, s, 2)
	require.Error(t, err, "an append next to the open transaction succeeded")
	require.NotErrorIs(t, err, eventstore.ErrConcurrencyConflict, "an Any append failed as a conflict: %v", err)
	require.ErrorIs(t, err, eventstore.ErrUnavailable)
	t.Logf("while open: %v", err)

	// Aborted a second after the append started: the append waited and
	// succeeds.
	done := make(chan error, 1)
	go func() { done <- appendAny(ctx, s, 3) }()
	time.Sleep(time.Second)
	select {
	case err := <-done:
		t.Fatalf("the Any append returned before the transaction ended: %v", err)
	default:
	}
	require.NoError(t, p.AbortTxn())
	require.NoError(t, <-done, "the Any append did not succeed after the abort")
	return s, ctx
}
