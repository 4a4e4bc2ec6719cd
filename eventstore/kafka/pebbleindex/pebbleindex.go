// Package pebbleindex is the database of the disk-resident stream index
// of eventstore/kafka, on pebble (github.com/cockroachdb/pebble/v2):
//
//	store, err := kafka.New(ctx, client, topic,
//		kafka.WithIndexDir(dir), kafka.WithDiskIndex(pebbleindex.Open, 0))
//
// It is a package of its own so that only programs that use the disk
// index link pebble. Why pebble and not bbolt, with the measurements, is
// in the documentation of eventstore/kafka (Resources).
package pebbleindex

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

	"github.com/kafkaes/kafkaes/eventstore/kafka/internal/indexdb"
)

// BlockCache is the size of pebble's block cache of a database opened by
// [Open]: 32 MiB, allocated outside the Go heap when built with cgo.
// Point reads of stream entries that the index does not hold in memory
// are about 3x faster with their blocks cached than with pebble's default
// of 8 MiB (BenchmarkIndexStore, eventstore/kafka/internal/kvbench).
const BlockCache = 32 << 20

// DB is a pebble database holding a disk-resident stream index. Its
// methods are safe for concurrent use.
// MemTable is the size of pebble's memtables (allocated outside the Go
// heap; up to two are in memory while one is written to a table). Larger
// than pebble's default of 4 MiB so that a fresh build's entries reach
// the tables in fewer, larger flushes (fewer compactions).
const MemTable = 32 << 20

type DB struct{ db *pebble.DB }

// Open opens the database in dir, creating it when missing. An error
// about damaged files is marked so that the store recognises it: the
// store then removes them and builds the index afresh; on any other error
// (a database locked by another process, a permission) it leaves them
// alone and fails.
func Open(dir string) (*DB, error) {
	c := pebble.NewCache(BlockCache)
	defer c.Unref()
	opts := &pebble.Options{Logger: quiet{}, Cache: c, MemTableSize: MemTable}
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10) // a point read skips the tables without its key
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		if pebble.IsCorruptionError(err) {
			return nil, fmt.Errorf("%w: %w", indexdb.ErrDamaged, err)
		}
		return nil, err
	}
	return &DB{db: db}, nil
}

// Get calls fn with the value of key, when the database has it; the value
// is valid only during the call.
func (d *DB) Get(key []byte, fn func(value []byte)) (found bool, err error) {
	v, closer, err := d.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	fn(v)
	return true, closer.Close()
}

// Write sets keys[i] to values[i] for every i in one atomic batch; with
// sync, it returns once the batch is on stable storage. Without sync, a
// crash may lose the latest batches, but the database then holds a
// prefix of the batches written, never a part of one.
func (d *DB) Write(keys, values [][]byte, sync bool) error {
	b := d.db.NewBatch()
	defer b.Close()
	for i := range keys {
		if err := b.Set(keys[i], values[i], nil); err != nil {
			return err
		}
	}
	opt := pebble.NoSync
	if sync {
		opt = pebble.Sync
	}
	return b.Commit(opt)
}

// Scan calls fn with every key in [from, to) and its value, in key order,
// until fn returns an error; the key and value are valid only during the
// call.
func (d *DB) Scan(from, to []byte, fn func(key, value []byte) error) error {
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: from, UpperBound: to})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			_ = it.Close()
			return err
		}
	}
	return errors.Join(it.Error(), it.Close())
}

// Checkpoint writes a consistent copy of the database to dir (which must
// not exist), as a crash of the process at this moment would leave it.
func (d *DB) Checkpoint(dir string) error { return d.db.Checkpoint(dir) }

// Close writes the database's memtables to its tables, so that the next
// Open has no log to replay, and closes it.
func (d *DB) Close() error { return errors.Join(d.db.Flush(), d.db.Close()) }

// quiet drops pebble's informational logging; the store reports the
// errors that matter (a failed read or write stops the index).
type quiet struct{}

func (quiet) Infof(string, ...any)  {}
func (quiet) Errorf(string, ...any) {}
func (quiet) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}
