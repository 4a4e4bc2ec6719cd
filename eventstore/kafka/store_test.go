package kafka

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// openStore returns a store on topic with a new client of its own, closed
// when the test ends.
func openStore(t *testing.T, c *kafkatest.Cluster, topic string, opts ...Option) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := New(ctx, c.Client(t), topic, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func collectStream(t *testing.T, s eventstore.Store, stream string) ([]eventstore.RecordedEvent, error) {
	t.Helper()
	var out []eventstore.RecordedEvent
	for ev, err := range s.ReadStream(testCtx(t), stream, 1) {
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
	return out, nil
}

func ev(typ string, i int) eventstore.Event {
	return eventstore.Event{Type: typ, Data: []byte(fmt.Sprintf(`{"n":%d}`, i))}
}

func TestSmoke(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 3, kafkatest.EventsTopicConfig())
	s := openStore(t, c, topic)
	ctx := testCtx(t)

	res, err := s.Append(ctx, "acc-1", eventstore.NoStream, ev("Opened", 1), ev("Deposited", 2))
	require.NoError(t, err)
	require.Equal(t, int64(2), res.Version)
	require.Len(t, res.Positions, 2)

	_, err = s.Append(ctx, "acc-1", eventstore.NoStream, ev("Opened", 1))
	var ce *eventstore.ConflictError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, int64(2), ce.Actual)

	res, err = s.Append(ctx, "acc-1", eventstore.Exact(2), ev("Withdrawn", 3))
	require.NoError(t, err)
	require.Equal(t, int64(3), res.Version)

	evs, err := collectStream(t, s, "acc-1")
	require.NoError(t, err)
	require.Len(t, evs, 3)
	for i, e := range evs {
		require.Equal(t, int64(i+1), e.Version)
		require.Equal(t, "acc-1", e.StreamID)
	}
	require.Equal(t, `{"n":3}`, string(evs[2].Data))

	_, err = collectStream(t, s, "nope")
	require.ErrorIs(t, err, eventstore.ErrStreamNotFound)

	// A second instance sees the events and conflicts correctly.
	s2 := openStore(t, c, topic)
	_, err = s2.Append(ctx, "acc-1", eventstore.Exact(2), ev("Withdrawn", 4))
	require.ErrorIs(t, err, eventstore.ErrConcurrencyConflict)
	res, err = s2.Append(ctx, "acc-1", eventstore.Exact(3), ev("Withdrawn", 4))
	require.NoError(t, err)
	require.Equal(t, int64(4), res.Version)
	// The first instance conflicts on its stale view, then catches up.
	res, err = s.Append(ctx, "acc-1", eventstore.Exact(4), ev("Withdrawn", 5))
	require.NoError(t, err)
	require.Equal(t, int64(5), res.Version)

	n := 0
	for e, err := range s.ReadAll(ctx, nil) {
		require.NoError(t, err)
		require.Equal(t, "acc-1", e.StreamID)
		n++
	}
	require.Equal(t, 5, n)

	require.NoError(t, s.Close())
	_, err = s.Append(ctx, "acc-1", eventstore.Any, ev("X", 1))
	require.True(t, errors.Is(err, eventstore.ErrClosed), "%v", err)
}

// TestCloseDuringAppends: appends racing Close end promptly, each either
// written (nil) or refused with ErrClosed, and what returned nil is in the
// log exactly once.
func TestCloseDuringAppends(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	s := openStore(t, c, topic)
	ctx := testCtx(t)
	type result struct {
		stream string
		n      int64
		err    error
	}
	results := make(chan result, 16)
	started := make(chan struct{}, 16)
	for g := range 16 {
		go func() {
			stream := fmt.Sprintf("close-%d", g)
			var n int64
			for {
				_, err := s.Append(ctx, stream, eventstore.Exact(n), ev("T", int(n)))
				if n == 0 {
					started <- struct{}{}
				}
				if err != nil {
					results <- result{stream, n, err}
					return
				}
				n++
			}
		}()
	}
	for range 16 {
		<-started
	}
	require.NoError(t, s.Close())
	done := time.After(30 * time.Second)
	written := map[string]int64{}
	for range 16 {
		select {
		case r := <-results:
			require.ErrorIs(t, r.err, eventstore.ErrClosed, "stream %s", r.stream)
			written[r.stream] = r.n
		case <-done:
			t.Fatal("appends racing Close did not end")
		}
	}
	s2 := openStore(t, c, topic)
	for stream, n := range written {
		evs, err := collectStream(t, s2, stream)
		if n == 0 {
			require.ErrorIs(t, err, eventstore.ErrStreamNotFound)
			continue
		}
		require.NoError(t, err)
		require.Len(t, evs, int(n), "stream %s: every acknowledged append once, nothing else", stream)
	}
}
