package kafkafetch

import (
	"context"
	"errors"
	"io"
	"net"
	"time"

	"github.com/IBM/sarama"
)

// RetryAttempts bounds how often Retry tries an operation that meets
// transient errors; with its backoff (20 ms doubling up to 1 s) that is
// about 4 seconds in all.
const RetryAttempts = 10

// Retry runs f until it succeeds, fails with an error that is not
// Transient, has been tried RetryAttempts times, or ctx is done (then it
// returns f's last error joined with ctx's). Between attempts it refreshes
// topic's metadata, so that a moved leader is found.
func Retry(ctx context.Context, client sarama.Client, topic string, f func() error) error {
	backoff := 20 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || !Transient(err) || attempt >= RetryAttempts {
			return err
		}
		_ = client.RefreshMetadata(topic)
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

// Transient reports whether err may go away by itself: leadership moving
// or not yet elected, stale metadata (Retriable, and a replica not
// available), or a broken connection.
func Transient(err error) bool {
	if Retriable(err) || errors.Is(err, sarama.ErrReplicaNotAvailable) {
		return true
	}
	var ke sarama.KError
	if errors.As(err, &ke) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, sarama.ErrNotConnected)
}
