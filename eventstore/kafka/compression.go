package kafka

import (
	"fmt"

	"github.com/IBM/sarama"
)

// DefaultCompression is the codec of the store's producers when neither
// [WithCompression] nor the sarama configuration chooses one: zstd.
//
// Measured with BenchmarkCompression on event-like JSON (about 210-byte
// payloads; see BENCHMARKS.md): with concurrent appends batched by group
// commit, zstd stores 170 bytes per event against 387 uncompressed (gzip
// 174, snappy 224, lz4 225); with one event per transaction it saved 13%
// (422 against 488; snappy and lz4 save nothing there, as the commit
// markers and record overhead dominate), which no longer pays for what it
// costs every reader: batches under compressMinBytes (1 KiB of keys,
// values and headers; a lone event of a few hundred bytes) are written
// uncompressed whatever the codec. The append cost of every codec was
// within the noise of the transaction round trips, which dominate an
// append. Events are kept forever, so the smaller log pays off on disk, in
// replication and for every reader. Consumers decompress by themselves;
// zstd needs Kafka 2.1 or later on brokers and clients (Java, librdkafka and
// franz-go have it; kafka-python needs its optional zstandard package), so
// pass WithCompression(sarama.CompressionLZ4) or CompressionGZIP when an
// older reader must consume the topic.
const DefaultCompression = sarama.CompressionZSTD

// compressMinBytes is the size below which the store writes a record batch
// uncompressed whatever the codec: the keys, values and headers of its
// records. A batch this small is usually one event (a command's append
// when appends do not overlap), which zstd shrinks by a sixth at most
// (event IDs, times and versions do not repeat within it), while every
// reader pays for its frame forever: a compressed frame carries its own
// entropy tables, so decoding a one-event batch costs about as much as
// decoding a batch of hundreds of bytes more. Measured with
// BenchmarkCompression and BenchmarkLoadLongStream (BENCHMARKS.md, "Small
// batches uncompressed"). Kafka stores each batch as its producer wrote
// it (the topic's compression.type=producer, the default), and every
// reader handles batches of mixed codecs.
var compressMinBytes = 1024

// batchBytes is the size of the keys, values and headers of ms, the
// records of one batch (their encoding adds a few bytes each).
func batchBytes(ms []*sarama.ProducerMessage) int {
	n := 0
	for _, m := range ms {
		if m.Key != nil {
			n += m.Key.Length()
		}
		if m.Value != nil {
			n += m.Value.Length()
		}
		for _, h := range m.Headers {
			n += len(h.Key) + len(h.Value)
		}
		if n >= compressMinBytes {
			break
		}
	}
	return n
}

// compression is the WithCompression setting.
type compression struct {
	set   bool
	codec sarama.CompressionCodec
	level int
}

// WithCompression sets the compression codec of the store's producers:
// sarama.CompressionNone, CompressionGZIP, CompressionSnappy,
// CompressionLZ4 or CompressionZSTD, at the codec's default level. Without
// it the store uses the codec of the sarama configuration it was given, or
// [DefaultCompression] when that is CompressionNone (sarama's default); pass
// WithCompression(sarama.CompressionNone) to write uncompressed. Readers of
// the topic need no setting: Kafka clients decompress by themselves. zstd
// needs Kafka 2.1 or later (the store speaks at least 2.5). Batches under
// 1 KiB of keys, values and headers (usually one event) are written
// uncompressed with any codec: compressing them saves a sixth at most and
// costs every reader a frame's decoding per batch.
func WithCompression(codec sarama.CompressionCodec) Option {
	return func(o *options) {
		o.compression = compression{set: true, codec: codec, level: sarama.CompressionLevelDefault}
	}
}

// apply sets the producer compression in cfg (the store's own copy of the
// user's configuration).
func (c compression) apply(cfg *sarama.Config) error {
	switch {
	case c.set:
		cfg.Producer.Compression, cfg.Producer.CompressionLevel = c.codec, c.level
	case cfg.Producer.Compression == sarama.CompressionNone:
		cfg.Producer.Compression, cfg.Producer.CompressionLevel = DefaultCompression, sarama.CompressionLevelDefault
	}
	switch cfg.Producer.Compression {
	case sarama.CompressionNone, sarama.CompressionGZIP, sarama.CompressionSnappy, sarama.CompressionLZ4, sarama.CompressionZSTD:
		return nil
	}
	return fmt.Errorf("kafka: unknown compression codec %v; use sarama.CompressionNone, CompressionGZIP, CompressionSnappy, CompressionLZ4 or CompressionZSTD", cfg.Producer.Compression)
}
