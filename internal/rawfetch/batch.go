package rawfetch

import (
	"cmp"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Batches walks the record batches of a read_committed fetch response
// for one partition without decoding what the caller does not need: for
// every committed data record at or after from it calls fn with the
// record's offset, key, value and header block (still encoded; see
// Record.Header). It checks every batch's CRC, decompresses zstd batches
// (with a pooled decoder), and drops control batches and the records of
// aborted transactions, using the response's list of aborted transactions
// the way the Java consumer does. It returns the offset after the last
// complete batch (so markers and aborted records count as read), or
// ok=false, having called fn for nothing, when the response holds
// anything it does not parse itself (batches compressed otherwise than
// with zstd, old message formats, a bad checksum, a zstd frame that does
// not decode): the caller then uses kgo.ProcessFetchPartition, which
// reports what is wrong. Malformed records never panic; they give
// ErrMalformed. fn gets the same *Record every time, with the next
// record's fields: it must not keep the pointer. The records' slices
// point into the response (or into a batch's decompressed bytes): they
// stay valid as long as the caller keeps them.
func Batches(rp *kmsg.FetchResponseTopicPartition, from int64, fn func(r *Record) error) (next int64, ok bool, err error) {
	return BatchesInto(rp, from, nil, fn)
}

// BatchesInto is Batches that decompresses into buffers of bufs (nil:
// new memory), which the caller hands back with bufs.Release when it no
// longer uses the records' slices.
func BatchesInto(rp *kmsg.FetchResponseTopicPartition, from int64, bufs *Buffers, fn func(r *Record) error) (next int64, ok bool, err error) {
	return BatchesWanted(rp, from, bufs, nil, fn)
}

// BatchesWanted is BatchesInto that leaves out the data batches for which
// want (nil: none) reports false, given the batch's first and last
// offset: their checksums are checked, but they are neither decompressed
// nor parsed, and fn sees none of their records. A reader that knows at
// which offsets its records are (a stream's load, from the index) skips
// the cost of the other records' batches, most of it decompression.
// Control batches are always read (they are never compressed).
func BatchesWanted(rp *kmsg.FetchResponseTopicPartition, from int64, bufs *Buffers, want func(first, last int64) bool, fn func(r *Record) error) (next int64, ok bool, err error) {
	next = from
	// First pass: only batch headers, so that fn sees nothing of a
	// response the caller must parse with kgo instead.
	var batches []batch
	for in := rp.RecordBatches; len(in) >= batchHeaderLen; {
		length := int64(int32(binary.BigEndian.Uint32(in[8:12])))
		if length < batchHeaderLen-12 || int64(len(in)) < 12+length {
			break // a partial batch at the end of the response
		}
		b := in[:12+length]
		in = in[12+length:]
		if b[16] != 2 || crc32.Checksum(b[21:], castagnoli) != binary.BigEndian.Uint32(b[17:21]) {
			return from, false, nil
		}
		records := b[batchHeaderLen:]
		if want != nil && binary.BigEndian.Uint16(b[21:23])&0x20 == 0 {
			base := int64(binary.BigEndian.Uint64(b[0:8]))
			last := base + int64(int32(binary.BigEndian.Uint32(b[23:27])))
			if last < from || !want(base, last) {
				batches = append(batches, batch{header: b, skip: true})
				continue
			}
		}
		switch binary.BigEndian.Uint16(b[21:23]) & 0x07 {
		case 0:
		case compressionZstd:
			var err error
			if records, err = bufs.unzstd(records); err != nil {
				return from, false, nil // franz-go's parser reports it
			}
		default:
			return from, false, nil
		}
		batches = append(batches, batch{header: b, records: records})
	}
	aborted := slices.Clone(rp.AbortedTransactions)
	slices.SortFunc(aborted, func(a, b kmsg.FetchResponseTopicPartitionAbortedTransaction) int {
		return cmp.Compare(a.FirstOffset, b.FirstOffset)
	})
	var abortedPIDs map[int64]bool
	var r Record // one for all calls of fn: no allocation per record
	for _, bt := range batches {
		b := bt.header
		base := int64(binary.BigEndian.Uint64(b[0:8]))
		last := base + int64(int32(binary.BigEndian.Uint32(b[23:27])))
		attrs := binary.BigEndian.Uint16(b[21:23])
		transactional, control := attrs&0x10 != 0, attrs&0x20 != 0
		pid := int64(binary.BigEndian.Uint64(b[43:51]))
		if last+1 > next {
			next = last + 1
		}
		if last < from || bt.skip {
			continue
		}
		if transactional {
			// The aborted transactions that began at or before this
			// batch's last offset: their producers' transactional
			// batches are aborted until their abort markers.
			for len(aborted) > 0 && aborted[0].FirstOffset <= last {
				if abortedPIDs == nil {
					abortedPIDs = map[int64]bool{}
				}
				abortedPIDs[aborted[0].ProducerID] = true
				aborted = aborted[1:]
			}
		}
		if control {
			if transactional && isAbortMarker(bt.records) {
				delete(abortedPIDs, pid)
			}
			continue
		}
		if transactional && abortedPIDs[pid] {
			continue
		}
		baseTS := int64(binary.BigEndian.Uint64(b[27:35]))
		logAppend := attrs&0x08 != 0
		maxTS := int64(binary.BigEndian.Uint64(b[35:43]))
		count := int32(binary.BigEndian.Uint32(b[57:61]))
		d := decoder{b: bt.records}
		for i := int32(0); i < count; i++ {
			if !r.parse(&d, base, baseTS) {
				return from, true, ErrMalformed
			}
			if logAppend {
				r.ts = maxTS
			}
			if r.Offset < from {
				continue
			}
			if err := fn(&r); err != nil {
				return from, true, err
			}
		}
	}
	return next, true, nil
}

// batch is a record batch of a response: its header (and compressed
// records), and its records, decompressed.
type batch struct {
	header, records []byte
	// skip is set for a batch the caller does not want (BatchesWanted):
	// records is then nil.
	skip bool
}

// compressionZstd is the compression codec of zstd in a batch's
// attributes.
const compressionZstd = 4

// maxDecompressed bounds the decompressed size of one batch.
const maxDecompressed = 256 << 20

// zstdDecoders holds zstd decoders for reuse: a new one allocates its
// windows and tables, more than most batches decompress to.
var zstdDecoders = sync.Pool{New: func() any {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxDecompressed))
	if err != nil {
		panic(err) // only for invalid options
	}
	return d
}}

// Buffers holds the buffers BatchesInto decompressed batches into, for
// reuse: a start decompresses its whole topic, and new memory for every
// batch is most of what it allocates (and what makes the garbage
// collector run). The zero value is ready.
type Buffers struct{ bufs []*[]byte }

// bufPool holds decompression buffers handed back by Release.
var bufPool sync.Pool

// maxPooled bounds the size of the buffers kept for reuse.
const maxPooled = 16 << 20

// Release hands the buffers back for reuse: the records' slices that
// point into them are invalid afterwards.
func (b *Buffers) Release() {
	for _, p := range b.bufs {
		if cap(*p) <= maxPooled {
			*p = (*p)[:0]
			bufPool.Put(p)
		}
	}
	clear(b.bufs)
	b.bufs = b.bufs[:0]
}

// unzstd decompresses the records of a zstd batch into a buffer of b, or
// into new memory when b is nil.
func (b *Buffers) unzstd(src []byte) ([]byte, error) {
	d := zstdDecoders.Get().(*zstd.Decoder)
	defer zstdDecoders.Put(d)
	if b == nil {
		// No buffer of our own: DecodeAll sizes it from the frame's
		// content size, which Kafka clients write.
		return d.DecodeAll(src, nil)
	}
	p, _ := bufPool.Get().(*[]byte)
	if p == nil {
		p = new([]byte)
	}
	out, err := d.DecodeAll(src, (*p)[:0])
	if err != nil {
		bufPool.Put(p)
		return nil, err
	}
	*p = out // DecodeAll may have grown it
	b.bufs = append(b.bufs, p)
	return out, nil
}

// batchHeaderLen is the length of a record batch's header (magic 2), up
// to its first record.
const batchHeaderLen = 61

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrMalformed is a record batch whose checksum is right but whose records
// do not parse: bytes no Kafka broker sends.
var ErrMalformed = errors.New("rawfetch: malformed record batch")

// isAbortMarker reports whether the records of a control batch start with
// an abort marker (key: version int16, type int16 with 0 for abort).
func isAbortMarker(records []byte) bool {
	d := decoder{b: records}
	var r Record
	if !r.parse(&d, 0, 0) || len(r.Key) < 4 {
		return false
	}
	return binary.BigEndian.Uint16(r.Key[2:4]) == 0
}

// Record is one record of a batch: its offset and key, the bounds of
// its value and header block, decoded on demand.
type Record struct {
	Offset  int64
	Key     []byte // nil for a null key
	Value   []byte // nil for a null value
	headers []byte // the encoded header block after the header count
	nheader int64
	ts      int64 // milliseconds
}

// NumHeaders is the number of headers the record says it has.
func (r *Record) NumHeaders() int { return int(r.nheader) }

// parse reads the record at d (length-prefixed) and moves d past it.
func (r *Record) parse(d *decoder, base, baseTS int64) bool {
	n, ok := d.varint()
	if !ok || n < 0 || n > int64(len(d.b)) {
		return false
	}
	rd := decoder{b: d.b[:n]}
	d.b = d.b[n:]
	if !rd.skip(1) { // attributes
		return false
	}
	tsDelta, ok1 := rd.varint()
	offDelta, ok2 := rd.varint()
	key, ok3 := rd.bytes()
	value, ok4 := rd.bytes()
	nh, ok5 := rd.varint()
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || nh < 0 {
		return false
	}
	r.Offset, r.ts, r.Key, r.Value, r.headers, r.nheader = base+offDelta, baseTS+tsDelta, key, value, rd.b, nh
	return true
}

// Header calls fn with the headers of the record, in order, until fn
// returns false, and reports whether the header block parsed so far.
func (r *Record) Header(fn func(key, value []byte) bool) bool {
	d := decoder{b: r.headers}
	for range r.nheader {
		k, ok1 := d.bytes()
		v, ok2 := d.bytes()
		if !ok1 || !ok2 {
			return false
		}
		if !fn(k, v) {
			return true
		}
	}
	return true
}

// Time is the record's timestamp.
func (r *Record) Time() time.Time { return time.UnixMilli(r.ts) }

// decoder reads the varint-encoded fields of records.
type decoder struct{ b []byte }

func (d *decoder) varint() (int64, bool) {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		return 0, false
	}
	d.b = d.b[n:]
	return v, true
}

func (d *decoder) skip(n int) bool {
	if len(d.b) < n {
		return false
	}
	d.b = d.b[n:]
	return true
}

// bytes reads a varint length and that many bytes (nil for length -1).
func (d *decoder) bytes() ([]byte, bool) {
	n, ok := d.varint()
	switch {
	case !ok || n < -1 || n > int64(len(d.b)):
		return nil, false
	case n == -1:
		return nil, true
	}
	b := d.b[:n:n]
	d.b = d.b[n:]
	return b, true
}
