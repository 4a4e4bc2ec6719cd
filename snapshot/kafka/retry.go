package kafka

import (
	"context"
	"errors"
	"io"
	"net"
	"time"

	"github.com/IBM/sarama"
)

// retryAttempts bounds how often an operation that met a transient error
// (no leader yet, stale metadata, a dropped connection) is tried; with the
// backoff below that is about 4 seconds in all.
const retryAttempts = 10

// retry runs f until it succeeds, fails with an error that is not
// transient, runs out of attempts, or ctx is done. It refreshes the
// topic's metadata between attempts.
func (s *Store) retry(ctx context.Context, f func() error) error {
	backoff := 20 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || !transient(err) || attempt >= retryAttempts {
			return err
		}
		_ = s.client.RefreshMetadata(s.topic)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}

// transient reports whether err may go away by itself: leadership moving
// or not yet elected, stale metadata, a broken connection.
func transient(err error) bool {
	var ke sarama.KError
	if errors.As(err, &ke) {
		switch ke {
		case sarama.ErrNotLeaderForPartition, sarama.ErrLeaderNotAvailable, sarama.ErrUnknownTopicOrPartition,
			sarama.ErrFencedLeaderEpoch, sarama.ErrUnknownLeaderEpoch, sarama.ErrOffsetNotAvailable,
			sarama.ErrNotEnoughReplicas, sarama.ErrRequestTimedOut, sarama.ErrNetworkException,
			sarama.ErrKafkaStorageError, sarama.ErrReplicaNotAvailable:
			return true
		}
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, sarama.ErrNotConnected) || errors.Is(err, sarama.ErrLeaderNotAvailable)
}
