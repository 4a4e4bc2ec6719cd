package memory_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/memory"
)

func BenchmarkAppend(b *testing.B) {
	s := memory.New()
	ctx := context.Background()
	data := []byte(`{"Amount":100}`)
	b.ReportAllocs()
	v := int64(0)
	for b.Loop() {
		if _, err := s.Append(ctx, "bench", eventstore.Exact(v), eventstore.Event{Type: "bank.Deposited", Data: data}); err != nil {
			b.Fatal(err)
		}
		v++
	}
}

func BenchmarkAppendParallelStreams(b *testing.B) {
	s := memory.New()
	ctx := context.Background()
	data := []byte(`{"Amount":100}`)
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		stream := fmt.Sprint("bench-", n.Add(1))
		v := int64(0)
		for pb.Next() {
			if _, err := s.Append(ctx, stream, eventstore.Exact(v), eventstore.Event{Type: "bank.Deposited", Data: data}); err != nil {
				b.Fatal(err)
			}
			v++
		}
	})
}

func BenchmarkReadStream100(b *testing.B) {
	s := memory.New()
	ctx := context.Background()
	for i := range 100 {
		if _, err := s.Append(ctx, "r", eventstore.Exact(int64(i)), eventstore.Event{Type: "T", Data: []byte(`{}`)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, err := range s.ReadStream(ctx, "r", 1) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 100 {
			b.Fatalf("read %d events", n)
		}
	}
}
