package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/internal/logcheck"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// TestUnknownCommitOutcome makes the first commit of a store fail in the
// two ways Kafka can leave its outcome unknown: the EndTxn request reached
// the coordinator but its answer was lost (the transaction committed), or
// it never reached it (the transaction stays open until it is aborted).
// Append must say the outcome is unknown (kafka.ErrUnknownOutcome); a retry
// with the same event IDs must then succeed at once with the same result
// either way (an idempotent repeat of the commit, or the first write of the
// events), without waiting for the transaction timeout; and the log must
// hold the events exactly once, with the next append following them.
func TestUnknownCommitOutcome(t *testing.T) {
	for _, tc := range []struct {
		name string
		send bool // whether the failing EndTxn reaches the broker
	}{
		{"commit applied, answer lost", true},
		{"commit never sent", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := kafkatest.New(t)
			topic := kafkatest.TopicName(t, "events")
			c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
			injected := errors.New("injected: the connection to the coordinator broke")
			var armed atomic.Bool
			var trace traceLog
			defer func() {
				if t.Failed() {
					trace.dump(t)
				}
			}()
			s := openStressStore(t, c, topic,
				// Long enough that a retry which had to wait for the
				// transaction to time out would fail the test.
				kafka.WithTransactionTimeout(time.Minute),
				kafka.WithTestTrace(trace.add(time.Now(), "store")),
				kafka.WithTestEndTxn(func(commit bool) (bool, error) {
					if commit && armed.CompareAndSwap(true, false) {
						return tc.send, injected
					}
					return true, nil
				}))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			const stream = "unknown-1"
			first, firstIDs := newEvents(1, "test")
			_, err := s.Append(ctx, stream, eventstore.NoStream, first...)
			require.NoError(t, err)

			armed.Store(true)
			evs, ids := newEvents(2, "test")
			_, err = s.Append(ctx, stream, eventstore.Exact(1), evs...)
			require.ErrorIs(t, err, kafka.ErrUnknownOutcome)
			require.ErrorContains(t, err, injected.Error())
			require.False(t, errors.Is(err, eventstore.ErrConcurrencyConflict), "an unknown outcome is not a conflict: %v", err)

			// The store settles the transaction at once (a commit that
			// never arrived is aborted): a plain read_committed consumer
			// reads past it now, not after the transaction timeout, and
			// sees the events once or not at all.
			before, err := logcheck.ReadCommitted(ctx, c.Brokers, c.Config(), topic)
			require.NoError(t, err, "read the log after the failed commit (an open transaction holds read_committed readers back)")
			seen := 0
			for _, ev := range before {
				if ev.StreamID == stream {
					seen++
				}
			}
			if tc.send {
				require.Equal(t, 3, seen, "the commit was applied")
			} else {
				require.Equal(t, 1, seen, "the commit never arrived")
			}

			// The retry, as the error message asks for.
			res, err := s.Append(ctx, stream, eventstore.Exact(1), evs...)
			require.NoError(t, err, "retry with the same event IDs")
			require.Equal(t, int64(3), res.Version)
			// And it stays idempotent.
			again, err := s.Append(ctx, stream, eventstore.Exact(1), evs...)
			require.NoError(t, err)
			require.Equal(t, res, again)

			next, nextIDs := newEvents(1, "test")
			res, err = s.Append(ctx, stream, eventstore.Exact(3), next...)
			require.NoError(t, err)
			require.Equal(t, int64(4), res.Version)

			log, err := logcheck.ReadCommitted(ctx, c.Brokers, c.Config(), topic)
			require.NoError(t, err)
			var got []string
			for _, ev := range log {
				if ev.StreamID == stream {
					got = append(got, fmt.Sprintf("%d:%s", ev.Version, ev.ID))
				}
			}
			want := []string{"1:" + firstIDs[0], "2:" + ids[0], "3:" + ids[1], "4:" + nextIDs[0]}
			require.Equal(t, want, got, "the stream as a plain read_committed consumer reads it")

			// A fresh instance loads the same.
			fresh := openStressStore(t, c, topic)
			var loaded []string
			for ev, err := range fresh.ReadStream(ctx, stream, 1) {
				require.NoError(t, err)
				loaded = append(loaded, fmt.Sprintf("%d:%s", ev.Version, ev.ID))
			}
			require.Equal(t, want, loaded)
		})
	}
}

// traceLog collects the trace lines of stores (kafka.WithTestTrace) for
// tests to print when they fail.
type traceLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *traceLog) add(t0 time.Time, name string) func(string, ...any) {
	return func(format string, args ...any) {
		line := fmt.Sprintf("[%6.3fs] %s: ", time.Since(t0).Seconds(), name) + fmt.Sprintf(format, args...)
		l.mu.Lock()
		l.lines = append(l.lines, line)
		l.mu.Unlock()
	}
}

// count returns the number of lines that contain sub.
func (l *traceLog) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, sub) {
			n++
		}
	}
	return n
}

// matching returns the lines that contain any of subs.
func (l *traceLog) matching(subs ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		for _, sub := range subs {
			if strings.Contains(line, sub) {
				out = append(out, line)
				break
			}
		}
	}
	return out
}

func (l *traceLog) dump(t *testing.T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("transaction trace (%d lines):\n%s", len(l.lines), strings.Join(l.lines, "\n"))
}

// TestNetworkErrorBeforeWrite breaks the connection of a transaction's
// AddPartitionsToTxn request (embedded broker only): the producer's retry
// succeeds, but as a broker may have restarted, the store must check for
// records left without markers before it writes, end the transaction it
// opened without records, and then write the append exactly once.
func TestNetworkErrorBeforeWrite(t *testing.T) {
	c := kafkatest.New(t)
	if c.Fake() == nil {
		t.Skip("needs the embedded broker to break a connection")
	}
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	var trace traceLog
	defer func() {
		if t.Failed() {
			trace.dump(t)
		}
	}()
	s := openStressStore(t, c, topic, kafka.WithTestTrace(trace.add(time.Now(), "store")))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first, _ := newEvents(1, "test")
	_, err := s.Append(ctx, "net-1", eventstore.NoStream, first...)
	require.NoError(t, err)

	var broke atomic.Bool
	c.Fake().ControlKey(int16(kmsg.AddPartitionsToTxn), func(kmsg.Request) (kmsg.Response, error, bool) {
		broke.Store(true)
		return nil, errors.New("test: break the connection"), true // closes the connection
	})
	evs, ids := newEvents(2, "test")
	res, err := s.Append(ctx, "net-1", eventstore.Exact(1), evs...)
	require.NoError(t, err)
	require.Equal(t, int64(3), res.Version)
	require.True(t, broke.Load(), "the connection was not broken")
	require.Positive(t, trace.count("recheck: a coordinator request met a network error"), "the store wrote without checking first")

	log, err := logcheck.ReadCommitted(ctx, c.Brokers, c.Config(), topic)
	require.NoError(t, err)
	var got []string
	for _, ev := range log {
		if ev.StreamID == "net-1" && ev.Version > 1 {
			got = append(got, ev.ID)
		}
	}
	require.Equal(t, ids, got, "the append exactly once")
}
