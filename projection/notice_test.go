package projection_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/internal/testrun"
)

// TestStreamNotices: lifecycle markers reach On[StreamDeleted] and
// On[StreamTruncated] handlers as notices, in log order; projections
// without such handlers (also strict ones, and OnAny ones) do not see
// them and go on.
func TestStreamNotices(t *testing.T) {
	ctx := context.Background()
	st := newMem()
	deposit(t, st, "a", 5)
	deposit(t, st, "b", 1)
	_, err := st.TruncateStream(ctx, "b", eventstore.Exact(1), 2)
	require.NoError(t, err)
	_, err = st.DeleteStream(ctx, "a", eventstore.Exact(1))
	require.NoError(t, err)
	res, err := eventstore.Recreate(ctx, st, "a", eventstore.Exact(2), eventstore.Event{Type: "test.Deposited", Data: []byte(`{"amount":9}`)})
	require.NoError(t, err)
	last := res.Positions[0]

	var got seen
	r, err := projection.New("notices", testSerde(t), []projection.Handler{
		projection.On(func(_ context.Context, ev Deposited, m projection.Meta) error {
			got.add(fmt.Sprintf("deposited %d %s/%d", ev.Amount, m.StreamID, m.Version))
			return nil
		}),
		projection.On(func(_ context.Context, n projection.StreamDeleted, m projection.Meta) error {
			got.add(fmt.Sprintf("deleted %s/%d", n.StreamID, m.Version))
			return nil
		}),
		projection.On(func(_ context.Context, n projection.StreamTruncated, m projection.Meta) error {
			got.add(fmt.Sprintf("truncated %s before %d at %d", n.StreamID, n.Before, m.Version))
			return nil
		}),
	}, projection.WithStrictTypes())
	require.NoError(t, err)
	stop := testrun.Background(t, func(ctx context.Context) error { return r.Run(ctx, projection.FromStore(st)) })
	require.NoError(t, r.WaitFor(waitCtx(t), last))
	require.ErrorIs(t, stop(), context.Canceled)
	require.Equal(t, []string{"deposited 5 a/1", "deposited 1 b/1", "truncated b before 2 at 2", "deleted a/2", "deposited 9 a/3"}, got.list())

	for _, strict := range []bool{false, true} {
		var plain seen
		opts := []projection.Option{}
		if strict {
			opts = append(opts, projection.WithStrictTypes())
		}
		r, err := projection.New(fmt.Sprint("plain-", strict), testSerde(t), []projection.Handler{
			projection.OnAny(func(_ context.Context, ev any, m projection.Meta) error {
				if _, ok := ev.(Deposited); !ok {
					return fmt.Errorf("unexpected %T", ev)
				}
				plain.add(fmt.Sprintf("%s/%d", m.StreamID, m.Version))
				return nil
			}),
		}, opts...)
		require.NoError(t, err)
		stop := testrun.Background(t, func(ctx context.Context) error { return r.Run(ctx, projection.FromStore(st)) })
		require.NoError(t, r.WaitFor(waitCtx(t), last))
		require.ErrorIs(t, stop(), context.Canceled)
		require.Equal(t, []string{"a/1", "b/1", "a/3"}, plain.list(), "strict %v", strict)
	}
}
