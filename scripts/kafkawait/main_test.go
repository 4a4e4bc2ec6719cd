package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

func TestWaitReady(t *testing.T) {
	c, err := kafkatest.StartEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := wait(ctx, c.Brokers, 1, 50*time.Millisecond)
	if err != nil {
		t.Fatalf("wait on a serving cluster: %v", err)
	}
	if !strings.Contains(info, "1 broker(s)") {
		t.Fatalf("info = %q, want it to count 1 broker", info)
	}
}

func TestWaitNotServing(t *testing.T) {
	// A port that nothing listens on any more.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := wait(ctx, []string{addr}, 1, 50*time.Millisecond); err == nil {
		t.Fatalf("wait on %s, where nothing listens, reported ready", addr)
	}
}
