package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/eventstoretest"
	"github.com/kafkaes/kafkaes/eventstore/memory"
)

// handle is a second handle on a shared store: its Close does not close the
// shared store, as closing one client of a log does not close the log.
type handle struct{ *memory.Store }

func (handle) Close() error { return nil }

func TestConformance(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store { return memory.New() }, eventstoretest.Features{
		Idempotency: true,
		Peer:        func(_ *testing.T, s eventstore.Store) eventstore.Store { return handle{s.(*memory.Store)} },
		Writers:     8,
	})
}

func TestClockAndLen(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	s := memory.New(memory.WithClock(func() time.Time { return at }))
	defer s.Close()
	ctx := context.Background()
	require.Equal(t, 0, s.Len())
	res, err := s.Append(ctx, "a", eventstore.NoStream, eventstore.Event{Type: "T"}, eventstore.Event{Type: "T"})
	require.NoError(t, err)
	require.Equal(t, []eventstore.Position{{Offset: 0}, {Offset: 1}}, res.Positions)
	require.Equal(t, 2, s.Len())
	for r, err := range s.ReadStream(ctx, "a", 1) {
		require.NoError(t, err)
		require.True(t, r.RecordedAt.Equal(at))
		require.Equal(t, time.UTC, r.RecordedAt.Location())
	}
}

func TestIdempotentRepeatReportsOriginalPositions(t *testing.T) {
	s := memory.New()
	ctx := context.Background()
	_, err := s.Append(ctx, "x", eventstore.NoStream, eventstore.Event{Type: "T"})
	require.NoError(t, err)
	events := []eventstore.Event{{ID: "a", Type: "T"}, {ID: "b", Type: "T"}}
	first, err := s.Append(ctx, "y", eventstore.NoStream, events...)
	require.NoError(t, err)
	again, err := s.Append(ctx, "y", eventstore.Any, events...)
	require.NoError(t, err)
	require.Equal(t, first, again)
	require.Equal(t, []eventstore.Position{{Offset: 1}, {Offset: 2}}, again.Positions)
	require.Equal(t, 3, s.Len())
}

// TestSubscribersWakeOnAppend checks many subscribers all see an append made
// while they wait.
func TestSubscribersWakeOnAppend(t *testing.T) {
	s := memory.New()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const n = 20
	got := make(chan string, n)
	for range n {
		go func() {
			for r, err := range s.Subscribe(ctx, nil) {
				if err != nil {
					got <- err.Error()
					return
				}
				got <- r.StreamID
				return
			}
		}()
	}
	_, err := s.Append(ctx, "wake", eventstore.NoStream, eventstore.Event{Type: "T"})
	require.NoError(t, err)
	for range n {
		select {
		case id := <-got:
			require.Equal(t, "wake", id)
		case <-ctx.Done():
			t.Fatal("a subscriber was not woken by the append")
		}
	}
}
