package kafka

import (
	"context"

	"github.com/kafkaes/kafkaes/internal/kafkafetch"
)

// retry runs f until it succeeds, fails with an error that is not
// transient (no leader yet, stale metadata, a dropped connection), runs out
// of attempts (about 4 seconds in all), or ctx is done; see
// kafkafetch.Retry.
func (s *Store) retry(ctx context.Context, f func() error) error {
	return kafkafetch.Retry(ctx, s.client, s.topic, f)
}
