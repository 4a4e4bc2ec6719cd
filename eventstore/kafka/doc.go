// Package kafka is an [eventstore.Store] on an Apache Kafka topic, written
// on github.com/IBM/sarama, with real optimistic concurrency across any
// number of store instances.
package kafka
