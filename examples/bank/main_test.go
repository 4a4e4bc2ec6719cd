package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
)

// TestScenario runs the example end to end, as `go run ./examples/bank`
// does, and checks the story it tells.
func TestScenario(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, config{topic: "bank-events"}); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"rejected: account: insufficient funds",
		"saved after 2 attempts",
		"rejected: account: closed",
		"stale save refused: stream acc-alice expected version 5, actual 6",
		"served from the snapshot at version 20 + 6 later events",
		"a fresh repository loaded acc-alice at version 26: snapshot hits=1",
		"moved 1.00 from Alice to Carol in one transaction",
		"rejected: account: insufficient funds: balance 100, withdrawal 5000 (neither account was written)",
		"rejected: account: closed (Alice's withdrawal was not written either)",
		"sweep: salary 100.00 at 1/2 not swept, the balance no longer covers it",
		"sweep: salary 50.00 at 1/57: moved 5.00 to savings",
		"acc-alice: owner=Alice balance=50.20 open=true version=29",
		"acc-alice-savings: owner=Alice balance=5.00 open=true version=2",
		"acc-carol: owner=Carol balance=1.00 open=true version=2",
		"acc-bob: owner=Bob balance=0.00 open=false version=2",
		"acc-alice  v6 bank.MoneyDeposited",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

// The event-log printout names a stream's lifecycle markers instead of
// calling them undecodable.
func TestDescribeMarkers(t *testing.T) {
	e := &env{}
	ctx := context.Background()
	del := eventstore.RecordedEvent{Event: eventstore.Event{Type: eventstore.TypeStreamDeleted}}
	if got := describe(ctx, e, del); got != "stream deleted" {
		t.Errorf("delete marker described as %q", got)
	}
}
