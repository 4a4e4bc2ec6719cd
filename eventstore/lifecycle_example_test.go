package eventstore_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/memory"
)

// Deleting a stream writes a delete marker at its next version: reads and
// appends are refused from then on, until an append recreates the stream,
// which continues numbering after the marker and starts a new history.
func ExampleDeleteStream() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	opened := eventstore.Event{Type: "patient.Admitted", Data: []byte(`{}`)}
	if _, err := store.Append(ctx, "patient-7", eventstore.NoStream, opened, opened); err != nil {
		fmt.Println(err)
		return
	}

	res, err := eventstore.DeleteStream(ctx, store, "patient-7", eventstore.Exact(2))
	fmt.Println("deleted, marker at version", res.Version, err)

	for _, err := range store.ReadStream(ctx, "patient-7", 1) {
		var deleted *eventstore.StreamDeletedError
		fmt.Println("read:", errors.As(err, &deleted), deleted.Version)
	}
	_, err = store.Append(ctx, "patient-7", eventstore.Any, opened)
	fmt.Println("append:", errors.Is(err, eventstore.ErrStreamDeleted))

	res, err = eventstore.Recreate(ctx, store, "patient-7", eventstore.Exact(3), opened)
	fmt.Println("recreated at version", res.Version, err)
	for ev, err := range store.ReadStream(ctx, "patient-7", 1) {
		fmt.Println("read:", ev.Version, ev.Type, err)
	}
	// Output:
	// deleted, marker at version 3 <nil>
	// read: true 3
	// append: true
	// recreated at version 4 <nil>
	// read: 4 patient.Admitted <nil>
}

// Truncating a stream before a version (usually where a snapshot is)
// makes loads start there: a read from an earlier version fails with a
// *StreamTruncatedError, so no reader builds state from part of the
// history. The truncate marker takes a version and is read like an event.
func ExampleTruncateStream() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	ev := eventstore.Event{Type: "counter.Added", Data: []byte(`{"n":1}`)}
	if _, err := store.Append(ctx, "counter-1", eventstore.NoStream, ev, ev, ev, ev); err != nil {
		fmt.Println(err)
		return
	}

	// A snapshot covers versions 1-3: truncate before version 4.
	res, err := eventstore.TruncateStream(ctx, store, "counter-1", eventstore.Exact(4), 4)
	fmt.Println("truncated, marker at version", res.Version, err)

	for _, err := range store.ReadStream(ctx, "counter-1", 1) {
		var truncated *eventstore.StreamTruncatedError
		fmt.Println("read from 1:", errors.As(err, &truncated), "first version read:", truncated.Before)
	}
	for ev, err := range store.ReadStream(ctx, "counter-1", 4) {
		m, isMarker := eventstore.ParseMarker(ev.Event)
		fmt.Println("read from 4:", ev.Version, ev.Type, isMarker, m.Before, err)
	}
	// Output:
	// truncated, marker at version 5 <nil>
	// read from 1: true first version read: 4
	// read from 4: 4 counter.Added false 0 <nil>
	// read from 4: 5 $es.stream-truncated true 4 <nil>
}
