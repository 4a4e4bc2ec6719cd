package kafka

import (
	"fmt"

	"github.com/IBM/sarama"
)

// DefaultCompression is the codec of the store's producers when neither
// [WithCompression] nor the sarama configuration chooses one: lz4.
//
// Measured on event-like JSON payloads (BenchmarkCompression, see
// BENCHMARKS.md): every codec shrinks the log several times compared to
// none; zstd writes the fewest bytes but costs the most CPU per append; lz4
// gives most of the saving at the lowest cost, which is what an append
// path with group commit wants. Kafka keeps the batch compressed on disk
// and hands it compressed to consumers, so the saving applies to disk,
// replication and every reader.
const DefaultCompression = sarama.CompressionLZ4

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
// needs Kafka 2.1 or later (the store speaks at least 2.5).
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
