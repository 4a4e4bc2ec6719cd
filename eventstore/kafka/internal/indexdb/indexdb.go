// Package indexdb holds what the disk-resident stream index of
// eventstore/kafka and the databases it runs on (eventstore/kafka/pebbleindex)
// share without importing each other.
package indexdb

import "errors"

// ErrDamaged marks an error of opening a database whose files are
// damaged: the store empties it and builds the index from the topic. Any
// other error of opening fails the start (another store may be using the
// database).
var ErrDamaged = errors.New("the stream index on disk is damaged")
