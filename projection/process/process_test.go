package process_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/process"
	"github.com/kafkaes/kafkaes/projection/process/processtest"
	"github.com/kafkaes/kafkaes/serde"
)

// An order is paid by a payment that arrives on a payment stream; the
// process manager connects the two.
type Order struct {
	aggregate.Root
	Total, Paid int64
	Notes       int
	payments    map[string]bool
}

type (
	OrderPlaced struct{ Total int64 }
	OrderPaid   struct {
		Payment string
		Amount  int64
	}
	OrderNoted      struct{ Note string }
	PaymentReceived struct {
		Order  string
		Amount int64
	}
)

var ErrBadAmount = errors.New("payment amount must be positive")

func (o *Order) Apply(ev any) {
	switch e := ev.(type) {
	case OrderPlaced:
		o.Total = e.Total
	case OrderPaid:
		o.Paid += e.Amount
		if o.payments == nil {
			o.payments = map[string]bool{}
		}
		o.payments[e.Payment] = true
	case OrderNoted:
		o.Notes++
	}
}

// Pay records a payment once.
func (o *Order) Pay(payment string, amount int64) error {
	if amount <= 0 {
		return ErrBadAmount
	}
	if o.payments[payment] {
		return nil
	}
	aggregate.Raise(o, OrderPaid{Payment: payment, Amount: amount})
	return nil
}

func orderSerde() serde.Serde {
	reg := serde.NewRegistry()
	serde.MustRegister[OrderPlaced](reg, "shop.OrderPlaced")
	serde.MustRegister[OrderPaid](reg, "shop.OrderPaid")
	serde.MustRegister[OrderNoted](reg, "shop.OrderNoted")
	serde.MustRegister[PaymentReceived](reg, "shop.PaymentReceived")
	return serde.NewJSON(reg)
}

// paymentHandlers builds the manager's handlers on a store.
func paymentHandlers(store eventstore.Store) []process.Handler {
	orders := aggregate.NewRepository(store, orderSerde(), func() *Order { return &Order{} })
	return []process.Handler{
		process.On(func(ctx context.Context, tx *aggregate.Tx, ev PaymentReceived, m projection.Meta) error {
			o, err := orders.LoadIn(tx, ev.Order)
			if errors.Is(err, aggregate.ErrNotFound) {
				return nil // a payment for an order we do not know: not ours
			}
			if err != nil {
				return err
			}
			return o.Pay(m.StreamID, ev.Amount)
		}),
	}
}

func TestScenarios(t *testing.T) {
	sd := orderSerde()
	processtest.New(t, sd, paymentHandlers).
		Given("order-1", OrderPlaced{Total: 30}).
		When("payment-9", PaymentReceived{Order: "order-1", Amount: 30}).
		Then("order-1", OrderPaid{Payment: "payment-9", Amount: 30})
	processtest.New(t, sd, paymentHandlers).
		When("payment-9", PaymentReceived{Order: "nobody", Amount: 30}).
		ThenNothing()
	processtest.New(t, sd, paymentHandlers).
		Given("order-1", OrderPlaced{Total: 30}).
		When("payment-9", PaymentReceived{Order: "order-1", Amount: -1}).
		ThenError(ErrBadAmount)
	processtest.New(t, sd, paymentHandlers).
		Given("order-1", OrderPlaced{Total: 30}).
		When("payment-9", OrderNoted{Note: "not a payment"}).
		ThenNothing()
}

// The processtest helpers report what is wrong.
func TestScenarioReportsMismatch(t *testing.T) {
	spy := &recorder{TB: t}
	processtest.New(spy, orderSerde(), paymentHandlers).
		Given("order-1", OrderPlaced{Total: 30}).
		When("payment-9", PaymentReceived{Order: "order-1", Amount: 30}).
		Then("order-1", OrderPaid{Payment: "payment-9", Amount: 31})
	require.True(t, spy.failed, "a wrong expectation must fail the test")
	spy = &recorder{TB: t}
	processtest.New(spy, orderSerde(), paymentHandlers).
		Given("order-1", OrderPlaced{Total: 30}).
		When("payment-9", PaymentReceived{Order: "order-1", Amount: 30}).
		ThenNothing()
	require.True(t, spy.failed)
}

type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Errorf(string, ...any) { r.failed = true }

// A manager runs on a memory store while other commands change the same
// orders: decisions that conflict are made again, and every payment is
// recorded exactly once.
func TestRunExactlyOnceUnderConflicts(t *testing.T) {
	store := memory.New()
	sd := orderSerde()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	orders := aggregate.NewRepository(store, sd, func() *Order { return &Order{} })
	const n = 20
	for i := range n {
		_, err := orders.Update(ctx, fmt.Sprint("order-", i), func(o *Order) error {
			aggregate.Raise(o, OrderPlaced{Total: 10})
			return nil
		})
		require.NoError(t, err)
	}
	// Besides the clerks below, the committer itself lets a clerk in
	// before every third commit, so that conflicts surely happen.
	c := &interfering{Committer: process.NewMemoryCommitter(store), orders: orders}
	m, err := process.New("payments", sd, c, paymentHandlers(store))
	require.NoError(t, err)
	// The payments: each pays one order, some orders twice.
	var last eventstore.Position
	for i := range 2 * n {
		name, data, err := sd.Marshal(ctx, PaymentReceived{Order: fmt.Sprint("order-", i%n), Amount: 5})
		require.NoError(t, err)
		res, err := store.Append(ctx, fmt.Sprint("payment-", i), eventstore.NoStream, eventstore.Event{Type: name, Data: data})
		require.NoError(t, err)
		last = res.Positions[0]
	}
	// Meanwhile, clerks keep noting on the orders.
	var wg sync.WaitGroup
	clerks, stopClerks := context.WithCancel(ctx)
	for w := range 2 {
		wg.Go(func() {
			for i := 0; clerks.Err() == nil; i++ {
				_, _ = orders.Update(clerks, fmt.Sprint("order-", (i+w)%n), func(o *Order) error {
					aggregate.Raise(o, OrderNoted{Note: "busy"})
					return nil
				})
			}
		})
	}
	runCtx, stopRun := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx, projection.FromStore(store)) }()
	require.NoError(t, m.WaitFor(ctx, last))
	stopClerks()
	wg.Wait()
	stopRun()
	require.ErrorIs(t, <-done, context.Canceled)

	for i := range n {
		o, err := orders.Load(ctx, fmt.Sprint("order-", i))
		require.NoError(t, err)
		require.Equal(t, int64(10), o.Paid, "order-%d: both payments, each once", i)
	}
	st := m.Stats()
	require.GreaterOrEqual(t, st.Processed, int64(2*n))
	require.Positive(t, st.Redecided, "conflicts must have made the manager decide again")
	t.Logf("stats: %+v", st)
}

// interfering is a committer that has another writer change the first
// stream a batch writes before every third commit.
type interfering struct {
	process.Committer
	orders *aggregate.Repository[*Order]
	n      int
}

func (c *interfering) Commit(ctx context.Context, partition int32, next int64, appends []eventstore.StreamAppend) ([]eventstore.AppendResult, error) {
	for _, a := range appends {
		if len(a.Events) == 0 {
			continue
		}
		if c.n++; c.n%3 == 0 {
			if _, err := c.orders.Update(ctx, a.StreamID, func(o *Order) error {
				aggregate.Raise(o, OrderNoted{Note: "just before the commit"})
				return nil
			}); err != nil {
				return nil, err
			}
		}
		break
	}
	return c.Committer.Commit(ctx, partition, next, appends)
}

// A handler error stops Run with a HandlerError naming the event; nothing
// of the batch is saved.
func TestHandlerErrorStops(t *testing.T) {
	store := memory.New()
	sd := orderSerde()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	orders := aggregate.NewRepository(store, sd, func() *Order { return &Order{} })
	_, err := orders.Update(ctx, "order-1", func(o *Order) error { aggregate.Raise(o, OrderPlaced{Total: 10}); return nil })
	require.NoError(t, err)
	name, data, err := sd.Marshal(ctx, PaymentReceived{Order: "order-1", Amount: -5})
	require.NoError(t, err)
	_, err = store.Append(ctx, "payment-1", eventstore.NoStream, eventstore.Event{Type: name, Data: data})
	require.NoError(t, err)
	m, err := process.New("payments", sd, process.NewMemoryCommitter(store), paymentHandlers(store))
	require.NoError(t, err)
	err = m.Run(ctx, projection.FromStore(store))
	var he *projection.HandlerError
	require.ErrorAs(t, err, &he)
	require.ErrorIs(t, err, ErrBadAmount)
	require.Equal(t, "payment-1", he.Meta.StreamID)
	require.Equal(t, 2, store.Len(), "nothing saved")
}

func TestNewRejectsBadInput(t *testing.T) {
	_, err := process.New("", orderSerde(), process.NewMemoryCommitter(memory.New()), nil)
	require.ErrorIs(t, err, eventstore.ErrInvalidArgument)
	type Unregistered struct{}
	_, err = process.New("p", orderSerde(), process.NewMemoryCommitter(memory.New()), []process.Handler{
		process.On(func(context.Context, *aggregate.Tx, Unregistered, projection.Meta) error { return nil }),
	})
	require.ErrorIs(t, err, serde.ErrUnknownType)
	_, err = process.New("p", orderSerde(), process.NewMemoryCommitter(memory.New()), []process.Handler{{}})
	require.ErrorIs(t, err, eventstore.ErrInvalidArgument)
}
