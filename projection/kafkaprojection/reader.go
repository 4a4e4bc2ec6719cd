package kafkaprojection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/kafkaauth"
	"github.com/kafkaes/kafkaes/projection"
)

// Reader is a [projection.Source] that reads every partition of an events
// topic with plain sarama partition consumers: no consumer group, no
// committed offsets. It starts each partition where the runner's
// checkpoint store says, or at the oldest offset. Use it for rebuilds and
// catch-up (no group to join and leave, so it starts and stops faster),
// for a single-instance projection that keeps its checkpoint in its own
// database, and for tools. Create it with [NewReader]; Close it when done.
type Reader struct{ s *Source }

// NewReader returns a reader of topic on the cluster that client is
// connected to, with connections of its own configured like [NewSource]
// does (read_committed; WithInitialOffset does not apply: partitions
// without a checkpoint start at the oldest offset). It never closes
// client; ctx bounds the connecting.
func NewReader(ctx context.Context, client sarama.Client, topic string, opts ...Option) (*Reader, error) {
	if topic == "" {
		return nil, errors.New("kafkaprojection: empty topic name")
	}
	s, err := newSource(ctx, client, topic, "", collect(opts))
	if err != nil {
		return nil, err
	}
	return &Reader{s: s}, nil
}

// Close closes the reader's own connections (not the client it was
// created from). Stop Run first.
func (r *Reader) Close() error { return r.s.Close() }

// End returns the last stable offset of every partition.
func (r *Reader) End(ctx context.Context) (eventstore.Checkpoint, error) { return r.s.End(ctx) }

// HasEvents implements [projection.GapChecker].
func (r *Reader) HasEvents(ctx context.Context, partition int32, from, to int64) (bool, error) {
	return r.s.HasEvents(ctx, partition, from, to)
}

// Run reads all partitions and delivers their records to sink until ctx
// ends or the sink fails.
//
// The records are filtered as [Source.Run] filters them.
func (r *Reader) Run(ctx context.Context, sink projection.Sink) error {
	r = &Reader{s: r.s.forSink(sink)}
	for {
		err := r.run(ctx, sink)
		if errors.Is(err, projection.ErrCheckpointMoved) && ctx.Err() == nil {
			continue // another instance moved the checkpoint: start over from it
		}
		return err
	}
}

func (r *Reader) run(ctx context.Context, sink projection.Sink) error {
	s := r.s
	parts, err := s.partitions()
	if err != nil {
		return err
	}
	cp, _, err := sink.Start(ctx, parts)
	if err != nil {
		return err
	}
	var missing []int32
	for _, p := range parts {
		if _, ok := cp[p]; !ok {
			missing = append(missing, p)
		}
	}
	oldest := eventstore.Checkpoint{}
	if len(missing) > 0 {
		if oldest, err = listOffsets(ctx, s.client, s.topic, missing, sarama.OffsetOldest); err != nil {
			return err
		}
	}
	if s.filter.Filtered() {
		kc, ok, err := rawClient(s.client, s.topic)
		if err != nil {
			return err
		}
		if ok {
			starts := rawStarts(parts, cp, oldest)
			for p, start := range starts {
				if start > 0 {
					sink.Reached(p, start)
				}
			}
			return r.runRaw(ctx, sink, kc, parts, starts)
		}
	}
	consumer, err := sarama.NewConsumerFromClient(s.client)
	if err != nil {
		return fmt.Errorf("kafkaprojection: consumer for %s: %w", s.topic, err)
	}
	defer consumer.Close()
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for _, p := range parts {
		start, ok := cp[p]
		if !ok {
			start = oldest[p]
		}
		if start > 0 {
			sink.Reached(p, start)
		}
		pc, err := consumer.ConsumePartition(s.topic, p, start)
		if kafkaauth.Fatal(err) {
			cancel(s.denied(fmt.Sprintf("consume %s/%d from %d", s.topic, p, start), err))
			break
		}
		if err != nil {
			cancel(fmt.Errorf("kafkaprojection: consume %s/%d from %d: %w", s.topic, p, start, err))
			break
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			for err := range pc.Errors() {
				if kafkaauth.Fatal(err) { // a missing ACL does not heal: end Run
					cancel(s.denied(fmt.Sprintf("consume %s/%d", s.topic, p), err))
					continue
				}
				s.logger.Warn("kafkaprojection: consumer error", slog.String("topic", s.topic), slog.Int("partition", int(p)), slog.Any("error", err))
			}
		}()
		go func() {
			defer wg.Done()
			defer pc.AsyncClose()
			if err := s.consume(cctx, cctx.Done(), sink, p, pc.Messages(), start, 0, false, nil); err != nil {
				cancel(err)
			}
		}()
	}
	<-cctx.Done()
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return context.Cause(cctx)
}
