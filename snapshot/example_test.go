package snapshot_test

import (
	"fmt"
	"time"

	"github.com/kafkaes/kafkaes/snapshot"
)

// Policies combine: snapshot streams that grew by 100 events, but at most
// once an hour per stream.
func ExampleAll() {
	policy := snapshot.All(snapshot.EveryN(100), snapshot.Every(time.Hour))
	now := time.Now()
	for _, i := range []snapshot.Info{
		{Version: 150, LastSnapshotVersion: 100, LastSnapshotAt: now.Add(-2 * time.Hour), Now: now},
		{Version: 250, LastSnapshotVersion: 100, LastSnapshotAt: now.Add(-time.Minute), Now: now},
		{Version: 250, LastSnapshotVersion: 100, LastSnapshotAt: now.Add(-2 * time.Hour), Now: now},
	} {
		fmt.Println(i.Version-i.LastSnapshotVersion, "events since,", now.Sub(i.LastSnapshotAt).Round(time.Minute), "ago:", policy.ShouldSnapshot(i))
	}
	// Output:
	// 50 events since, 2h0m0s ago: false
	// 150 events since, 1m0s ago: false
	// 150 events since, 2h0m0s ago: true
}
