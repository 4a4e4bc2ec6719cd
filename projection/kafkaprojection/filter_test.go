package kafkaprojection_test

import (
	"context"
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
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
)

// recorded collects the events a runner's OnRecorded handler gets, in
// order.
type recorded struct {
	mu  sync.Mutex
	evs []eventstore.RecordedEvent
}

func (r *recorded) handler() projection.Handler {
	return projection.OnRecorded(func(_ context.Context, ev eventstore.RecordedEvent) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.evs = append(r.evs, ev)
		return nil
	})
}

// all returns "stream/version/type" of every event recorded.
func (r *recorded) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.evs))
	for i, ev := range r.evs {
		out[i] = fmt.Sprintf("%s/%d/%s", ev.StreamID, ev.Version, ev.Type)
	}
	return out
}

func (r *recorded) events() []eventstore.RecordedEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]eventstore.RecordedEvent(nil), r.evs...)
}

type filterSource interface {
	projection.Source
	Close() error
}

// sources returns a group Source and a Reader of topic with opts.
func sources(t *testing.T, c *kafkatest.Cluster, topic string, opts ...kafkaprojection.Option) map[string]func() filterSource {
	return map[string]func() filterSource{
		"source": func() filterSource { return newSource(t, c, topic, kafkatest.TopicName(t, "group"), opts...) },
		"reader": func() filterSource {
			r, err := kafkaprojection.NewReader(context.Background(), c.Client(t), topic, opts...)
			require.NoError(t, err)
			t.Cleanup(func() { _ = r.Close() })
			return r
		},
	}
}

// A filtered source delivers only the events of the wanted types and
// streams, in order; catch-up ends although the last records of every
// partition are filtered out, and the group offsets move past them. The
// version check follows the streams through the filtered events: the
// delivered events 1 and 3 of a stream whose event 2 was filtered out are
// not a gap (the runner's Stop policy would end the catch-up).
func TestSourceFilter(t *testing.T) {
	c, topic := eventsTopic(t, 2)
	p := newProducer(t, c, topic)
	for i := range 40 {
		stream := fmt.Sprint([]string{"acc-", "ord-"}[i%2], i%6)
		p.event(stream, "test.Deposited", []byte(`{"amount":1}`))
		p.event(stream, "test.Withdrawn", []byte(`{"amount":1}`))
	}
	opts := kafkaprojection.WithReadOptions(eventstore.WithTypes("test.Deposited"), eventstore.WithStreamPrefix("acc-"))
	for name, open := range sources(t, c, topic, opts) {
		t.Run(name, func(t *testing.T) {
			got := &recorded{}
			r, err := projection.New("filter-"+name, testSerde(), []projection.Handler{got.handler()}, projection.WithLogger(discard()))
			require.NoError(t, err)
			src := open()
			ctx := timeout(t, 60*time.Second)
			require.NoError(t, r.CatchUp(ctx, src, nil))
			evs := got.events()
			require.Len(t, evs, 20, "%v", got.all())
			last := map[string]int64{}
			for _, ev := range evs {
				require.True(t, strings.HasPrefix(ev.StreamID, "acc-"), ev.StreamID)
				require.Equal(t, "test.Deposited", ev.Type)
				want := int64(1)
				if l, ok := last[ev.StreamID]; ok {
					want = l + 2 // every other event is filtered out
				}
				require.Equal(t, want, ev.Version, "stream %s", ev.StreamID)
				last[ev.StreamID] = ev.Version
			}
			if s, ok := src.(*kafkaprojection.Source); ok {
				end, err := s.End(ctx)
				require.NoError(t, err)
				require.Eventually(t, func() bool {
					cp, err := s.Committed(ctx)
					return err == nil && cp.Includes(eventstore.Position{Partition: 0, Offset: end[0] - 1}) &&
						cp.Includes(eventstore.Position{Partition: 1, Offset: end[1] - 1})
				}, 10*time.Second, 50*time.Millisecond, "the group offsets stay before the filtered records at the end")
			}
		})
	}
}

// A gap in a stream is still found when the events around it are filtered
// out, and a record that is not an event (no es.type) passes any filter, so
// the failure policy sees both.
func TestSourceFilterKeepsChecks(t *testing.T) {
	t.Run("gap", func(t *testing.T) {
		c, topic := eventsTopic(t, 1)
		p := newProducer(t, c, topic)
		p.event("s", "test.Deposited", []byte(`{"amount":1}`))
		p.event("s", "test.Withdrawn", []byte(`{"amount":1}`))
		p.version["s"]++ // version 3 is missing
		p.event("s", "test.Deposited", []byte(`{"amount":1}`))
		for name, open := range sources(t, c, topic, kafkaprojection.WithReadOptions(eventstore.WithTypes("test.Deposited"))) {
			t.Run(name, func(t *testing.T) {
				got := &recorded{}
				r, err := projection.New("gap-"+name, testSerde(), []projection.Handler{got.handler()}, projection.WithLogger(discard()))
				require.NoError(t, err)
				err = r.CatchUp(timeout(t, 60*time.Second), open(), nil)
				require.ErrorIs(t, err, eventstore.ErrCorruptLog)
				require.Equal(t, []string{"s/1/test.Deposited"}, got.all())
			})
		}
	})
	t.Run("not an event", func(t *testing.T) {
		c, topic := eventsTopic(t, 1)
		p := newProducer(t, c, topic)
		p.event("s", "test.Withdrawn", []byte(`{"amount":1}`))
		p.raw("s", []byte("foreign"))
		for name, open := range sources(t, c, topic, kafkaprojection.WithReadOptions(eventstore.WithTypes("test.Deposited"))) {
			t.Run(name, func(t *testing.T) {
				r, err := projection.New("foreign-"+name, testSerde(), []projection.Handler{(&recorded{}).handler()}, projection.WithLogger(discard()))
				require.NoError(t, err)
				require.ErrorIs(t, r.CatchUp(timeout(t, 60*time.Second), open(), nil), eventstore.ErrCorruptLog)
			})
		}
	})
}

// A filtered reader never delivers records of aborted transactions, nor
// those of a transaction still open when the catch-up ended; it ends at
// the end of the log although the last offsets are transaction markers.
func TestSourceFilterTransactions(t *testing.T) {
	c, topic := eventsTopic(t, 1)
	w := newTxnWriter(t, c, topic)
	events := func(commit bool, stream string, version int64, types ...string) {
		require.NoError(t, w.p.BeginTxn())
		for i, typ := range types {
			key, hs := wire.Encode(stream, version+int64(i), eventstore.Event{ID: eventstore.NewEventID(), Type: typ, Data: []byte(`{"amount":1}`)}, time.Now())
			_, _, err := w.p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0, Key: sarama.ByteEncoder(key), Value: sarama.StringEncoder(`{"amount":1}`), Headers: hs})
			require.NoError(t, err)
		}
		if commit {
			require.NoError(t, w.p.CommitTxn())
		} else {
			require.NoError(t, w.p.AbortTxn())
		}
	}
	p := newProducer(t, c, topic)
	p.event("s", "test.Deposited", []byte(`{"amount":1}`))                      // s/1
	events(false, "s", 2, "test.Deposited", "test.Withdrawn", "test.Deposited") // aborted
	events(true, "s", 2, "test.Withdrawn", "test.Deposited")                    // s/2, s/3
	events(false, "s", 4, "test.Deposited")                                     // aborted
	p.version["s"] = 3
	p.event("s", "test.Deposited", []byte(`{"amount":1}`))    // s/4, plain
	events(true, "s", 5, "test.Withdrawn", "test.Withdrawn")  // s/5, s/6: filtered
	events(false, "s", 7, "test.Deposited", "test.Deposited") // aborted, last
	for name, open := range sources(t, c, topic, kafkaprojection.WithReadOptions(eventstore.WithTypes("test.Deposited"))) {
		t.Run(name, func(t *testing.T) {
			got := &recorded{}
			r, err := projection.New("txn-"+name, testSerde(), []projection.Handler{got.handler()}, projection.WithLogger(discard()))
			require.NoError(t, err)
			require.NoError(t, r.CatchUp(timeout(t, 60*time.Second), open(), nil))
			require.Equal(t, []string{"s/1/test.Deposited", "s/3/test.Deposited", "s/4/test.Deposited"}, got.all())
		})
	}
}

// A filtered reader or group source reads compressed record batches
// (through franz-go's parser) like uncompressed ones.
func TestSourceFilterCompressed(t *testing.T) {
	c, topic := eventsTopic(t, 2)
	p := newProducer(t, c, topic)
	cfg := c.Config()
	cfg.Producer.Return.Successes = true
	cfg.Producer.Compression = sarama.CompressionGZIP
	cfg.Producer.Partitioner = wire.NewPartitioner
	cfg.Producer.RequiredAcks = sarama.WaitForAll // as newProducer: below the high watermark on a replicated cluster when acknowledged
	gz, err := sarama.NewSyncProducer(c.Brokers, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = gz.Close() })
	p.p = gz
	for i := range 30 {
		p.event(fmt.Sprint("s", i%3), []string{"test.Deposited", "test.Withdrawn"}[i%2], []byte(`{"amount":1}`))
	}
	for name, open := range sources(t, c, topic, kafkaprojection.WithReadOptions(eventstore.WithTypes("test.Deposited"))) {
		t.Run(name, func(t *testing.T) {
			got := &recorded{}
			run, err := projection.New("gzip-"+name, testSerde(), []projection.Handler{got.handler()}, projection.WithLogger(discard()))
			require.NoError(t, err)
			require.NoError(t, run.CatchUp(timeout(t, 60*time.Second), open(), nil))
			require.Len(t, got.events(), 15, "%v", got.all())
			for _, ev := range got.events() {
				require.Equal(t, "test.Deposited", ev.Type)
			}
		})
	}
}
