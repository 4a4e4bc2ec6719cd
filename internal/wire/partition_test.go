package wire

import (
	"testing"

	"github.com/IBM/sarama"
)

// javaVectors were produced by the Java client itself (kafka-clients 4.4.0):
// Utils.murmur2(key) and BuiltInPartitioner.partitionForKey(key, n) for
// n = 1, 3, 6, 12, 50, 1000, with keys as UTF-8 bytes.
var javaPartitionCounts = []int32{1, 3, 6, 12, 50, 1000}

var javaVectors = []struct {
	key        string
	murmur2    int32
	partitions []int32
}{
	{"", 275646681, []int32{0, 0, 3, 9, 31, 681}},
	{"a", -1563381124, []int32{0, 1, 4, 4, 24, 524}},
	{"ab", 316155434, []int32{0, 2, 2, 2, 34, 434}},
	{"abc", 479470107, []int32{0, 0, 3, 3, 7, 107}},
	{"abcd", -1323649548, []int32{0, 2, 2, 8, 0, 100}},
	{"21", -973932308, []int32{0, 0, 0, 0, 40, 340}},
	{"foobar", -790332482, []int32{0, 0, 0, 6, 16, 166}},
	{"account-42", 201584324, []int32{0, 2, 2, 8, 24, 324}},
	{"order-1", 1221710326, []int32{0, 1, 4, 10, 26, 326}},
	{"order-2", -1055499005, []int32{0, 0, 3, 3, 43, 643}},
	{"stream-0001", 291866518, []int32{0, 1, 4, 10, 18, 518}},
	{"bank.Account/7d444840-9dc0-11d1-b245-5ffdce74fad2", -514599340, []int32{0, 1, 4, 4, 8, 308}},
	{"6ba7b810-9dad-11d1-80b4-00c04fd430c8", -610484791, []int32{0, 1, 1, 1, 7, 857}},
	{"Zürich-Konto-ä", 341467442, []int32{0, 2, 2, 2, 42, 442}},
	{"日本語のストリーム", -1346213022, []int32{0, 2, 2, 2, 26, 626}},
	{"emoji-🙂", -1994871340, []int32{0, 1, 4, 4, 8, 308}},
	{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971, []int32{0, 2, 5, 5, 27, 677}},
}

func TestMurmur2JavaUtilsTestVectors(t *testing.T) {
	// The cases of apache/kafka clients UtilsTest.testMurmur2.
	cases := []struct {
		key  []byte
		want int32
	}{
		{[]byte("21"), -973932308},
		{[]byte("foobar"), -790332482},
		{[]byte("a-little-bit-long-string"), -985981536},
		{[]byte("a-little-bit-longer-string"), -1486304829},
		{[]byte("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971},
		{[]byte{'a', 'b', 'c'}, 479470107},
	}
	for _, c := range cases {
		if got := Murmur2(c.key); got != c.want {
			t.Errorf("Murmur2(%q) = %d, want %d", c.key, got, c.want)
		}
	}
}

func TestMurmur2KafkaJSJavaVectors(t *testing.T) {
	// Values kafkajs generated with the Java murmur2 (defaultJava partitioner spec).
	cases := map[string]int32{
		"0": 971027396, "1": -1993445489, "128": -326012175, "2187": -1508407203,
		"16384": -325739742, "78125": -1654490814, "279936": 1462227128, "823543": -2014198330,
		"2097152": 607668903, "4782969": -1182699775, "10000000": -1830336757, "19487171": -1603849305,
		"35831808": -857013643, "62748517": -1167431028, "105413504": -381294639, "170859375": -1658323481,
		"100:48069": 1009543857,
	}
	for k, want := range cases {
		if got := Murmur2([]byte(k)); got != want {
			t.Errorf("Murmur2(%q) = %d, want %d", k, got, want)
		}
	}
}

func TestPartitionMatchesJavaClient(t *testing.T) {
	for _, v := range javaVectors {
		if got := Murmur2([]byte(v.key)); got != v.murmur2 {
			t.Errorf("Murmur2(%q) = %d, want %d", v.key, got, v.murmur2)
		}
		for i, n := range javaPartitionCounts {
			want := v.partitions[i]
			if got := Partition([]byte(v.key), n); got != want {
				t.Errorf("Partition(%q, %d) = %d, Java client says %d", v.key, n, got, want)
			}
			if got := PartitionString(v.key, n); got != want {
				t.Errorf("PartitionString(%q, %d) = %d, Java client says %d", v.key, n, got, want)
			}
		}
	}
	// kafka-python's Java compatibility cases (1000 partitions).
	for k, want := range map[string]int32{"": 681, "a": 524, "ab": 434, "abc": 107, "123456789": 566, "\x00 ": 742} {
		if got := Partition([]byte(k), 1000); got != want {
			t.Errorf("Partition(%q, 1000) = %d, want %d", k, got, want)
		}
	}
}

func TestPartitionInvalidCount(t *testing.T) {
	if got := Partition([]byte("a"), 0); got != -1 {
		t.Errorf("Partition with 0 partitions = %d, want -1", got)
	}
	if got := PartitionString("a", -3); got != -1 {
		t.Errorf("PartitionString with -3 partitions = %d, want -1", got)
	}
}

type rawEncoder []byte

func (r rawEncoder) Encode() ([]byte, error) { return r, nil }
func (r rawEncoder) Length() int             { return len(r) }

func TestNewPartitioner(t *testing.T) {
	p := NewPartitioner("events")
	if !p.RequiresConsistency() {
		t.Fatal("RequiresConsistency() = false, want true")
	}
	dp, ok := p.(sarama.DynamicConsistencyPartitioner)
	if !ok {
		t.Fatal("partitioner does not implement sarama.DynamicConsistencyPartitioner")
	}
	for _, v := range javaVectors {
		for i, n := range javaPartitionCounts {
			want := v.partitions[i]
			for _, key := range []sarama.Encoder{sarama.StringEncoder(v.key), sarama.ByteEncoder(v.key), rawEncoder(v.key)} {
				msg := &sarama.ProducerMessage{Topic: "events", Key: key}
				got, err := p.Partition(msg, n)
				if err != nil || got != want {
					t.Errorf("Partition(%T %q, %d) = %d, %v; want %d", key, v.key, n, got, err, want)
				}
				if !dp.MessageRequiresConsistency(msg) {
					t.Errorf("keyed message does not require consistency")
				}
			}
		}
	}
	msg := &sarama.ProducerMessage{Topic: "events"}
	if dp.MessageRequiresConsistency(msg) {
		t.Error("key-less message requires consistency")
	}
	for range 100 {
		got, err := p.Partition(msg, 7)
		if err != nil || got < 0 || got >= 7 {
			t.Fatalf("key-less Partition = %d, %v; want 0..6", got, err)
		}
	}
	if _, err := p.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder("k")}, 0); err == nil {
		t.Error("Partition with 0 partitions: no error")
	}
}

func BenchmarkPartition(b *testing.B) {
	key := []byte("bank.Account/7d444840-9dc0-11d1-b245-5ffdce74fad2")
	b.SetBytes(int64(len(key)))
	b.ReportAllocs()
	for b.Loop() {
		Partition(key, 12)
	}
}
