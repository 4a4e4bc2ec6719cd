package kafkatest_test

import (
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"testing"
)

func TestSmoke(t *testing.T) {
	c := kafkatest.New(t)
	name := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, name, 3, kafkatest.EventsTopicConfig())
	cl := c.Client(t)
	ps, err := cl.Partitions(name)
	if err != nil || len(ps) != 3 {
		t.Fatal(err, ps)
	}
}
