package kafka

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/kafkaes/kafkaes/eventstore"
)

// The bulk load of a fresh disk index. When the database was just emptied
// (a new index directory, or one the start distrusted), the build's
// records are not applied to the streams one by one (a read-modify-write
// of the stream's entry, a point read of pebble for almost every record
// once the streams outnumber the cache): each keyed record is written,
// without reading anything, into a build database of its own (bulkDir,
// opened with the same opener, removed whole when the build ends) as a
// build entry
//
//	"b" + partition + uvarint(len(stream)) + stream + offset (8 bytes, big-endian)
//
// holding what applying it needs (parseRecord: its version, ID key and
// marker, or why it is not an event), about 25 bytes. The length prefix keeps the entries of one
// stream together, in offset order. After the build, fold reads them in
// key order, one stream at a time, applies them to a new stream state
// exactly as the catch-up applies records (applyRecord), writes the
// streams' entries into the index database, then the partition's
// checkpoint; when every partition is folded, finishBulk marks the index
// database built and removes the build database. Memory: the pending
// batch (bulkBatch entries) and one stream's state.
//
// The build entries had been written into the index database itself
// and deleted with one range deletion after the fold: the compaction
// that drops them (the whole index's tables rewritten) then ran in the
// next start's database open (pebble's Open waits for the compactions
// it starts before it returns), which made the first restart after a
// fresh build take 80-100 ms instead of 10; compacting them at once
// instead made the build 35% slower. A database of their own is removed
// as files, without a compaction.
//
// Crash safety: resetDiskIndex writes the key "f" (a fresh build is under
// way) with the identity of the log, synced, before anything else, and
// finishBulk clears it after every checkpoint is written. A database
// whose "f" is set is distrusted at start (checkDiskIndex) and emptied,
// so entries written by a build or a fold that did not finish are never
// used, whatever part of them a crash kept. A build database left by a
// crash is removed at the next start, whatever its state.

var diskBuildingKey = []byte("f")

// bulkBatch is the number of entries the bulk load writes per batch.
var bulkBatch = 4096 // a variable for TestDiskFreshBuildCrash

func diskBuildPrefix(p int32) []byte {
	return binary.BigEndian.AppendUint32([]byte("b"), uint32(p))
}

// prefixEnd returns the smallest key above every key with prefix b.
func prefixEnd(b []byte) []byte {
	end := bytes.Clone(b)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// bulkAdd writes the record of the fresh build at offset with key key,
// parsed as rec, as a build entry (keyed records only: the caller counts
// the others).
func (t *diskTable) bulkAdd(p int32, key []byte, offset int64, rec parsed) {
	if t.err != nil {
		return
	}
	k := binary.AppendUvarint(diskBuildPrefix(p), uint64(len(key)))
	k = append(k, key...)
	k = binary.BigEndian.AppendUint64(k, uint64(offset))
	e := &encoder{}
	encodeParsed(e, rec)
	t.bulkKeys = append(t.bulkKeys, k)
	t.bulkValues = append(t.bulkValues, e.b)
	if len(t.bulkKeys) >= bulkBatch {
		t.bulkWrite()
	}
}

// encodeParsed encodes what applyRecord needs of a record (decodeParsed
// reads it): why it is not an event, or its version, ID key and marker.
func encodeParsed(e *encoder, rec parsed) {
	switch {
	case rec.why != "":
		e.uint(1)
		e.str(rec.why)
	case rec.hasMarker:
		e.uint(2)
		e.int(rec.version)
		e.raw(rec.id[:])
		e.int(int64(rec.marker.Kind))
		e.int(rec.marker.Before)
	default:
		e.uint(0)
		e.int(rec.version)
		e.raw(rec.id[:])
	}
}

func decodeParsed(d *decoder) parsed {
	var rec parsed
	switch d.uint() {
	case 1:
		rec.why = d.str()
		if rec.why == "" {
			d.fail("empty reason")
		}
	case 0:
		rec.version = d.int()
		rec.id = idKey(d.raw(16))
	case 2:
		rec.version = d.int()
		rec.id = idKey(d.raw(16))
		rec.marker.Kind = eventstore.MarkerKind(d.int())
		rec.marker.Before = d.int()
		rec.hasMarker = true
	default:
		d.fail("bad kind")
	}
	return rec
}

// bulkWrite writes the pending entries of the bulk load, not synced.
func (t *diskTable) bulkWrite() {
	if len(t.bulkKeys) == 0 || t.err != nil {
		return
	}
	if err := t.bulkDB.Write(t.bulkKeys, t.bulkValues, false); err != nil {
		t.fail(err)
	}
	t.bulkKeys, t.bulkValues = t.bulkKeys[:0], t.bulkValues[:0]
}

// fold ends the bulk load of the partition: it turns its build entries
// into stream entries and writes its checkpoint.
func (ix *partIndex) fold(topic string, p int32, window int) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	t := ix.disk
	t.bulkWrite()
	bulkDB := t.bulkDB
	t.bulkDB, t.bulkKeys, t.bulkValues = nil, nil, nil
	if t.err != nil {
		return t.failed()
	}
	prefix := diskBuildPrefix(p)
	sprefix := diskStreamPrefix(p)
	var keys, values [][]byte
	write := func() error {
		if len(keys) == 0 {
			return nil
		}
		err := t.db.Write(keys, values, false)
		keys, values = keys[:0], values[:0]
		return err
	}
	var cur []byte
	var st *streamState
	done := func() error {
		if st == nil {
			return nil
		}
		e := &encoder{}
		encodeState(e, st)
		keys = append(keys, append(bytes.Clone(sprefix), cur...))
		values = append(values, e.b)
		st = nil
		if len(keys) >= bulkBatch {
			return write()
		}
		return nil
	}
	err := bulkDB.Scan(prefix, prefixEnd(prefix), func(k, v []byte) error {
		rest := k[len(prefix):]
		n, w := binary.Uvarint(rest)
		if w <= 0 || uint64(len(rest)-w) != n+8 {
			return errors.New("damaged build entry")
		}
		id := rest[w : w+int(n)]
		off := int64(binary.BigEndian.Uint64(rest[w+int(n):]))
		if st == nil || !bytes.Equal(id, cur) {
			if err := done(); err != nil {
				return err
			}
			cur = bytes.Clone(id)
			st = &streamState{}
		}
		d := &decoder{b: v}
		rec := decodeParsed(d)
		if d.err != nil || len(d.b) != 0 {
			return fmt.Errorf("damaged build entry: %w", d.errOr("trailing bytes"))
		}
		ix.applyRecord(st, topic, p, off, rec, window)
		return nil
	})
	if err == nil {
		err = done()
	}
	if err == nil {
		err = write()
	}
	if err == nil {
		e := &encoder{}
		e.int(ix.next)
		e.int(ix.foreign)
		err = t.db.Write([][]byte{diskCheckpointKey(p)}, [][]byte{e.b}, false)
	}
	if err != nil {
		t.fail(err)
		return t.failed()
	}
	return nil
}

// finishBulk ends a fresh build of the disk index: it folds every
// partition, deletes the build entries and marks the database built,
// synced.
func (s *Store) finishBulk() error {
	bulk := false
	for p, ix := range s.idx {
		pi, ok := ix.(*partIndex)
		if !ok || pi.disk == nil || pi.disk.bulkDB == nil {
			continue
		}
		bulk = true
		if err := pi.fold(s.topic, int32(p), s.opts.idWindow); err != nil {
			return fmt.Errorf("kafka: build the stream index of %s on disk: %w", s.topic, err)
		}
	}
	if !bulk {
		return nil
	}
	e := &encoder{}
	e.uint(0)
	if err := s.db.Write([][]byte{diskBuildingKey}, [][]byte{e.b}, true); err != nil {
		return fmt.Errorf("kafka: build the stream index of %s on disk: %w", s.topic, err)
	}
	if err := s.removeBulkDB(); err != nil {
		return fmt.Errorf("kafka: build the stream index of %s on disk: %w", s.topic, err)
	}
	return nil
}

// bulkDir is the directory of the build database of a fresh disk index.
func (s *Store) bulkDir() string { return s.diskDir() + "-build" }

// removeBulkDB closes the build database when it is open and removes its
// directory (also one a crashed build left).
func (s *Store) removeBulkDB() error {
	var err error
	if s.bulkDB != nil {
		err = s.bulkDB.Close()
		s.bulkDB = nil
	}
	if rerr := os.RemoveAll(s.bulkDir()); rerr != nil {
		err = errors.Join(err, fmt.Errorf("remove the build database %s: %w", s.bulkDir(), rerr))
	}
	return err
}
