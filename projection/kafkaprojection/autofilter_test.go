package kafkaprojection_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
	"github.com/kafkaes/kafkaes/serde"
)

type Withdrawn struct {
	Amount int64 `json:"amount"`
}

// noNames hides the serde's TypeNamer: the runner cannot tell its
// handlers' stored names.
type noNames struct{ serde.Serde }

// A runner whose handlers are On handlers for 2 of 5 types reads only
// those types (and their upcast former names) from a Source or Reader
// without any WithReadOptions: the records of the other types are not
// delivered (Stats.Processed counts delivered records), and catch-up ends
// although the last records are filtered out. A runner that cannot be
// filtered (an OnAny handler, a serde without TypeNamer, WithReadAll)
// gets every record.
func TestRunnerFiltersByHandlerTypes(t *testing.T) {
	c, topic := eventsTopic(t, 2)
	p := newProducer(t, c, topic)
	types := []string{"test.Deposited", "test.Withdrawn", "test.Closed", "test.Renamed", "test.OldDeposit"}
	want := map[string]int{}
	for i := range 50 {
		typ := types[i%len(types)]
		p.event(fmt.Sprint("s", i%7), typ, []byte(`{"amount":1}`))
		want[typ]++
	}
	for range 5 { // the log ends with records the filter drops
		p.event("tail", "test.Closed", []byte(`{}`))
	}
	total := 55
	newSerde := func() serde.Serde {
		reg := serde.NewRegistry()
		serde.MustRegister[Deposited](reg, "test.Deposited")
		serde.MustRegister[Withdrawn](reg, "test.Withdrawn")
		ups := serde.NewUpcasters()
		ups.MustRegister("test.OldDeposit", serde.Rename("test.Deposited"))
		return serde.Upcasting(serde.NewJSON(reg), reg, ups)
	}
	type counts struct{ dep, wd atomic.Int64 }
	typed := func(n *counts) []projection.Handler {
		return []projection.Handler{
			projection.On(func(_ context.Context, _ Deposited, _ projection.Meta) error { n.dep.Add(1); return nil }),
			projection.On(func(_ context.Context, _ Withdrawn, _ projection.Meta) error { n.wd.Add(1); return nil }),
		}
	}
	cases := []struct {
		name      string
		sd        serde.Serde
		handlers  func(*counts) []projection.Handler
		opts      []projection.Option
		delivered int
	}{
		{"typed", newSerde(), typed, nil, want["test.Deposited"] + want["test.Withdrawn"] + want["test.OldDeposit"]},
		{"any", newSerde(), func(n *counts) []projection.Handler {
			return append(typed(n), projection.OnAny(func(context.Context, any, projection.Meta) error { return nil }))
		}, nil, total},
		{"no names", noNames{newSerde()}, typed, nil, total},
		{"read all", newSerde(), typed, []projection.Option{projection.WithReadAll()}, total},
	}
	for _, tc := range cases {
		for name, open := range sources(t, c, topic) {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				var n counts
				r, err := projection.New("auto-"+tc.name+"-"+name, tc.sd, tc.handlers(&n), append(tc.opts, projection.WithLogger(discard()))...)
				require.NoError(t, err)
				require.NoError(t, r.CatchUp(timeout(t, 60*time.Second), open(), nil))
				require.Equal(t, int64(tc.delivered), r.Stats().Processed, "records delivered")
				require.Equal(t, int64(want["test.Deposited"]+want["test.OldDeposit"]), n.dep.Load(), "deposits, upcast ones included")
				require.Equal(t, int64(want["test.Withdrawn"]), n.wd.Load())
			})
		}
	}
}

// A filter given to the source wins over the runner's: its types are
// read although the runner's handlers do not take them.
func TestRunnerFilterUserWins(t *testing.T) {
	c, topic := eventsTopic(t, 1)
	p := newProducer(t, c, topic)
	for i := range 9 {
		p.event("s", []string{"test.Deposited", "test.Withdrawn", "test.Closed"}[i%3], []byte(`{"amount":1}`))
	}
	opts := kafkaprojection.WithReadOptions(eventstore.WithTypes("test.Deposited", "test.Closed"))
	for name, open := range sources(t, c, topic, opts) {
		t.Run(name, func(t *testing.T) {
			deps := 0
			r, err := projection.New("user-"+name, testSerde(), []projection.Handler{
				projection.On(func(_ context.Context, _ Deposited, _ projection.Meta) error { deps++; return nil }),
			}, projection.WithLogger(discard()))
			require.NoError(t, err)
			require.Equal(t, []string{eventstore.TypeStreamDeleted, eventstore.TypeStreamTruncated, "test.Deposited"}, r.ReadOptions().Types)
			require.NoError(t, r.CatchUp(timeout(t, 60*time.Second), open(), nil))
			require.Equal(t, int64(6), r.Stats().Processed)
			require.Equal(t, 3, deps)
		})
	}
}

// WaitFor returns for the position of an event the runner's filter drops
// (a command handler waits for its own append, whatever its type).
func TestRunnerFilterWaitFor(t *testing.T) {
	c, topic := eventsTopic(t, 1)
	p := newProducer(t, c, topic)
	p.event("s", "test.Deposited", []byte(`{"amount":1}`))
	for name, open := range sources(t, c, topic) {
		t.Run(name, func(t *testing.T) {
			r, err := projection.New("wait-"+name, testSerde(), []projection.Handler{
				projection.On(func(context.Context, Deposited, projection.Meta) error { return nil }),
			}, projection.WithLogger(discard()))
			require.NoError(t, err)
			require.True(t, r.ReadOptions().Filtered())
			ctx, cancel := context.WithCancel(timeout(t, 60*time.Second))
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx, open()) }()
			pos := p.event("s", "test.Closed", []byte(`{}`))
			require.NoError(t, r.WaitFor(timeout(t, 30*time.Second), pos))
			cancel()
			require.ErrorIs(t, <-done, context.Canceled)
		})
	}
}
