package kvbench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	bolt "go.etcd.io/bbolt"
)

// The access shape of a disk-resident stream index:
//
//   - catch-up (a fresh start, a restart past its checkpoint): records
//     arrive in offset order with streams interleaved; each one is a
//     read-modify-write of its stream's entry, and the entries are written
//     in batches (one per fetch response, ~1,000 records) together with
//     the partition's checkpoint (the offset the entries cover), atomically;
//   - appends and loads: a point read of one stream's entry by stream ID,
//     at random over all streams (a cache in front takes the hot ones; the
//     benchmark measures the misses), and per group commit a small batch.
//
// An entry of a stream with 5 events is ~100 bytes: its version, a run,
// five 16-byte event ID keys (random, so incompressible), flags.

// kv is the part of an embedded store the index needs.
type kv interface {
	get(key []byte, fn func(val []byte)) (bool, error)
	// write writes the entries and the checkpoint in one atomic batch.
	write(keys, vals [][]byte, checkpoint []byte) error
	close() error
}

const valueSize = 100

var checkpointKey = []byte("\x00checkpoint")

// --- pebble ---

type pebbleKV struct {
	db   *pebble.DB
	sync bool
}

func openPebble(dir string, sync bool, cacheSize int64) (kv, error) {
	c := pebble.NewCache(cacheSize)
	defer c.Unref()
	opts := &pebble.Options{Cache: c, Logger: quiet{}}
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10) // a point read skips the tables without its key
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, err
	}
	return &pebbleKV{db: db, sync: sync}, nil
}

func (p *pebbleKV) get(key []byte, fn func([]byte)) (bool, error) {
	v, closer, err := p.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	fn(v)
	return true, closer.Close()
}

func (p *pebbleKV) write(keys, vals [][]byte, checkpoint []byte) error {
	b := p.db.NewBatch()
	for i := range keys {
		_ = b.Set(keys[i], vals[i], nil)
	}
	_ = b.Set(checkpointKey, checkpoint, nil)
	opt := pebble.NoSync
	if p.sync {
		opt = pebble.Sync
	}
	return b.Commit(opt)
}

func (p *pebbleKV) close() error { return p.db.Close() }

type quiet struct{}

func (quiet) Infof(string, ...any)  {}
func (quiet) Errorf(string, ...any) {}
func (quiet) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// --- bbolt ---

type boltKV struct{ db *bolt.DB }

var bucket = []byte("index")

func openBolt(dir string, noSync bool) (kv, error) {
	db, err := bolt.Open(filepath.Join(dir, "index.bolt"), 0o600, &bolt.Options{NoSync: noSync, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, err
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	}); err != nil {
		return nil, err
	}
	return &boltKV{db: db}, nil
}

func (k *boltKV) get(key []byte, fn func([]byte)) (found bool, err error) {
	err = k.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucket).Get(key); v != nil {
			fn(v)
			found = true
		}
		return nil
	})
	return found, err
}

func (k *boltKV) write(keys, vals [][]byte, checkpoint []byte) error {
	return k.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		for i := range keys {
			if err := b.Put(keys[i], vals[i]); err != nil {
				return err
			}
		}
		return b.Put(checkpointKey, checkpoint)
	})
}

func (k *boltKV) close() error { return k.db.Close() }

// --- the benchmark ---

type engine struct {
	name string
	open func(dir string) (kv, error)
	note string
}

var engines = []engine{
	{"pebble", func(d string) (kv, error) { return openPebble(d, false, 8<<20) }, "8 MiB block cache (the default), batch commit without fsync: atomic, and a crash loses at most a suffix of batches"},
	{"pebble-64MiB", func(d string) (kv, error) { return openPebble(d, false, 64<<20) }, "a block cache larger than the data"},
	{"pebble-sync", func(d string) (kv, error) { return openPebble(d, true, 8<<20) }, "fsync per batch"},
	{"bbolt", func(d string) (kv, error) { return openBolt(d, false) }, "fsync per transaction (bbolt is only crash-safe so)"},
	{"bbolt-nosync", func(d string) (kv, error) { return openBolt(d, true) }, "reference only: a crash can corrupt the file"},
}

// streams returns the number of streams of the prepared stores:
// $KAFKAES_KVBENCH_STREAMS, default 200,000.
func streams() int {
	if n, err := strconv.Atoi(os.Getenv("KAFKAES_KVBENCH_STREAMS")); err == nil && n > 0 {
		return n
	}
	return 200_000
}

func key(i int) []byte { return fmt.Appendf(nil, "p3/bench-7f3a9c-%d", i) }

func value(r *rand.Rand, version int) []byte {
	v := make([]byte, valueSize)
	for i := range v {
		v[i] = byte(r.Uint32())
	}
	binary.LittleEndian.PutUint64(v, uint64(version))
	return v
}

const batch = 1000

// fill writes n entries (keys from..from+n-1, in a shuffled order, as
// streams interleave in a partition) in batches with a checkpoint.
func fill(db kv, r *rand.Rand, from, n int) error {
	order := r.Perm(n)
	keys, vals := make([][]byte, 0, batch), make([][]byte, 0, batch)
	for i, j := range order {
		keys = append(keys, key(from+j))
		vals = append(vals, value(r, 1))
		if len(keys) == batch || i == n-1 {
			if err := db.write(keys, vals, strconv.AppendInt(nil, int64(i), 10)); err != nil {
				return err
			}
			keys, vals = keys[:0], vals[:0]
		}
	}
	return nil
}

type prepared struct {
	db      kv
	heapMiB float64
	diskMiB float64
	err     error
}

var (
	prepMu sync.Mutex
	prep   = map[string]*prepared{}
	dirs   []string
)

// prepare opens a store of each engine once per process, holding
// streams() entries.
func prepare(b *testing.B, e engine) *prepared {
	prepMu.Lock()
	defer prepMu.Unlock()
	if p := prep[e.name]; p != nil {
		return p
	}
	p := &prepared{}
	prep[e.name] = p
	dir, err := os.MkdirTemp("", "kvbench-"+e.name)
	if err != nil {
		b.Fatal(err)
	}
	dirs = append(dirs, dir)
	before := liveHeap()
	p.db, p.err = e.open(dir)
	if p.err == nil {
		p.err = fill(p.db, rand.New(rand.NewPCG(1, 2)), 0, streams())
	}
	p.heapMiB = float64(liveHeap()-before) / (1 << 20)
	p.diskMiB = float64(dirSize(dir)) / (1 << 20)
	return p
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, p := range prep {
		if p.db != nil {
			_ = p.db.close()
		}
	}
	for _, d := range dirs {
		_ = os.RemoveAll(d)
	}
	os.Exit(code)
}

// BenchmarkIndexStore measures, per engine, on a store of streams()
// entries of ~100 bytes (200,000 by default):
//
//   - catch-up: a read-modify-write of a random stream's entry, written in
//     batches of 1,000 with a checkpoint (ns/op per record);
//   - get: a point read of a random stream's entry (the cache miss of an
//     append or a load);
//   - fill: writing new entries in batches of 1,000 with a checkpoint;
//
// and reports the live Go heap the open store holds (heap-MiB) and its
// size on disk (disk-MiB). Compare engines within one run.
func BenchmarkIndexStore(b *testing.B) {
	for _, e := range engines {
		b.Run(e.name+"/fill", func(b *testing.B) {
			dir := b.TempDir()
			db, err := e.open(dir)
			if err != nil {
				b.Fatal(err)
			}
			defer db.close()
			r := rand.New(rand.NewPCG(3, 4))
			b.ResetTimer()
			if err := fill(db, r, 0, b.N); err != nil {
				b.Fatal(err)
			}
		})
		b.Run(e.name+"/get", func(b *testing.B) {
			p := prepare(b, e)
			if p.err != nil {
				b.Fatal(p.err)
			}
			r := rand.New(rand.NewPCG(5, 6))
			n := streams()
			var sink int
			b.ResetTimer()
			for b.Loop() {
				found, err := p.db.get(key(r.IntN(n)), func(v []byte) { sink += int(v[0]) })
				if err != nil || !found {
					b.Fatal("get", found, err)
				}
			}
			b.ReportMetric(p.heapMiB, "heap-MiB")
			b.ReportMetric(p.diskMiB, "disk-MiB")
			_ = sink
		})
		b.Run(e.name+"/catch-up", func(b *testing.B) {
			p := prepare(b, e)
			if p.err != nil {
				b.Fatal(p.err)
			}
			r := rand.New(rand.NewPCG(7, 8))
			n := streams()
			keys, vals := make([][]byte, 0, batch), make([][]byte, 0, batch)
			i := 0
			for b.Loop() {
				k := key(r.IntN(n))
				var next []byte
				found, err := p.db.get(k, func(v []byte) { next = bytes.Clone(v) })
				if err != nil || !found {
					b.Fatal("get", found, err)
				}
				next[0]++ // the next version
				keys, vals = append(keys, k), append(vals, next)
				if i++; len(keys) == batch {
					if err := p.db.write(keys, vals, strconv.AppendInt(nil, int64(i), 10)); err != nil {
						b.Fatal(err)
					}
					keys, vals = keys[:0], vals[:0]
				}
			}
			if len(keys) > 0 {
				if err := p.db.write(keys, vals, strconv.AppendInt(nil, int64(i), 10)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}
