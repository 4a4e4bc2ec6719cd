package kafkatest

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// ClusterCtl runs the commands of the 3-node cluster script
// (scripts/kafka-cluster.sh, whose env command sets KAFKAES_CLUSTER_CTL to
// its path) for fault tests: "kill N", "start N", "pause N", "resume N",
// "wait", where N is a node number, which is also the broker's ID.
type ClusterCtl struct {
	tb   testing.TB
	path string
}

// NewClusterCtl returns a ClusterCtl for the script at path; its commands
// fail tb.
func NewClusterCtl(tb testing.TB, path string) *ClusterCtl {
	return &ClusterCtl{tb: tb, path: path}
}

// Run runs the script with args, waiting up to 3 minutes, logs what it
// printed, and fails the test (Fatalf) if it fails.
func (c *ClusterCtl) Run(args ...string) {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", append([]string{c.path}, args...)...).CombinedOutput()
	if err != nil {
		c.tb.Fatalf("%s %s: %v\n%s", c.path, strings.Join(args, " "), err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		c.tb.Logf("%s", s)
	}
}

// LeaderOfMost returns the ID of the broker that leads most of topic's
// partitions (the lowest ID among equals), after a metadata refresh, and
// the count of partitions per leader. It fails the test when a partition
// has no known leader.
func LeaderOfMost(tb testing.TB, client sarama.Client, topic string) (int32, map[int32]int) {
	tb.Helper()
	if err := client.RefreshMetadata(topic); err != nil {
		tb.Fatalf("metadata of %s: %v", topic, err)
	}
	parts, err := client.Partitions(topic)
	if err != nil {
		tb.Fatalf("partitions of %s: %v", topic, err)
	}
	count := map[int32]int{}
	for _, p := range parts {
		b, err := client.Leader(topic, p)
		if err != nil {
			tb.Fatalf("leader of %s/%d: %v", topic, p, err)
		}
		count[b.ID()]++
	}
	best := int32(-1)
	for id, n := range count {
		if best < 0 || n > count[best] || (n == count[best] && id < best) {
			best = id
		}
	}
	return best, count
}
