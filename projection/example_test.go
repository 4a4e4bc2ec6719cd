package projection_test

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/serde"
)

type AccountOpened struct {
	Owner string `json:"owner"`
}

type MoneyDeposited struct {
	Amount int64 `json:"amount"`
}

// balances is a tiny in-memory read model.
type balances struct {
	mu sync.Mutex
	m  map[string]string
}

func (b *balances) handlers() []projection.Handler {
	return []projection.Handler{
		projection.On(func(_ context.Context, ev AccountOpened, m projection.Meta) error {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.m[m.StreamID] = ev.Owner + ": 0"
			return nil
		}),
		projection.On(func(_ context.Context, ev MoneyDeposited, m projection.Meta) error {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.m[m.StreamID] = fmt.Sprintf("%s (+%d at v%d)", b.m[m.StreamID], ev.Amount, m.Version)
			return nil
		}),
	}
}

func (b *balances) print() {
	b.mu.Lock()
	defer b.mu.Unlock()
	keys := make([]string, 0, len(b.m))
	for k := range b.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Println(k, "=", b.m[k])
	}
}

func exampleStore() (eventstore.Store, *serde.JSON, eventstore.Position) {
	reg := serde.NewRegistry()
	serde.MustRegister[AccountOpened](reg, "bank.AccountOpened")
	serde.MustRegister[MoneyDeposited](reg, "bank.MoneyDeposited")
	sd := serde.NewJSON(reg)
	st := memory.New()
	var last eventstore.Position
	add := func(stream string, v any) {
		name, data, _ := sd.Marshal(context.Background(), v)
		res, err := st.Append(context.Background(), stream, eventstore.Any, eventstore.Event{Type: name, Data: data})
		if err != nil {
			panic(err)
		}
		last = res.Positions[0]
	}
	add("acc-1", AccountOpened{Owner: "ann"})
	add("acc-2", AccountOpened{Owner: "bob"})
	add("acc-1", MoneyDeposited{Amount: 50})
	return st, sd, last
}

// A projection with typed handlers follows a store; WaitFor gives
// read-your-writes.
func Example() {
	st, sd, last := exampleStore()
	view := &balances{m: map[string]string{}}
	r, err := projection.New("balances", sd, view.handlers())
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx, projection.FromStore(st)) }()

	if err := r.WaitFor(context.Background(), last); err != nil { // the position an append returned
		panic(err)
	}
	view.print()
	cancel()
	fmt.Println(<-done)
	// Output:
	// acc-1 = ann: 0 (+50 at v2)
	// acc-2 = bob: 0
	// context canceled
}

// A second service's fresh projection waits until it has processed the
// whole log as it was when it asked, in every partition; WaitForEnd may be
// called before Run.
func ExampleRunner_WaitForEnd() {
	st, sd, _ := exampleStore()
	view := &balances{m: map[string]string{}}
	r, err := projection.New("balances", sd, view.handlers())
	if err != nil {
		panic(err)
	}
	caughtUp := make(chan error)
	go func() { caughtUp <- r.WaitForEnd(context.Background()) }()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Run(ctx, projection.FromStore(st)) }()
	if err := <-caughtUp; err != nil {
		panic(err)
	}
	view.print()
	// Output:
	// acc-1 = ann: 0 (+50 at v2)
	// acc-2 = bob: 0
}

// Rebuild a read model blue/green: a new projection (new name, new view)
// catches up from the start while the old one keeps serving; then readers
// switch to it.
func ExampleRunner_CatchUp() {
	st, sd, _ := exampleStore()
	green := &balances{m: map[string]string{}}
	r, err := projection.New("balances-v2", sd, green.handlers(), projection.WithCheckpoints(&projection.MemoryCheckpoints{}))
	if err != nil {
		panic(err)
	}
	var last projection.Progress
	if err := r.CatchUp(context.Background(), projection.FromStore(st), func(p projection.Progress) { last = p }); err != nil {
		panic(err)
	}
	fmt.Println("done:", last.Done, "of", last.Total, "finished:", last.Finished)
	green.print()
	// Output:
	// done: 3 of 3 finished: true
	// acc-1 = ann: 0 (+50 at v2)
	// acc-2 = bob: 0
}

// Rebuild a read model blue/green with Runner.Rebuild: the fresh view
// catches up while the current one keeps serving, and readers are
// switched (Swap) only once it holds the whole log; after a failure the
// fresh view is discarded and the current one still serves.
func ExampleRunner_Rebuild() {
	st, sd, _ := exampleStore()
	current := &balances{m: map[string]string{}} // serving readers
	fresh := &balances{m: map[string]string{}}
	r, err := projection.New("balances-v2", sd, fresh.handlers(), projection.WithCheckpoints(&projection.MemoryCheckpoints{}))
	if err != nil {
		panic(err)
	}
	err = r.Rebuild(context.Background(), projection.FromStore(st), projection.Rebuild{
		Swap:    func(context.Context) error { current = fresh; return nil },
		Discard: func(context.Context) error { fresh = nil; return nil },
		Progress: func(p projection.Progress) {
			if p.Finished {
				fmt.Println("caught up:", p.Done, "of", p.Total)
			}
		},
	})
	fmt.Println("swapped:", err == nil)
	current.print()
	// Output:
	// caught up: 3 of 3
	// swapped: true
	// acc-1 = ann: 0 (+50 at v2)
	// acc-2 = bob: 0
}
