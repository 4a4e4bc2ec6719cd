package kafkaprojection

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/ctxtime"
	"github.com/kafkaes/kafkaes/internal/kafkaauth"
	"github.com/kafkaes/kafkaes/internal/rawfetch"
	"github.com/kafkaes/kafkaes/internal/wire"
	"github.com/kafkaes/kafkaes/projection"
)

// The filtered reader (a Reader with WithReadOptions) does not use sarama's
// consumer: sarama decodes every record of a fetch response into its own
// structures and a message for a channel, which is most of the CPU a
// catch-up spends on records the filter drops. It sends raw Fetch requests
// (read_committed) to the partitions' leaders through a franz-go client
// with the sarama configuration's connection settings (rawfetch.NewClient)
// and walks the record batches itself (rawfetch.Batches, shared with the
// event store's index build): it checks every batch's CRC, decompresses
// zstd batches with a pooled decoder, drops control
// batches and the records of aborted transactions using the response's
// aborted-transaction list, as the Java consumer does, and reads only the
// key and the first headers (es.type, es.version) of a record the filter
// drops; a read_committed fetch returns nothing past the last stable
// offset, so records of open transactions are never seen. A response it
// does not parse itself (batches compressed otherwise, old message
// formats, a bad CRC) goes to kgo.ProcessFetchPartition, which does the same on fully
// decoded records. Only the records that pass the filter become events.

// rawFetchMaxBytes bounds a raw fetch response per partition.
const rawFetchMaxBytes = 4 << 20

// runRaw is Reader.run for a filtered reader with a raw client: every
// partition is read from starts by its own fetch loop.
func (r *Reader) runRaw(ctx context.Context, sink projection.Sink, kc *kgo.Client, parts []int32, starts map[int32]int64) error {
	defer kc.Close()
	s := r.s
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	lead := rawfetch.NewLeaders(kc, s.topic)
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Go(func() {
			if err := s.readRaw(cctx, sink, lead, p, starts[p]); err != nil {
				cancel(err)
			}
		})
	}
	<-cctx.Done()
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return context.Cause(cctx)
}

// readRaw reads partition p from offset next with raw fetches and hands
// the records that pass the filter to sink in batches of at most maxBatch,
// until ctx ends or the sink fails. After every fetch it tells the sink
// how far the partition is read, filtered records, markers and aborted
// records included.
func (s *Source) readRaw(ctx context.Context, sink projection.Sink, lead *rawfetch.Leaders, p int32, next int64) error {
	return s.readRawUntil(ctx, nil, sink, lead, p, next, nil)
}

// errRevoked ends readRawUntil when done closes in the middle of a fetch.
var errRevoked = errors.New("kafkaprojection: partition revoked")

// readRawUntil is readRaw for a claimed partition of a consumer group:
// it returns nil as soon as done closes (the partition is revoked or the
// session ends), never delivers after it saw done closed, and calls mark,
// if not nil, with the offset after the last record the sink took, and,
// after a fetch whose matching records were all delivered, with the
// offset after the fetch (filtered records are read too). Fetches stop
// when done closes; deliveries use ctx, so a batch the sink is working on
// when the partition is revoked is finished, as in consume.
func (s *Source) readRawUntil(ctx context.Context, done <-chan struct{}, sink projection.Sink, lead *rawfetch.Leaders, p int32, next int64,
	mark func(next int64)) error {
	fctx := ctx
	if done != nil {
		var cancel context.CancelFunc
		fctx, cancel = context.WithCancel(ctx)
		defer cancel()
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			select {
			case <-done:
				cancel()
			case <-stop:
			}
		}()
	}
	revoked := func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	deliver := func(recs []projection.Record) error {
		if revoked() {
			return errRevoked // leave the records to the next owner
		}
		return deliverMarked(ctx, sink, recs, mark)
	}
	versions := newVersionCheck()
	refresh := false
	failures := 0
	var batch []projection.Record
	take := func(rec projection.Record) error {
		batch = append(batch, rec)
		if len(batch) < s.maxBatch {
			return nil
		}
		err := deliver(batch)
		batch = batch[:0:0]
		return err
	}
	for {
		if revoked() {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := s.fetchRaw(fctx, lead, p, next, refresh, versions, take)
		refresh = false
		if errors.Is(err, errRevoked) || revoked() {
			return nil
		}
		if errors.Is(err, errFetch) {
			if kafkaauth.Fatal(err) {
				return s.denied(fmt.Sprintf("consume %s/%d", s.topic, p), err)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// A moved leader, a broken connection: ask for metadata
			// again and retry, like sarama's consumer does.
			refresh = true
			failures++
			if failures%10 == 0 {
				s.logger.Warn("kafkaprojection: fetch failing, retrying", "topic", s.topic, "partition", p, "error", err)
			}
			if err := ctxtime.Sleep(fctx, min(time.Duration(failures)*100*time.Millisecond, 2*time.Second)); err != nil {
				if revoked() {
					return nil
				}
				return err
			}
			continue
		}
		if err != nil {
			return err // the sink's
		}
		failures = 0
		if len(batch) > 0 {
			err := deliver(batch)
			batch = batch[:0:0]
			if errors.Is(err, errRevoked) {
				return nil
			}
			if err != nil {
				return err
			}
		}
		if n > next {
			next = n
			sink.Reached(p, next)
			if mark != nil {
				mark(next)
			}
		}
	}
}

// rawClient returns a franz-go client for raw fetches of topic, on the
// brokers and with the connection settings of client; ok is false when
// those settings do not carry over (rawfetch.NewClient), and the caller
// keeps sarama's consumer.
func rawClient(client sarama.Client, topic string) (kc *kgo.Client, ok bool, err error) {
	var addrs []string
	for _, b := range client.Brokers() {
		addrs = append(addrs, b.Addr())
	}
	kc, ok, err = rawfetch.NewClient(addrs, client.Config())
	if err != nil {
		return nil, false, fmt.Errorf("kafkaprojection: client for %s: %w", topic, err)
	}
	return kc, ok, nil
}

// errFetch marks the errors of fetchRaw that a retry may heal.
var errFetch = errors.New("kafkaprojection: fetch failed")

// deliverMarked delivers recs; a sink that takes only part of them
// without an error is asked again with the rest. It calls mark, if not
// nil, with the offset after the last record the sink took after every
// Deliver that took some, a failing one included (what was done before a
// failing record is committed, as in consume).
func deliverMarked(ctx context.Context, sink projection.Sink, recs []projection.Record, mark func(next int64)) error {
	for len(recs) > 0 {
		n, err := sink.Deliver(ctx, recs)
		if n > 0 && mark != nil {
			mark(recs[n-1].Event.Position.Offset + 1)
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			return errors.New("kafkaprojection: the sink took none of a batch without an error")
		}
		recs = recs[n:]
	}
	return nil
}

// fetchRaw fetches partition p from offset at, read_committed, calls take
// with every committed record that passes the filter, and returns the
// offset to fetch next. Its errors match errFetch, except take's.
func (s *Source) fetchRaw(ctx context.Context, lead *rawfetch.Leaders, p int32, at int64, refresh bool, versions *versionCheck,
	take func(projection.Record) error) (int64, error) {
	fail := func(err error) (int64, error) {
		return at, fmt.Errorf("%w: %s/%d at %d: %w", errFetch, s.topic, p, at, err)
	}
	b, err := lead.Broker(ctx, p, refresh)
	if err != nil {
		return fail(err)
	}
	resp, err := rawfetch.FetchCommitted(ctx, b, s.topic, map[int32]int64{p: at}, 100, rawFetchMaxBytes)
	if err != nil {
		return fail(err)
	}
	if resp.ErrorCode != 0 {
		return fail(sarama.KError(resp.ErrorCode))
	}
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			rp := &resp.Topics[i].Partitions[j]
			if rp.Partition != p {
				continue
			}
			if rp.ErrorCode != 0 {
				return fail(sarama.KError(rp.ErrorCode))
			}
			next, ok, err := rawfetch.Batches(rp, at, func(r *rawfetch.Record) error {
				if rec, pass := s.lazyRecord(r, p, versions); pass {
					return take(rec)
				}
				return nil
			})
			if errors.Is(err, rawfetch.ErrMalformed) {
				return fail(err)
			}
			if err != nil || ok {
				return next, err
			}
			// Compressed batches, old formats, a bad checksum: franz-go's
			// parser handles them (and reports what is wrong).
			fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Offset: at, IsolationLevel: kgo.ReadCommitted(),
				Topic: s.topic, Partition: p}, rp, kgo.DefaultDecompressor(), nil)
			if fp.Err != nil && len(fp.Records) == 0 {
				return fail(fp.Err)
			}
			for _, kr := range fp.Records {
				if rec, pass := s.kgoRecord(kr, versions); pass {
					if err := take(rec); err != nil {
						return at, err
					}
				}
			}
			return next, nil
		}
	}
	return at, nil // an empty response: nothing new
}

// lazyRecord turns a record that passes the source's filter into a
// projection record, reading only its key and headers otherwise; pass is
// false for a record the filter drops (its version goes to the version
// check).
func (s *Source) lazyRecord(r *rawfetch.Record, p int32, versions *versionCheck) (rec projection.Record, pass bool) {
	var typ, ver []byte
	r.Header(func(k, v []byte) bool {
		switch string(k) {
		case wire.HeaderType:
			typ = v
		case wire.HeaderVersion:
			ver = v
		}
		return typ == nil || ver == nil // kafkaes writes them first
	})
	if len(typ) > 0 && !matchBytes(&s.filter, r.Key, typ) {
		if v, ok := wire.ParseVersion(ver); ok {
			versions.skip(r.Key, v)
		}
		return projection.Record{}, false
	}
	msg := &sarama.ConsumerMessage{Topic: s.topic, Partition: p, Offset: r.Offset, Key: r.Key, Value: r.Value, Timestamp: r.Time(),
		Headers: make([]*sarama.RecordHeader, 0, r.NumHeaders())}
	r.Header(func(k, v []byte) bool {
		msg.Headers = append(msg.Headers, &sarama.RecordHeader{Key: k, Value: v})
		return true
	})
	return s.newRecord(msg, versions), true
}

// kgoRecord is lazyRecord for a record franz-go parsed.
func (s *Source) kgoRecord(kr *kgo.Record, versions *versionCheck) (projection.Record, bool) {
	var typ, ver []byte
	for _, h := range kr.Headers {
		switch h.Key {
		case wire.HeaderType:
			typ = h.Value
		case wire.HeaderVersion:
			ver = h.Value
		}
	}
	if len(typ) > 0 && !matchBytes(&s.filter, kr.Key, typ) {
		if v, ok := wire.ParseVersion(ver); ok {
			versions.skip(kr.Key, v)
		}
		return projection.Record{}, false
	}
	msg := &sarama.ConsumerMessage{Topic: kr.Topic, Partition: kr.Partition, Offset: kr.Offset, Key: kr.Key, Value: kr.Value,
		Timestamp: kr.Timestamp, Headers: make([]*sarama.RecordHeader, len(kr.Headers))}
	for i, h := range kr.Headers {
		msg.Headers[i] = &sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value}
	}
	return s.newRecord(msg, versions), true
}

func (s *Source) newRecord(msg *sarama.ConsumerMessage, versions *versionCheck) projection.Record {
	rec := record(msg)
	versions.check(&rec)
	return rec
}

// rawStarts returns where each partition starts: the checkpoint, or the
// oldest offset.
func rawStarts(parts []int32, cp, oldest eventstore.Checkpoint) map[int32]int64 {
	out := make(map[int32]int64, len(parts))
	for _, p := range parts {
		start, ok := cp[p]
		if !ok {
			start = oldest[p]
		}
		out[p] = start
	}
	return out
}
