package projection_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/serde"
)

// Retry, stop, skip and dead-letter on one log: acc-2's first deposit is a
// poison event its handler always rejects, and the view's database fails
// once (a transient error the retry absorbs). With the default action the
// runner stops, and a waiter gets its error; Skip drops the poison event;
// DeadLetter sends it, and acc-2's later event, to the dead-letter sink so
// that nothing of acc-2 is applied out of order.
func ExampleFailureAction() {
	reg := serde.NewRegistry()
	serde.MustRegister[MoneyDeposited](reg, "bank.MoneyDeposited")
	sd := serde.NewJSON(reg)
	st := memory.New()
	for _, d := range []struct {
		stream string
		amount int64
	}{{"acc-1", 10}, {"acc-2", -1}, {"acc-2", 5}, {"acc-3", 7}} {
		name, data, _ := sd.Marshal(context.Background(), MoneyDeposited{Amount: d.amount})
		if _, err := st.Append(context.Background(), d.stream, eventstore.Any, eventstore.Event{Type: name, Data: data}); err != nil {
			panic(err)
		}
	}

	run := func(opts ...projection.Option) {
		totals := map[string]int64{}
		dbDown := true // the first write to the view fails, once
		r, err := projection.New("totals", sd, []projection.Handler{
			projection.On(func(_ context.Context, ev MoneyDeposited, m projection.Meta) error {
				if ev.Amount < 0 {
					// Permanent: retrying cannot help, go to the failure action at once.
					return projection.Permanent(fmt.Errorf("negative deposit %d", ev.Amount))
				}
				if dbDown {
					dbDown = false
					return errors.New("view database: connection reset") // retried
				}
				totals[m.StreamID] += ev.Amount
				return nil
			}),
		}, append([]projection.Option{
			projection.WithRetry(3, time.Millisecond, time.Millisecond),
			projection.WithLogger(slog.New(slog.DiscardHandler)),
		}, opts...)...)
		if err != nil {
			panic(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx, projection.FromStore(st)) }()
		if err := r.WaitForEnd(context.Background()); err != nil {
			var he *projection.HandlerError
			fmt.Println("stopped:", errors.Is(err, projection.ErrStopped), errors.As(err, &he), he.Meta.StreamID, he.Err)
			return
		}
		s := r.Stats()
		fmt.Println("totals:", totals, "skipped:", s.Skipped, "dead-lettered:", s.DeadLettered)
	}

	fmt.Print("stop (the default): ")
	run()
	fmt.Print("skip: ")
	run(projection.WithFailureAction(projection.Skip))
	fmt.Print("dead-letter: ")
	dlq := &projection.MemoryDeadLetters{}
	run(projection.WithDeadLetter(dlq))
	for _, l := range dlq.Letters() {
		fmt.Printf("  letter: %s v%d: %v\n", l.Record.Event.StreamID, l.Record.Event.Version, l.Err)
	}
	// Output:
	// stop (the default): stopped: true true acc-2 negative deposit -1
	// skip: totals: map[acc-1:10 acc-2:5 acc-3:7] skipped: 1 dead-lettered: 0
	// dead-letter: totals: map[acc-1:10 acc-3:7] skipped: 0 dead-lettered: 2
	//   letter: acc-2 v1: negative deposit -1
	//   letter: acc-2 v2: projection: stream parked after an earlier dead letter
}
