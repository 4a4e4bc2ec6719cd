package wire

import (
	"math/rand/v2"

	"github.com/IBM/sarama"
)

// murmur2 is the 32-bit MurmurHash2 variant of the Java client
// (org.apache.kafka.common.utils.Utils.murmur2): seed 0x9747b28c, little
// endian 4-byte blocks. It is generic so that string keys hash without a
// copy.
func murmur2[T string | []byte](data T) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	n := len(data)
	h := seed ^ uint32(n)
	i := 0
	for ; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch n - i {
	case 3:
		h ^= uint32(data[i+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[i+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[i])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// Murmur2 returns the Java client's murmur2 hash of key as the Java int it
// would compute (org.apache.kafka.common.utils.Utils.murmur2).
func Murmur2(key []byte) int32 { return int32(murmur2(key)) }

// Partition returns the partition the Java client's default partitioner
// assigns to a record with this key in a topic of numPartitions partitions:
// (murmur2(key) & 0x7fffffff) % numPartitions. It returns -1 when
// numPartitions is not positive.
func Partition(key []byte, numPartitions int32) int32 {
	return partitionOf(key, numPartitions)
}

// PartitionString is [Partition] for a key given as a string (a stream ID),
// without converting it to bytes.
func PartitionString(key string, numPartitions int32) int32 {
	return partitionOf(key, numPartitions)
}

func partitionOf[T string | []byte](key T, numPartitions int32) int32 {
	if numPartitions <= 0 {
		return -1
	}
	return int32((murmur2(key) & 0x7fffffff) % uint32(numPartitions))
}

// NewPartitioner is a [sarama.PartitionerConstructor] that places keyed
// messages like the Java client's default partitioner does (see
// [Partition]). Use it as Config.Producer.Partitioner for every producer
// that writes to kafkaes topics, so a stream's events all land on the
// partition other Kafka clients expect. Messages without a key go to a
// random partition (the Java client would use its sticky partitioner;
// kafkaes never writes key-less records).
func NewPartitioner(topic string) sarama.Partitioner {
	return javaPartitioner{}
}

type javaPartitioner struct{}

// Partition implements sarama.Partitioner.
func (javaPartitioner) Partition(msg *sarama.ProducerMessage, numPartitions int32) (int32, error) {
	if numPartitions <= 0 {
		return -1, sarama.ErrInvalidPartition
	}
	switch k := msg.Key.(type) {
	case nil:
		return rand.Int32N(numPartitions), nil
	case sarama.StringEncoder:
		return partitionOf(string(k), numPartitions), nil
	case sarama.ByteEncoder:
		return partitionOf([]byte(k), numPartitions), nil
	default:
		b, err := k.Encode()
		if err != nil {
			return -1, err
		}
		if b == nil {
			return rand.Int32N(numPartitions), nil
		}
		return partitionOf(b, numPartitions), nil
	}
}

// RequiresConsistency implements sarama.Partitioner: a key always maps to
// the same partition, available or not.
func (javaPartitioner) RequiresConsistency() bool { return true }

// MessageRequiresConsistency implements sarama.DynamicConsistencyPartitioner:
// only keyed messages need their exact partition.
func (javaPartitioner) MessageRequiresConsistency(msg *sarama.ProducerMessage) bool {
	return msg.Key != nil
}
