package kafka

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// withTestHooks sets the unexported test options.
func withTestHooks(staleIndex time.Duration, noScan bool) Option {
	return func(o *options) { o.staleIndex, testHooksOf(o).noScan = staleIndex, noScan }
}

// TestConflictScan: a store whose index has not seen another instance's
// append passes its version check; the conflict scan must catch the race.
// With the scan switched off the same steps write a duplicate version 1,
// so the test shows the scan is what prevents it.
func TestConflictScan(t *testing.T) {
	for _, noScan := range []bool{false, true} {
		name := map[bool]string{false: "Scan", true: "NoScan"}[noScan]
		t.Run(name, func(t *testing.T) {
			c := kafkatest.New(t)
			topic := kafkatest.TopicName(t, "events")
			c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
			ctx := testCtx(t)
			a := openStore(t, c, topic)
			// b never catches up before its check: its index stays at
			// version 0 for the stream.
			b := openStore(t, c, topic, withTestHooks(time.Hour, noScan))
			_, err := a.Append(ctx, "s", eventstore.NoStream, ev("T", 1))
			require.NoError(t, err)

			_, err = b.Append(ctx, "s", eventstore.NoStream, ev("T", 2))
			versions := map[int64]int{}
			flagged := 0
			for e, rerr := range a.ReadAll(ctx, nil) {
				if rerr != nil {
					// ReadAll flags the duplicate as out of place.
					require.ErrorIs(t, rerr, eventstore.ErrCorruptLog)
					flagged++
				}
				versions[e.Version]++
			}
			if noScan {
				require.NoError(t, err)
				require.Equal(t, 2, versions[1], "without the scan the stale writer duplicates version 1")
				require.Equal(t, 1, flagged, "ReadAll flags the duplicate")
				return
			}
			require.Zero(t, flagged)
			var ce *eventstore.ConflictError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, map[int64]int{1: 1}, versions, "nothing of the conflicting append is visible")
			// b has caught up meanwhile and appends after a's event.
			res, err := b.Append(ctx, "s", eventstore.Exact(1), ev("T", 3))
			require.NoError(t, err)
			require.Equal(t, int64(2), res.Version)
		})
	}
}
