package rawfetch

import (
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testRecord appends a record (magic 2) with the given offset delta, key,
// value and headers (name, value pairs) to dst.
func testRecord(dst []byte, delta int64, key, value []byte, headers ...string) []byte {
	var body []byte
	body = append(body, 0)                    // attributes
	body = binary.AppendVarint(body, delta*7) // timestamp delta
	body = binary.AppendVarint(body, delta)
	putBytes := func(b []byte) {
		if b == nil {
			body = binary.AppendVarint(body, -1)
			return
		}
		body = binary.AppendVarint(body, int64(len(b)))
		body = append(body, b...)
	}
	putBytes(key)
	putBytes(value)
	body = binary.AppendVarint(body, int64(len(headers)/2))
	for _, h := range headers {
		putBytes([]byte(h))
	}
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

// testBatch appends a record batch at base holding records (from
// testRecord, count of them) to dst; attrs sets transactional (0x10) and
// control (0x20) batches of producer pid.
func testBatch(dst []byte, base int64, count int, lastDelta int32, attrs uint16, pid int64, records []byte) []byte {
	b := make([]byte, batchHeaderLen, batchHeaderLen+len(records))
	binary.BigEndian.PutUint64(b[0:], uint64(base))
	binary.BigEndian.PutUint32(b[8:], uint32(batchHeaderLen-12+len(records)))
	b[16] = 2
	binary.BigEndian.PutUint16(b[21:], attrs)
	binary.BigEndian.PutUint32(b[23:], uint32(lastDelta))
	binary.BigEndian.PutUint64(b[27:], 1_700_000_000_000)
	binary.BigEndian.PutUint64(b[43:], uint64(pid))
	binary.BigEndian.PutUint32(b[57:], uint32(count))
	b = append(b, records...)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return append(dst, b...)
}

// marker is a control batch at offset off of producer pid: an abort
// (typ 0) or a commit (typ 1) marker.
func marker(dst []byte, off int64, pid int64, typ uint16) []byte {
	key := []byte{0, 0, 0, byte(typ)}
	return testBatch(dst, off, 1, 0, 0x30, pid, testRecord(nil, 0, key, []byte{0, 0, 0, 0, 0, 0}))
}

func event(delta int64, stream, typ string) []byte {
	return testRecord(nil, delta, []byte(stream), []byte(`{}`), "es.type", typ, "es.version", "1")
}

// Batches drops control batches and the batches of aborted
// transactions, keeps committed and plain ones, and reads to the offset
// after the last batch.
func TestBatches(t *testing.T) {
	var data []byte
	data = testBatch(data, 0, 2, 1, 0, -1, append(event(0, "a", "T"), event(1, "b", "U")...)) // 0, 1: plain
	data = testBatch(data, 2, 1, 0, 0x10, 7, event(0, "c", "T"))                              // 2: aborted (pid 7)
	data = testBatch(data, 3, 1, 0, 0x10, 8, event(0, "d", "T"))                              // 3: committed (pid 8)
	data = marker(data, 4, 7, 0)                                                              // 4: abort of 7
	data = marker(data, 5, 8, 1)                                                              // 5: commit of 8
	data = testBatch(data, 6, 1, 0, 0x10, 7, event(0, "e", "T"))                              // 6: committed (pid 7 again)
	data = marker(data, 7, 7, 1)                                                              // 7: commit of 7
	rp := &kmsg.FetchResponseTopicPartition{RecordBatches: data,
		AbortedTransactions: []kmsg.FetchResponseTopicPartitionAbortedTransaction{{ProducerID: 7, FirstOffset: 2}}}
	var got []int64
	next, ok, err := Batches(rp, 1, func(r *Record) error {
		got = append(got, r.Offset)
		return nil
	})
	if err != nil || !ok || next != 8 {
		t.Fatalf("next %d ok %v err %v, want 8 true nil", next, ok, err)
	}
	if want := []int64{1, 3, 6}; !equal(got, want) {
		t.Fatalf("offsets %v, want %v", got, want)
	}
	// The same batches with the data records compressed with zstd.
	var zdata []byte
	zdata = testBatch(zdata, 0, 2, 1, 4, -1, zstdBytes(append(event(0, "a", "T"), event(1, "b", "U")...)))
	zdata = testBatch(zdata, 2, 1, 0, 0x14, 7, zstdBytes(event(0, "c", "T")))
	zdata = testBatch(zdata, 3, 1, 0, 0x14, 8, zstdBytes(event(0, "d", "T")))
	zdata = marker(zdata, 4, 7, 0)
	zdata = marker(zdata, 5, 8, 1)
	zdata = testBatch(zdata, 6, 1, 0, 0x14, 7, zstdBytes(event(0, "e", "T")))
	zdata = marker(zdata, 7, 7, 1)
	got = got[:0]
	var keys []string
	next, ok, err = Batches(&kmsg.FetchResponseTopicPartition{RecordBatches: zdata, AbortedTransactions: rp.AbortedTransactions}, 1, func(r *Record) error {
		got = append(got, r.Offset)
		keys = append(keys, string(r.Key))
		return nil
	})
	if err != nil || !ok || next != 8 {
		t.Fatalf("zstd: next %d ok %v err %v, want 8 true nil", next, ok, err)
	}
	if want := []int64{1, 3, 6}; !equal(got, want) || strings.Join(keys, ",") != "b,d,e" {
		t.Fatalf("zstd: offsets %v keys %v, want %v b,d,e", got, keys, want)
	}
	// Into reused buffers, twice: the same records.
	var bufs Buffers
	for range 2 {
		keys = keys[:0]
		if _, _, err := BatchesInto(&kmsg.FetchResponseTopicPartition{RecordBatches: zdata}, 0, &bufs, func(r *Record) error {
			keys = append(keys, string(r.Key))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if strings.Join(keys, ",") != "a,b,c,d,e" || len(bufs.bufs) != 4 {
			t.Fatalf("into buffers: keys %v (%d buffers), want a,b,c,d,e (4)", keys, len(bufs.bufs))
		}
		bufs.Release()
	}
	// A bad zstd frame, another codec (gzip) are left to franz-go.
	for _, attrs := range []uint16{4, 1} {
		odd := testBatch(nil, 0, 1, 0, attrs, -1, event(0, "a", "T"))
		if _, ok, _ := Batches(&kmsg.FetchResponseTopicPartition{RecordBatches: odd}, 0, func(*Record) error { return nil }); ok {
			t.Fatalf("a batch with attributes %#x and records it cannot decompress was parsed", attrs)
		}
	}
	// A bad checksum is left to franz-go.
	bad := append([]byte(nil), data...)
	bad[len(bad)-1] ^= 1
	if _, ok, _ := Batches(&kmsg.FetchResponseTopicPartition{RecordBatches: bad}, 0, func(*Record) error { return nil }); ok {
		t.Fatal("a batch with a bad checksum was parsed")
	}
}

// BatchesWanted leaves out the data batches want refuses without
// decompressing them (a frame that does not decode is not noticed there),
// still reads the control batches (an abort marker after a skipped batch
// still ends its transaction), and reads to the offset after the last
// batch.
func TestBatchesWanted(t *testing.T) {
	var data []byte
	data = testBatch(data, 0, 2, 1, 4, -1, zstdBytes(append(event(0, "a", "T"), event(1, "b", "U")...))) // 0, 1
	data = testBatch(data, 2, 1, 0, 0x14, 7, []byte("not a zstd frame"))                                 // 2: aborted, unwanted
	data = marker(data, 3, 7, 0)                                                                         // 3: abort of 7
	data = testBatch(data, 4, 1, 0, 0x14, 7, zstdBytes(event(0, "c", "T")))                              // 4: committed
	data = marker(data, 5, 7, 1)                                                                         // 5: commit of 7
	data = testBatch(data, 6, 1, 0, 4, -1, []byte("not a zstd frame either"))                            // 6: unwanted
	rp := &kmsg.FetchResponseTopicPartition{RecordBatches: data,
		AbortedTransactions: []kmsg.FetchResponseTopicPartitionAbortedTransaction{{ProducerID: 7, FirstOffset: 2}}}
	var asked [][2]int64
	want := func(first, last int64) bool {
		asked = append(asked, [2]int64{first, last})
		return first <= 1 || first == 4
	}
	var got []int64
	var keys []string
	var bufs Buffers
	defer bufs.Release()
	next, ok, err := BatchesWanted(rp, 1, &bufs, want, func(r *Record) error {
		got = append(got, r.Offset)
		keys = append(keys, string(r.Key))
		return nil
	})
	if err != nil || !ok || next != 7 {
		t.Fatalf("next %d ok %v err %v, want 7 true nil", next, ok, err)
	}
	if !equal(got, []int64{1, 4}) || strings.Join(keys, ",") != "b,c" {
		t.Fatalf("offsets %v keys %v, want [1 4] b,c", got, keys)
	}
	if len(asked) != 4 || asked[0] != [2]int64{0, 1} || asked[1] != [2]int64{2, 2} || asked[3] != [2]int64{6, 6} {
		t.Fatalf("want was asked about %v, want the data batches [0 1] [2 2] [4 4] [6 6]", asked)
	}
	// Without want the bad frames make it leave the response to franz-go.
	if _, ok, _ := BatchesInto(rp, 1, nil, func(*Record) error { return nil }); ok {
		t.Fatal("BatchesInto parsed a response with a frame that does not decode")
	}
}

func zstdBytes(b []byte) []byte {
	e, err := zstd.NewWriter(nil)
	if err != nil {
		panic(err)
	}
	defer e.Close()
	return e.EncodeAll(b, nil)
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzBatches: no bytes make the batch parser panic or yield records
// before the fetch offset. The target fixes up the checksums, so that the
// records, not the checksum test, get the fuzzed bytes.
func FuzzBatches(f *testing.F) {
	var data []byte
	data = testBatch(data, 0, 2, 1, 0, -1, append(event(0, "a", "T"), event(1, "b", "U")...))
	data = testBatch(data, 2, 1, 0, 0x10, 7, event(0, "c", "T"))
	data = marker(data, 3, 7, 0)
	f.Add(data, int64(0))
	f.Add(data, int64(1))
	f.Add(data[:len(data)-3], int64(0))
	f.Add(testBatch(nil, 0, 2, 1, 4, -1, zstdBytes(append(event(0, "a", "T"), event(1, "b", "U")...))), int64(0))
	f.Fuzz(func(t *testing.T, data []byte, from int64) {
		for in := data; len(in) >= batchHeaderLen; {
			n := int64(int32(binary.BigEndian.Uint32(in[8:12])))
			if n < batchHeaderLen-12 || int64(len(in)) < 12+n {
				break
			}
			binary.BigEndian.PutUint32(in[17:], crc32.Checksum(in[21:12+n], castagnoli))
			in = in[12+n:]
		}
		rp := &kmsg.FetchResponseTopicPartition{RecordBatches: data,
			AbortedTransactions: []kmsg.FetchResponseTopicPartitionAbortedTransaction{{ProducerID: 7, FirstOffset: 1}}}
		next, _, _ := Batches(rp, from, func(r *Record) error {
			if r.Offset < from {
				t.Fatalf("record at %d before the fetch offset %d", r.Offset, from)
			}
			r.Header(func(k, v []byte) bool { return true })
			_ = r.Time()
			return nil
		})
		if next < from {
			t.Fatalf("next %d before the fetch offset %d", next, from)
		}
		// Every other batch left out.
		next2, _, _ := BatchesWanted(rp, from, nil, func(first, last int64) bool { return (first+last)%2 == 0 }, func(r *Record) error {
			if r.Offset < from {
				t.Fatalf("record at %d before the fetch offset %d", r.Offset, from)
			}
			return nil
		})
		if next2 < from {
			t.Fatalf("BatchesWanted: next %d before the fetch offset %d", next2, from)
		}
	})
}
