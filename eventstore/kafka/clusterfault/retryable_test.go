package clusterfault_test

import "github.com/kafkaes/kafkaes/eventstore"

// retryableErrors are the typed errors of the store that say "nothing was
// written (or read), try again later".
var retryableErrors = []error{eventstore.ErrUnavailable}
