package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/internal/logcheck"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// TestDeleteRaceLog races deletes of one store instance against appends
// (some expecting the version, some Any) and recreations of another, on
// one topic, for several rounds per stream, then reads the whole log with
// a plain read_committed consumer: versions are 1..n with the markers
// counted, every acknowledged append and delete is there once, nothing
// that failed is, and in every round exactly one side won.
func TestDeleteRaceLog(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	const partitions = 3
	c.CreateTopic(t, topic, partitions, kafkatest.EventsTopicConfig())
	deleter := openStressStore(t, c, topic)
	writer := openStressStore(t, c, topic)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const streams, rounds = 16, 4
	var j logcheck.Journal
	type win struct {
		deleted bool  // the delete won
		version int64 // the winner's version
		pos     eventstore.Position
	}
	wins := make([][]win, streams)
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for i := range streams {
		wg.Go(func() {
			stream := fmt.Sprintf("race-%d", i)
			id := eventstore.NewEventID()
			res, err := writer.Append(ctx, stream, eventstore.NoStream, eventstore.Event{ID: id, Type: "T", Data: []byte("{}")})
			if err != nil {
				errs <- err
				return
			}
			j.Add(logcheck.Append{Writer: "writer", Stream: stream, IDs: []string{id}, Outcome: logcheck.Acked, Version: res.Version, Positions: res.Positions})
			version, deleted := res.Version, false
			for round := range rounds {
				var dres, ares eventstore.AppendResult
				var derr, aerr error
				aid := eventstore.NewEventID()
				expected := eventstore.Exact(version)
				if round%2 == 1 {
					expected = eventstore.Any
				}
				var rw sync.WaitGroup
				rw.Go(func() { dres, derr = deleter.DeleteStream(ctx, stream, eventstore.Exact(version)) })
				rw.Go(func() {
					ev := eventstore.Event{ID: aid, Type: "T", Data: []byte("{}")}
					if deleted {
						ares, aerr = eventstore.Recreate(ctx, writer, stream, expected, ev)
					} else {
						ares, aerr = writer.Append(ctx, stream, expected, ev)
					}
				})
				rw.Wait()
				a := logcheck.Append{Writer: "writer", Stream: stream, IDs: []string{aid}, Outcome: logcheck.Acked, Version: ares.Version, Positions: ares.Positions}
				if aerr != nil {
					a.Outcome, a.Err = logcheck.Failed, aerr
					if !errors.Is(aerr, eventstore.ErrConcurrencyConflict) && !errors.Is(aerr, eventstore.ErrStreamDeleted) {
						errs <- fmt.Errorf("%s round %d: append: %w", stream, round, aerr)
						return
					}
				}
				j.Add(a)
				if derr != nil && !errors.Is(derr, eventstore.ErrConcurrencyConflict) && !errors.Is(derr, eventstore.ErrStreamDeleted) {
					errs <- fmt.Errorf("%s round %d: delete: %w", stream, round, derr)
					return
				}
				if (derr == nil) == (aerr == nil) {
					errs <- fmt.Errorf("%s round %d: exactly one of the delete (%v) and the append (%v) must win", stream, round, derr, aerr)
					return
				}
				if derr == nil {
					wins[i] = append(wins[i], win{deleted: true, version: dres.Version, pos: dres.Positions[0]})
					version, deleted = dres.Version, true
				} else {
					wins[i] = append(wins[i], win{version: ares.Version, pos: ares.Positions[0]})
					version, deleted = ares.Version, false
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	log, err := logcheck.ReadCommitted(ctx, c.Brokers, c.Config(), topic)
	require.NoError(t, err)
	r := logcheck.Check(log, partitions, j.Appends())
	for _, p := range r.Problems {
		t.Error(p)
	}
	byStream := map[string][]eventstore.RecordedEvent{}
	for _, e := range log {
		byStream[e.StreamID] = append(byStream[e.StreamID], e)
	}
	deletes := 0
	after := openStressStore(t, c, topic) // builds its index from the log
	for i := range streams {
		stream := fmt.Sprintf("race-%d", i)
		got := byStream[stream]
		require.Len(t, got, 1+rounds, "stream %s: the first event and one winner per round", stream)
		for round, w := range wins[i] {
			rec := got[1+round]
			require.Equal(t, w.version, rec.Version, "stream %s round %d", stream, round)
			require.Equal(t, w.pos, rec.Position, "stream %s round %d", stream, round)
			require.Equal(t, w.deleted, rec.Type == eventstore.TypeStreamDeleted, "stream %s round %d: the log's record is the winner's", stream, round)
			if w.deleted {
				deletes++
			}
		}
		// A fresh instance agrees with the log.
		last := wins[i][rounds-1]
		_, err := collectAll(after, stream)
		if last.deleted {
			require.ErrorIs(t, err, eventstore.ErrStreamDeleted, "stream %s", stream)
		} else {
			require.NoError(t, err, "stream %s", stream)
		}
	}
	t.Logf("%d events in %d streams; deletes won %d of %d rounds", r.Events, r.Streams, deletes, streams*rounds)
}

// collectAll reads a whole stream.
func collectAll(s eventstore.Store, stream string) ([]eventstore.RecordedEvent, error) {
	var out []eventstore.RecordedEvent
	for e, err := range s.ReadStream(context.Background(), stream, 1) {
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	return out, nil
}
