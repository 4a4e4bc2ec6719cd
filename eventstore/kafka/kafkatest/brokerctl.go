package kafkatest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// BrokerCtl stops and starts the real single-node broker that
// scripts/kafka-broker.sh runs, for tests of what happens when the broker
// goes away. Get one with [RequireBrokerCtl].
//
// Such tests disturb every other test that uses the broker at the same
// time, including tests of other packages that `go test` runs in parallel.
// Name them TestRealBroker...: scripts/ci-kafka-suites.sh runs all suites
// with KAFKAES_BROKER_CTL unset (so these tests skip), then runs only
// -run '^TestRealBroker' with it set.
type BrokerCtl struct {
	path string
}

// RequireBrokerCtl returns the control of the real broker named by the
// KAFKAES_BROKER_CTL environment variable (the path of
// scripts/kafka-broker.sh, printed by `scripts/kafka-broker.sh env`). It
// skips the test, saying how to enable it, when KAFKAES_BROKER_CTL or
// KAFKAES_BROKERS is unset. When the test ends it makes sure the broker is
// running again, so a failing test does not leave it stopped.
func RequireBrokerCtl(tb testing.TB) *BrokerCtl {
	tb.Helper()
	path := os.Getenv("KAFKAES_BROKER_CTL")
	if path == "" || os.Getenv("KAFKAES_BROKERS") == "" {
		tb.Skip("needs a real broker it may stop and restart: run `scripts/kafka-broker.sh start && eval \"$(scripts/kafka-broker.sh env)\"` " +
			"(sets KAFKAES_BROKERS and KAFKAES_BROKER_CTL), or scripts/ci-kafka-suites.sh")
	}
	b := &BrokerCtl{path: path}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := b.Start(ctx); err != nil {
			tb.Errorf("kafkatest: restart the broker after the test: %v", err)
		}
	})
	return b
}

// Stop stops the broker cleanly (SIGTERM; SIGKILL if it does not exit in
// time). Its data is kept.
func (b *BrokerCtl) Stop(ctx context.Context) error { return b.run(ctx, "stop") }

// Kill stops the broker with SIGKILL at once, as a crash would. Its data is
// kept.
func (b *BrokerCtl) Kill(ctx context.Context) error { return b.run(ctx, "kill") }

// Start starts the broker if it is not running and waits until it serves.
func (b *BrokerCtl) Start(ctx context.Context) error { return b.run(ctx, "start") }

func (b *BrokerCtl) run(ctx context.Context, cmd string) error {
	c := exec.CommandContext(ctx, "bash", b.path, cmd)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		return fmt.Errorf("kafkatest: %s %s: %w\n%s", b.path, cmd, err, strings.TrimSpace(out.String()))
	}
	return nil
}
