package projectiontest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/projectiontest"
	"github.com/kafkaes/kafkaes/serde"
)

type (
	Opened    struct{ Owner string }
	Deposited struct{ Amount int64 }
	Frozen    struct{}
	Unknown   struct{ X int }
)

func accountSerde() serde.Serde {
	reg := serde.NewRegistry()
	serde.MustRegister[Opened](reg, "test.Opened")
	serde.MustRegister[Deposited](reg, "test.Deposited")
	serde.MustRegister[Frozen](reg, "test.Frozen")
	return serde.NewJSON(reg)
}

// balances is a read model: balance, owner and last version per account,
// plus the user of the last change.
type balances struct {
	mu      sync.Mutex
	rows    map[string]int64
	owners  map[string]string
	version map[string]int64
	calls   int
	lastBy  string
}

func newBalances() *balances {
	return &balances{rows: map[string]int64{}, owners: map[string]string{}, version: map[string]int64{}}
}

func (b *balances) handlers() []projection.Handler {
	return []projection.Handler{
		projection.On(func(_ context.Context, ev Opened, m projection.Meta) error {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.calls++
			b.owners[m.StreamID], b.version[m.StreamID], b.lastBy = ev.Owner, m.Version, m.Values["user"]
			return nil
		}),
		projection.On(func(_ context.Context, ev Deposited, m projection.Meta) error {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.calls++
			b.rows[m.StreamID] += ev.Amount
			b.version[m.StreamID], b.lastBy = m.Version, m.Values["user"]
			return nil
		}),
		projection.On(func(_ context.Context, ev Frozen, m projection.Meta) error {
			return fmt.Errorf("frozen accounts are not supported yet (%s v%d)", m.StreamID, m.Version)
		}),
	}
}

func TestGivenRunThen(t *testing.T) {
	b := newBalances()
	s := projectiontest.For(t, accountSerde(), b.handlers()).
		Given("acc-1", Opened{Owner: "alice"}, Deposited{Amount: 100}).
		Given("acc-2", Opened{Owner: "bob"}).
		Given("acc-1", Deposited{Amount: 5}).
		Run().
		Then(func(t testing.TB) {
			require.Equal(t, map[string]int64{"acc-1": 105}, b.rows)
			require.Equal(t, map[string]string{"acc-1": "alice", "acc-2": "bob"}, b.owners)
			require.Equal(t, map[string]int64{"acc-1": 3, "acc-2": 1}, b.version, "versions continue across Givens")
			require.Equal(t, 4, b.calls)
		})

	// A second step delivers only the new events, with their metadata.
	s.GivenWith("acc-2", eventstore.Metadata{Values: map[string]string{"user": "teller-7"}}, Deposited{Amount: 30}).
		Run().
		Then(func(t testing.TB) {
			require.Equal(t, int64(30), b.rows["acc-2"])
			require.Equal(t, 5, b.calls, "the earlier events are not delivered again")
			require.Equal(t, "teller-7", b.lastBy)
		})

	var n int
	for _, err := range s.Store().ReadAll(context.Background(), nil) {
		require.NoError(t, err)
		n++
	}
	require.Equal(t, 5, n)
}

func TestRunErrNamesTheEvent(t *testing.T) {
	b := newBalances()
	s := projectiontest.For(t, accountSerde(), b.handlers()).
		Given("acc-1", Opened{Owner: "alice"}, Frozen{})
	err := s.RunErr()
	var he *projection.HandlerError
	require.True(t, errors.As(err, &he), "want a *projection.HandlerError, got %v", err)
	require.Equal(t, "acc-1", he.Meta.StreamID)
	require.EqualValues(t, 2, he.Meta.Version)
	require.Equal(t, 1, he.Attempts, "tried once by default")
	require.ErrorContains(t, err, "frozen accounts are not supported yet")
}

// fatalRecorder is a testing.TB whose Fatalf records the failure and ends
// the goroutine, as t.Fatalf does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}
func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func fails(t *testing.T, fn func(tb testing.TB)) string {
	t.Helper()
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	return r.msg
}

func TestFailuresFailTheTest(t *testing.T) {
	msg := fails(t, func(tb testing.TB) {
		projectiontest.For(tb, accountSerde(), newBalances().handlers()).Given("acc-1", Opened{}, Frozen{}).Run()
	})
	require.Contains(t, msg, "frozen accounts are not supported yet")

	msg = fails(t, func(tb testing.TB) {
		projectiontest.For(tb, accountSerde(), newBalances().handlers()).Given("acc-1", Unknown{X: 1})
	})
	require.Contains(t, msg, "encode event 1 (projectiontest_test.Unknown)")

	msg = fails(t, func(tb testing.TB) {
		projectiontest.For(tb, accountSerde(), newBalances().handlers()).Given("acc-1")
	})
	require.Contains(t, msg, "without events")

	msg = fails(t, func(tb testing.TB) {
		h := newBalances().handlers()
		projectiontest.For(tb, accountSerde(), append(h, h[0]))
	})
	require.Contains(t, msg, "create the runner")
}
