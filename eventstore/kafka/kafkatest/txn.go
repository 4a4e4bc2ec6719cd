package kafkatest

import (
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TransactionalConfig returns [Cluster.Config] set up for a transactional
// producer with the given transactional ID: idempotence on, acks=all, one
// open request per connection (sarama requires it for idempotence), a 10s
// transaction timeout and Producer.Return.Successes on (so it also works for
// a sync producer).
func (c *Cluster) TransactionalConfig(transactionalID string) *sarama.Config {
	cfg := c.Config()
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Retry.Max = 10
	cfg.Producer.Retry.Backoff = 50 * time.Millisecond
	cfg.Producer.Transaction.ID = transactionalID
	cfg.Producer.Transaction.Timeout = 10 * time.Second
	cfg.Net.MaxOpenRequests = 1
	return cfg
}

// TxnOffsetCommitAnswer returns an answer to req with code (0: success)
// for every partition, for tests that intercept TxnOffsetCommit on the
// embedded Kafka ([Cluster.Fake]) and answer it without applying it, as a
// broker that loses a transaction's offsets does.
func TxnOffsetCommitAnswer(req *kmsg.TxnOffsetCommitRequest, code int16) *kmsg.TxnOffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
