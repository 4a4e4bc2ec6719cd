package wire

import (
	"fmt"
	"strconv"
	"strings"
)

// A process position record says how far a process manager (a consumer
// group) has committed on one partition of the topic it consumes. The
// store writes one in the transaction that commits the manager's
// decisions and its consumer-group offset, to the manager's positions
// topic, so that the position survives when Kafka loses the transactional
// offset commit (see docs/faults.md):
//
//   - key: [PositionKey]: group, NUL, consumed topic, NUL, partition in
//     decimal ASCII;
//   - value: the offset of the next record to consume, decimal ASCII;
//   - partition: the consumed partition modulo the positions topic's
//     partition count ([PositionPartition]);
//   - no headers.
//
// A reader takes, per key, the value of the last committed record.

// PositionKey returns the key of the position records of group on
// partition of topic.
func PositionKey(group, topic string, partition int32) []byte {
	return []byte(group + "\x00" + topic + "\x00" + strconv.FormatInt(int64(partition), 10))
}

// PositionPartition returns the partition of the positions topic (of n
// partitions) that holds the position records of the consumed partition.
func PositionPartition(partition, n int32) int32 {
	if n <= 0 {
		return 0
	}
	return partition % n
}

// PositionValue returns the value of a position record.
func PositionValue(next int64) []byte { return strconv.AppendInt(nil, next, 10) }

// ParsePosition parses the key and value of a position record. It never
// panics on bad bytes; a record that is not a position record is an error
// that says what was wrong.
func ParsePosition(key, value []byte) (group, topic string, partition int32, next int64, err error) {
	parts := strings.Split(string(key), "\x00")
	if len(parts) != 3 {
		return "", "", 0, 0, fmt.Errorf("wire: not a position record: the key has %d NUL-separated parts, want 3 (group, topic, partition)", len(parts))
	}
	p, err := strconv.ParseInt(parts[2], 10, 32)
	if err != nil || p < 0 {
		return "", "", 0, 0, fmt.Errorf("wire: not a position record: partition %q in the key is not a partition number", parts[2])
	}
	n, err := strconv.ParseInt(string(value), 10, 64)
	if err != nil || n < 0 {
		return "", "", 0, 0, fmt.Errorf("wire: position record of %s/%s for group %q: the value %q is not an offset", parts[1], parts[2], parts[0], value)
	}
	return parts[0], parts[1], int32(p), n, nil
}
