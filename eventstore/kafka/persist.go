package kafka

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// The saved index (WithIndexDir) is one file per events topic, written at
// Close to a temporary file, synced and renamed over the previous one, so
// that a crash at any moment leaves either the old file or the new one,
// never a mix. Both describe a prefix of the log: everything committed
// below each partition's saved offset, and nothing that was not
// committed (the index only ever holds committed events). A start that
// finds a file checks that it still describes this topic's log before it
// trusts it, then catches up from the saved offsets; anything it doubts
// makes it build from scratch, saying why.
//
// Format (integers are varints, strings are a length and bytes):
//
//	"kafkaes-index\n" format(2) cluster-id topic topic-id(16 bytes) partitions
//	per partition: length, then next foreign streams runs-in-all ids-in-all
//	  id-bytes [all stream IDs, concatenated]
//	  per stream: id-length version runs [offset-delta version-delta]...
//	              ids [16 bytes]... (oldest first) corrupt(0|1 [offset reason])
//	              life(0|1 [deleted-at truncated-before])
//	crc32c of everything before (4 bytes, big-endian)
//
// Format 2 added life: the state of the stream's lifecycle markers
// (eventstore.StreamLife). A file of format 1 is not loaded: it was
// written by a version that indexed markers (written by a newer instance
// on the same topic) as plain events, so it may lack a deletion or a
// truncation; the store builds the index from the topic instead, once,
// and saves format 2 at its Close.

const (
	indexMagic  = "kafkaes-index\n"
	indexFormat = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// indexFile returns the path of the saved index of the store's topic.
func (s *Store) indexFile() string {
	name := strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, s.topic)
	return filepath.Join(s.opts.indexDir, name+".kafkaes-index")
}

// logIdentity is what a saved index must match: the cluster, the topic
// (its ID changes when it is deleted and re-created) and its partitions.
type logIdentity struct {
	cluster string
	topicID [16]byte
	parts   int
}

// identity asks the cluster for the topic's identity. A broker too old
// for topic IDs (before Kafka 2.8) leaves the ID zero, which matches any.
func (s *Store) identity(ctx context.Context) (logIdentity, error) {
	id := logIdentity{parts: int(s.nparts)}
	resp, err := retry(ctx, func() (*sarama.MetadataResponse, error) {
		b := s.read.LeastLoadedBroker()
		if b == nil {
			return nil, errors.New("kafka: no broker to ask for metadata")
		}
		if ok, _ := b.Connected(); !ok {
			if err := b.Open(s.read.Config()); err != nil && !errors.Is(err, sarama.ErrAlreadyConnected) {
				return nil, err
			}
		}
		req := sarama.NewMetadataRequest(sarama.V2_8_0_0, []string{s.topic})
		req.AllowAutoTopicCreation = false
		return b.GetMetadata(req)
	})
	if err != nil {
		return id, err
	}
	if resp.ClusterID != nil {
		id.cluster = *resp.ClusterID
	}
	for _, t := range resp.Topics {
		if t.Name == s.topic {
			id.topicID = t.Uuid
		}
	}
	return id, nil
}

// staleTemp is how old a temporary file of an index save must be before a
// store removes it as the leftover of a process killed while saving (a
// save takes seconds; another live instance sharing the directory may be
// writing a younger one).
const staleTemp = 10 * time.Minute

// removeStaleTemps removes the temporary files of earlier saves of this
// index that a killed process left behind (older than staleTemp).
func (s *Store) removeStaleTemps() {
	temps, _ := filepath.Glob(s.indexFile() + ".tmp-*")
	for _, f := range temps {
		if fi, err := os.Stat(f); err == nil && time.Since(fi.ModTime()) > staleTemp {
			if os.Remove(f) == nil {
				s.opts.logger.Info("kafkaes: removed the leftover of an index save that did not finish", "file", f)
			}
		}
	}
}

// saveIndex writes the index to the index file (see above).
func (s *Store) saveIndex(ctx context.Context) error {
	if s.opts.diskIndex {
		if err := s.flushDisk(); err != nil {
			return fmt.Errorf("kafka: save the stream index: %w", err)
		}
		return nil
	}
	id, err := s.identity(ctx)
	if err != nil {
		return fmt.Errorf("kafka: save the stream index: ask for the topic's identity: %w", err)
	}
	if err := os.MkdirAll(s.opts.indexDir, 0o755); err != nil {
		return fmt.Errorf("kafka: save the stream index: %w", err)
	}
	path := s.indexFile()
	s.removeStaleTemps()
	tmp, err := os.CreateTemp(s.opts.indexDir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("kafka: save the stream index: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	h := crc32.New(castagnoli)
	w := bufio.NewWriterSize(io.MultiWriter(tmp, h), 1<<20)
	enc := &encoder{}
	enc.str(indexMagic)
	enc.uint(indexFormat)
	enc.str(id.cluster)
	enc.raw(id.topicID[:])
	enc.str(s.topic)
	enc.uint(uint64(len(s.idx)))
	_, _ = w.Write(enc.b)
	for _, ix := range s.idx {
		part := &encoder{}
		ix.(*partIndex).save(part) // the file holds in-memory indexes, the only kind so far
		enc.b = binary.AppendUvarint(enc.b[:0], uint64(len(part.b)))
		_, _ = w.Write(enc.b)
		_, _ = w.Write(part.b)
	}
	if err := w.Flush(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("kafka: save the stream index: %w", err)
	}
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], h.Sum32())
	if _, err := tmp.Write(sum[:]); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("kafka: save the stream index: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("kafka: save the stream index: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("kafka: save the stream index: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("kafka: save the stream index: %w", err)
	}
	if d, err := os.Open(s.opts.indexDir); err == nil { // make the rename durable
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// loadIndex reads the index file into s.idx when it exists and still
// describes the topic's log, and returns why it did not (empty when it
// did, or when there is no file). s.idx must hold empty indexes.
func (s *Store) loadIndex(ctx context.Context) (why string, err error) {
	if !s.opts.readOnly { // a read-only store leaves the directory alone
		s.removeStaleTemps()
	}
	data, err := os.ReadFile(s.indexFile())
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return fmt.Sprintf("cannot read %s: %v", s.indexFile(), err), nil
	}
	if len(data) < 4 || crc32.Checksum(data[:len(data)-4], castagnoli) != binary.BigEndian.Uint32(data[len(data)-4:]) {
		return fmt.Sprintf("%s is damaged (checksum; a disk error or a partial copy)", s.indexFile()), nil
	}
	d := &decoder{b: data[:len(data)-4]}
	if d.str() != indexMagic {
		return fmt.Sprintf("%s is not an index file of this version", s.indexFile()), nil
	}
	if f := d.uint(); f != indexFormat {
		return fmt.Sprintf("%s is an index file of format %d, this version reads format %d (which holds stream deletions and truncations)", s.indexFile(), f, indexFormat), nil
	}
	saved := logIdentity{cluster: d.str()}
	copy(saved.topicID[:], d.raw(16))
	topic := d.str()
	saved.parts = int(d.uint())
	if d.err != nil {
		return fmt.Sprintf("%s is damaged: %v", s.indexFile(), d.err), nil
	}
	if topic != s.topic {
		return fmt.Sprintf("%s is the index of topic %q", s.indexFile(), topic), nil
	}
	now, err := s.identity(ctx)
	if err != nil {
		return "", fmt.Errorf("kafka: check the saved stream index: ask for the topic's identity: %w", err)
	}
	if why := saved.mismatch(now, s.topic); why != "" {
		return why, nil
	}
	// The partitions' sections decode in parallel.
	sections := make([]*decoder, saved.parts)
	for p := range sections {
		n := d.uint()
		if n > uint64(len(d.b)) {
			d.fail("section length")
		}
		sections[p] = &decoder{b: d.raw(int(n))}
	}
	if d.err != nil || len(d.b) != 0 {
		return fmt.Sprintf("%s is damaged: %v", s.indexFile(), d.errOr("trailing bytes")), nil
	}
	loaded := make([]*partIndex, saved.parts)
	var wg sync.WaitGroup
	for p := range loaded {
		loaded[p] = newPartIndex()
		wg.Go(func() { loaded[p].decode(sections[p], s.topic, int32(p), s.opts.idWindow) })
	}
	wg.Wait()
	for _, sd := range sections {
		if sd.err != nil || len(sd.b) != 0 {
			return fmt.Sprintf("%s is damaged: %v", s.indexFile(), sd.errOr("trailing bytes")), nil
		}
	}
	nexts := make([]int64, len(loaded))
	for p, ix := range loaded {
		nexts[p] = ix.nextOffset()
	}
	if why, err := s.checkOffsets(ctx, nexts); why != "" || err != nil {
		return why, err
	}
	s.idx = make([]streamIndex, len(loaded))
	for p, ix := range loaded {
		s.idx[p] = ix
	}
	return "", nil
}

// mismatch says why a saved index of identity saved does not describe
// the log of identity now (empty when it does).
func (saved logIdentity) mismatch(now logIdentity, topic string) string {
	switch {
	case saved.cluster != now.cluster:
		return fmt.Sprintf("it was saved on cluster %q, this is cluster %q", saved.cluster, now.cluster)
	case saved.topicID != now.topicID && saved.topicID != [16]byte{} && now.topicID != [16]byte{}:
		return fmt.Sprintf("topic %s was deleted and re-created since (its topic ID changed)", topic)
	case saved.parts != now.parts:
		return fmt.Sprintf("topic %s has %d partitions, the saved index %d", topic, now.parts, saved.parts)
	}
	return ""
}

// checkOffsets checks that every partition's log still holds what a saved
// index covers (nexts, per partition): its log start at or below the
// saved offset (nothing the catch-up needs was deleted), its high
// watermark at or above it (no truncation, as after an unclean leader
// election). It returns why not.
func (s *Store) checkOffsets(ctx context.Context, nexts []int64) (why string, err error) {
	parts := make([]int32, len(nexts))
	for p := range parts {
		parts[p] = int32(p)
	}
	start, err := retry(ctx, func() (map[int32]int64, error) {
		return s.f.listOffsets(ctx, parts, sarama.OffsetOldest, sarama.ReadUncommitted)
	})
	if err != nil {
		return "", fmt.Errorf("kafka: check the saved stream index: %w", err)
	}
	hw, err := retry(ctx, func() (map[int32]int64, error) {
		return s.f.listOffsets(ctx, parts, sarama.OffsetNewest, sarama.ReadUncommitted)
	})
	if err != nil {
		return "", fmt.Errorf("kafka: check the saved stream index: %w", err)
	}
	for _, p := range parts {
		next := nexts[p]
		if start[p] > next {
			return fmt.Sprintf("partition %d starts at offset %d, past the saved index's %d (records were deleted)", p, start[p], next), nil
		}
		if hw[p] < next {
			return fmt.Sprintf("partition %d ends at offset %d, below the saved index's %d (the log was truncated, as after an unclean leader election)", p, hw[p], next), nil
		}
	}
	return "", nil
}

type encoder struct{ b []byte }

func (e *encoder) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) raw(b []byte)  { e.b = append(e.b, b...) }
func (e *encoder) str(s string) {
	e.uint(uint64(len(s)))
	e.b = append(e.b, s...)
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("bad %s", what)
	}
	d.b = nil
}

func (d *decoder) errOr(what string) error {
	if d.err != nil {
		return d.err
	}
	return errors.New(what)
}

func (d *decoder) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) raw(n int) []byte {
	if len(d.b) < n {
		d.fail("length")
		return make([]byte, n)
	}
	b := d.b[:n]
	d.b = d.b[n:]
	return b
}

func (d *decoder) str() string {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail("string")
		return ""
	}
	return string(d.raw(int(n)))
}

// logRebuild logs why a saved index was not used.
func (s *Store) logRebuild(why string) {
	file := s.indexFile()
	if s.opts.diskIndex {
		file = s.diskDir()
	}
	s.opts.logger.Warn("kafka: not using the saved stream index; building it from the topic",
		slog.String("topic", s.topic), slog.String("file", file), slog.String("reason", why))
}
