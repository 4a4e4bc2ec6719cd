package eventstore_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/memory"
)

// Appending with an expected version makes a write conditional: it succeeds
// only if nobody else appended to the stream in the meantime.
func ExampleStore_Append() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()

	// Create the stream: it must not exist yet.
	res, err := store.Append(ctx, "order-17", eventstore.NoStream,
		eventstore.Event{Type: "shop.OrderPlaced", Data: []byte(`{"total":42}`)},
		eventstore.Event{Type: "shop.OrderPaid", Data: []byte(`{}`)},
	)
	if err != nil {
		fmt.Println("append:", err)
		return
	}
	fmt.Println("version after first append:", res.Version)

	// A writer that still believes the stream is at version 1 loses.
	_, err = store.Append(ctx, "order-17", eventstore.Exact(1),
		eventstore.Event{Type: "shop.OrderCancelled", Data: []byte(`{}`)})
	var conflict *eventstore.ConflictError
	if errors.As(err, &conflict) {
		fmt.Printf("conflict: expected %s, actual %d\n", conflict.Expected, conflict.Actual)
	}
	fmt.Println("is a conflict:", errors.Is(err, eventstore.ErrConcurrencyConflict))

	// The usual reaction: read the stream again, decide again, append at
	// the version just read.
	res, err = store.Append(ctx, "order-17", eventstore.Exact(res.Version),
		eventstore.Event{Type: "shop.OrderShipped", Data: []byte(`{}`)})
	if err != nil {
		fmt.Println("append:", err)
		return
	}
	fmt.Println("version after retry:", res.Version)
	// Output:
	// version after first append: 2
	// conflict: expected 1, actual 2
	// is a conflict: true
	// version after retry: 3
}

// ReadStream yields a stream's events in version order; a stream without
// events yields ErrStreamNotFound.
func ExampleStore_ReadStream() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	for _, typ := range []string{"shop.OrderPlaced", "shop.OrderPaid", "shop.OrderShipped"} {
		if _, err := store.Append(ctx, "order-18", eventstore.Any, eventstore.Event{Type: typ}); err != nil {
			fmt.Println("append:", err)
			return
		}
	}

	for rec, err := range store.ReadStream(ctx, "order-18", 2) {
		if err != nil {
			fmt.Println("read:", err)
			break
		}
		fmt.Println(rec.Version, rec.Type)
	}
	for _, err := range store.ReadStream(ctx, "order-404", 1) {
		fmt.Println("missing stream:", errors.Is(err, eventstore.ErrStreamNotFound))
	}
	// Output:
	// 2 shop.OrderPaid
	// 3 shop.OrderShipped
	// missing stream: true
}

// A reader of the whole log keeps a checkpoint, so that it can resume where
// it stopped.
func ExampleCheckpoint() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	for _, id := range []string{"a", "b", "c"} {
		if _, err := store.Append(ctx, id, eventstore.NoStream, eventstore.Event{Type: "T"}); err != nil {
			fmt.Println("append:", err)
			return
		}
	}

	var cp eventstore.Checkpoint
	for rec, err := range store.ReadAll(ctx, cp) {
		if err != nil {
			fmt.Println("read:", err)
			return
		}
		fmt.Println("processed", rec.StreamID)
		cp = cp.Advance(rec.Position)
		if rec.StreamID == "b" {
			break // for example, the process stops here
		}
	}
	for rec, err := range store.ReadAll(ctx, cp) {
		if err != nil {
			fmt.Println("read:", err)
			return
		}
		fmt.Println("resumed with", rec.StreamID)
	}
	// Output:
	// processed a
	// processed b
	// resumed with c
}
