package kafka

import (
	"sync"

	"github.com/IBM/sarama"
)

// readCache keeps records of streams recently appended by this store or
// read by ReadStream, by partition and offset, so that loading a stream
// again (the next command on the same aggregate) needs no fetch of its
// records: ReadStream still catches the partition's index up first (which
// tells it every committed event of the stream, and its offset), then
// takes the records at those offsets from here when it has them. An
// offset of a Kafka partition holds one record forever, and only
// committed records enter the cache (this store's own after their
// transaction committed, others from fetches at offsets the index has as
// committed events), so it can never serve an event that was not
// committed or that is not the one the index names; the record's key and
// version are checked on the way out as for fetched records. Eviction is
// first in, first out, by bytes: the cache holds what was appended or
// read last.
type readCache struct {
	max int64

	mu    sync.Mutex
	recs  map[cacheKey]record
	order []cacheKey // insertion order; entries may already be evicted
	head  int        // first live index of order
	bytes int64
}

type cacheKey struct {
	p   int32
	off int64
}

// newReadCache returns a cache of at most max bytes, or nil (no cache)
// when max is not positive.
func newReadCache(max int64) *readCache {
	if max <= 0 {
		return nil
	}
	return &readCache{max: max, recs: map[cacheKey]record{}}
}

// recordSize estimates the memory a cached record takes.
func recordSize(r record) int64 {
	n := int64(len(r.key)+len(r.value)) + 120
	for _, h := range r.headers {
		n += int64(len(h.Key)+len(h.Value)) + 56
	}
	return n
}

func (c *readCache) get(p int32, off int64) (record, bool) {
	if c == nil {
		return record{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.recs[cacheKey{p, off}]
	return r, ok
}

// put adds a committed record of partition p. Its bytes are copied into
// one allocation of its own: a fetched record's slices point into the
// whole decoded batch, which the cache must not keep alive.
func (c *readCache) put(p int32, r record) {
	if c == nil {
		return
	}
	size := recordSize(r)
	if size > c.max/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.insertLocked(p, compact(r), size)
}

// insertLocked adds r (c.mu held); size is recordSize(r).
func (c *readCache) insertLocked(p int32, r record, size int64) {
	k := cacheKey{p, r.offset}
	if _, ok := c.recs[k]; ok {
		return
	}
	c.recs[k] = r
	c.order = append(c.order, k)
	c.bytes += size
	for c.bytes > c.max && c.head < len(c.order) {
		old := c.order[c.head]
		c.head++
		if or, ok := c.recs[old]; ok {
			c.bytes -= recordSize(or)
			delete(c.recs, old)
		}
	}
	if c.head > len(c.order)/2 && c.head > 1024 { // drop the evicted prefix
		c.order = append(c.order[:0], c.order[c.head:]...)
		c.head = 0
	}
}

// compact copies r's bytes into one buffer.
func compact(r record) record {
	n := len(r.key) + len(r.value)
	for _, h := range r.headers {
		n += len(h.Key) + len(h.Value)
	}
	buf := make([]byte, 0, n)
	take := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		start := len(buf)
		buf = append(buf, b...)
		return buf[start:len(buf):len(buf)]
	}
	out := record{offset: r.offset, key: take(r.key), value: take(r.value), ts: r.ts}
	if len(r.headers) > 0 {
		hs := make([]sarama.RecordHeader, len(r.headers))
		out.headers = make([]*sarama.RecordHeader, len(r.headers))
		for i, h := range r.headers {
			hs[i] = sarama.RecordHeader{Key: take(h.Key), Value: take(h.Value)}
			out.headers[i] = &hs[i]
		}
	}
	return out
}

// putOwn adds the records of a transaction this store committed. It
// keeps the messages' buffers rather than copying them: the store encoded
// them for this transaction (keys, headers) or copied them from the
// caller (values), and nothing writes to them after the commit.
func (c *readCache) putOwn(p int32, msgs []*sarama.ProducerMessage) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range msgs {
		r := record{offset: m.Offset, ts: m.Timestamp}
		if m.Key != nil {
			r.key, _ = m.Key.Encode()
		}
		if m.Value != nil {
			r.value, _ = m.Value.Encode()
		}
		r.headers = make([]*sarama.RecordHeader, len(m.Headers))
		for i := range m.Headers {
			r.headers[i] = &m.Headers[i]
		}
		if size := recordSize(r); size <= c.max/4 {
			c.insertLocked(p, r, size)
		}
	}
}
