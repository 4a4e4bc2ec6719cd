package snapshot_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/snapshot"
)

func TestPolicies(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	info := func(version, last int64, lastAt time.Time) snapshot.Info {
		return snapshot.Info{StreamID: "s", Version: version, PreviousVersion: version - 1, LastSnapshotVersion: last, LastSnapshotAt: lastAt, Now: now}
	}
	every10 := snapshot.EveryN(10)
	require.False(t, every10.ShouldSnapshot(info(9, 0, time.Time{})))
	require.True(t, every10.ShouldSnapshot(info(10, 0, time.Time{})))
	require.False(t, every10.ShouldSnapshot(info(19, 10, now)))
	require.True(t, every10.ShouldSnapshot(info(23, 10, now)), "a save of several events that passes the mark")
	require.True(t, snapshot.EveryN(0).ShouldSnapshot(info(1, 0, time.Time{})), "n < 1 means every save")

	hourly := snapshot.Every(time.Hour)
	require.True(t, hourly.ShouldSnapshot(info(1, 0, time.Time{})), "no known snapshot")
	require.False(t, hourly.ShouldSnapshot(info(50, 40, now.Add(-59*time.Minute))))
	require.True(t, hourly.ShouldSnapshot(info(50, 40, now.Add(-time.Hour))))
	require.False(t, hourly.ShouldSnapshot(info(40, 40, now.Add(-2*time.Hour))), "nothing new since the snapshot")

	both := snapshot.All(every10, hourly)
	require.False(t, both.ShouldSnapshot(info(55, 40, now.Add(-time.Minute))))
	require.False(t, both.ShouldSnapshot(info(45, 40, now.Add(-2*time.Hour))))
	require.True(t, both.ShouldSnapshot(info(55, 40, now.Add(-2*time.Hour))))
	require.False(t, snapshot.All().ShouldSnapshot(info(100, 0, time.Time{})))

	either := snapshot.Any(every10, hourly)
	require.True(t, either.ShouldSnapshot(info(55, 40, now.Add(-time.Minute))))
	require.True(t, either.ShouldSnapshot(info(45, 40, now.Add(-2*time.Hour))))
	require.False(t, either.ShouldSnapshot(info(45, 40, now.Add(-time.Minute))))
	require.False(t, snapshot.Any().ShouldSnapshot(info(100, 0, time.Time{})))

	require.False(t, snapshot.Never().ShouldSnapshot(info(1e6, 0, time.Time{})))
	odd := snapshot.Custom(func(i snapshot.Info) bool { return i.Version%2 == 1 })
	require.True(t, odd.ShouldSnapshot(info(3, 0, time.Time{})))
	require.False(t, odd.ShouldSnapshot(info(4, 0, time.Time{})))
}

func TestSnapshotValidate(t *testing.T) {
	ok := snapshot.Snapshot{StreamID: "s", Version: 1, Type: "t"}
	require.NoError(t, ok.Validate())
	for _, bad := range []snapshot.Snapshot{
		{Version: 1, Type: "t"},
		{StreamID: "s", Version: 0, Type: "t"},
		{StreamID: "s", Version: 1},
	} {
		require.Error(t, bad.Validate(), "%+v", bad)
	}
}
