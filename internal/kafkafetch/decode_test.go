package kafkafetch

import (
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func batch(first int64, pid int64, txn bool, vals ...string) *sarama.Records {
	b := &sarama.RecordBatch{FirstOffset: first, ProducerID: pid, IsTransactional: txn, LastOffsetDelta: int32(len(vals) - 1),
		FirstTimestamp: time.Unix(100, 0), MaxTimestamp: time.Unix(200, 0)}
	for i, v := range vals {
		b.Records = append(b.Records, &sarama.Record{OffsetDelta: int64(i), TimestampDelta: time.Duration(i) * time.Second, Value: []byte(v)})
	}
	return &sarama.Records{RecordBatch: b}
}

func marker(off, pid int64, commit bool) *sarama.Records {
	typ := byte(0)
	if commit {
		typ = 1
	}
	return &sarama.Records{RecordBatch: &sarama.RecordBatch{FirstOffset: off, ProducerID: pid, IsTransactional: true, Control: true,
		Records: []*sarama.Record{{Key: []byte{0, 0, 0, typ}}}}}
}

func vals(p *Partition) string {
	var out []string
	for _, r := range p.Records {
		switch {
		case r.Control && r.Abort:
			out = append(out, fmt.Sprintf("%d:<abort %d>", r.Offset, r.ProducerID))
		case r.Control:
			out = append(out, fmt.Sprintf("%d:<commit %d>", r.Offset, r.ProducerID))
		default:
			out = append(out, fmt.Sprintf("%d:%s", r.Offset, r.Value))
		}
	}
	return fmt.Sprint(out)
}

// TestDecodeInterleavedTransactions decodes a response in which two
// producers' transactions interleave and one of them aborts, the way the
// aborted-transaction list describes them.
func TestDecodeInterleavedTransactions(t *testing.T) {
	blk := &sarama.FetchResponseBlock{HighWaterMarkOffset: 10, LastStableOffset: -1, LogStartOffset: 0,
		AbortedTransactions: []*sarama.AbortedTransaction{{ProducerID: 8, FirstOffset: 7}, {ProducerID: 7, FirstOffset: 1}},
		RecordsSet: []*sarama.Records{
			batch(0, -1, false, "plain"),
			batch(1, 7, true, "p7-aborted"), // producer 7's aborted transaction starts here
			batch(2, 8, true, "p8-committed"),
			marker(3, 7, false),
			batch(4, 7, true, "p7-committed"), // producer 7's next transaction is not aborted
			marker(5, 8, true),
			marker(6, 7, true),
			batch(7, 8, true, "p8-aborted-1", "p8-aborted-2"),
			marker(9, 8, false),
		}}
	committed := decode(blk, 0, Options{Isolation: sarama.ReadCommitted})
	if got := vals(committed); got != "[0:plain 2:p8-committed 4:p7-committed]" {
		t.Errorf("read_committed: %s", got)
	}
	if committed.Next != 10 || committed.LastStableOffset != 10 || committed.HighWaterMark != 10 {
		t.Errorf("read_committed: next %d, lso %d, hw %d; want 10 (the LSO falls back to the HW)", committed.Next, committed.LastStableOffset, committed.HighWaterMark)
	}
	withMarkers := decode(blk, 2, Options{Isolation: sarama.ReadCommitted, Markers: true})
	if got := vals(withMarkers); got != "[2:p8-committed 3:<abort 7> 4:p7-committed 5:<commit 8> 6:<commit 7> 9:<abort 8>]" {
		t.Errorf("read_committed with markers from offset 2: %s", got)
	}
	// Under read_uncommitted nothing is dropped, whatever the list says.
	all := decode(blk, 0, Options{})
	if got := vals(all); got != "[0:plain 1:p7-aborted 2:p8-committed 4:p7-committed 7:p8-aborted-1 8:p8-aborted-2]" {
		t.Errorf("read_uncommitted: %s", got)
	}
}

// TestDecodeBatchDetails covers timestamps, offsets before the fetch
// offset, a partial trailing batch and legacy messages.
func TestDecodeBatchDetails(t *testing.T) {
	appendTime := batch(3, -1, false, "x", "y")
	appendTime.RecordBatch.LogAppendTime = true
	partial := &sarama.Records{RecordBatch: &sarama.RecordBatch{FirstOffset: 5, LastOffsetDelta: 9, PartialTrailingRecord: true}}
	blk := &sarama.FetchResponseBlock{HighWaterMarkOffset: 20, LastStableOffset: 15, LogStartOffset: 1,
		RecordsSet: []*sarama.Records{
			{MsgSet: &sarama.MessageSet{Messages: []*sarama.MessageBlock{
				{Offset: 0, Msg: &sarama.Message{Value: []byte("legacy-0")}},
				{Offset: 1, Msg: &sarama.Message{Key: []byte("k"), Value: []byte("legacy-1"), Timestamp: time.Unix(50, 0)}},
				{Offset: 2, Msg: nil},
			}}},
			batch(2, 4, false, "a"),
			appendTime,
			partial,
			batch(15, -1, false, "after the partial batch"),
		}}
	p := decode(blk, 1, Options{})
	if got := vals(p); got != "[1:legacy-1 2:a 3:x 4:y]" {
		t.Fatalf("records: %s", got)
	}
	if p.Next != 5 {
		t.Errorf("next %d, want 5: the partial batch is fetched again", p.Next)
	}
	if p.LastStableOffset != 15 || p.HighWaterMark != 20 || p.LogStartOffset != 1 {
		t.Errorf("offsets %+v", p)
	}
	r := p.Records
	if !r[0].Timestamp.Equal(time.Unix(50, 0)) || r[0].ProducerID != -1 || string(r[0].Key) != "k" {
		t.Errorf("legacy record %+v", r[0])
	}
	if r[1].ProducerID != 4 || r[1].Transactional || !r[1].Timestamp.Equal(time.Unix(100, 0)) {
		t.Errorf("create-time record %+v", r[1])
	}
	if !r[2].Timestamp.Equal(time.Unix(200, 0)) || !r[3].Timestamp.Equal(time.Unix(200, 0)) {
		t.Errorf("log-append-time records %v, %v: want the batch's max timestamp", r[2].Timestamp, r[3].Timestamp)
	}
	empty := decode(&sarama.FetchResponseBlock{HighWaterMarkOffset: 7, LastStableOffset: 7, RecordsSet: []*sarama.Records{nil, {}}}, 7, Options{})
	if len(empty.Records) != 0 || empty.Next != 7 {
		t.Errorf("empty response: %+v", empty)
	}
}
