package kafkatest

import (
	"time"

	"github.com/IBM/sarama"
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
