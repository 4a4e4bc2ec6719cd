// Package kafkaauth turns Kafka's authorization and authentication errors
// into errors that say which operation on which resource was denied and
// the kafka-acls.sh command that allows it. The Kafka event store, the
// snapshot store and the projection source share it; they never retry
// such errors, as a missing ACL or a wrong password does not heal by
// itself.
package kafkaauth

import (
	"errors"
	"fmt"
	"strings"

	"github.com/IBM/sarama"
)

// ErrNotAuthorized is matched by every [*Error] (errors.Is): the cluster's
// ACLs deny the client an operation.
var ErrNotAuthorized = errors.New("not authorized by the Kafka cluster's ACLs")

// ErrNotAuthenticated is matched by the errors for a failed SASL
// authentication (wrong user or password, a mechanism the listener does not
// enable).
var ErrNotAuthenticated = errors.New("not authenticated by the Kafka cluster")

// Resource types as kafka-acls.sh names them.
const (
	Topic           = "topic"
	Group           = "group"
	TransactionalID = "transactional-id"
	Cluster         = "cluster"
)

// Error is a request denied by the cluster's ACLs. It matches
// [ErrNotAuthorized] and, through Unwrap, the broker's error code (for
// example errors.Is(err, sarama.ErrTopicAuthorizationFailed)).
type Error struct {
	// What is what the client was doing, with the package's prefix, e.g.
	// "kafka: append to stream order-1".
	What string
	// Operation is the denied ACL operation: Read, Write, Create,
	// Describe, DescribeConfigs, IdempotentWrite.
	Operation string
	// Resource is the resource type: topic, group, transactional-id or
	// cluster.
	Resource string
	// Name is the resource name; with Prefixed, the prefix an ACL should
	// cover (as for the transactional IDs of a store's producers).
	Name     string
	Prefixed bool
	// Principal is the client's principal when known ("User:<sasl user>"),
	// else empty.
	Principal string
	// Err is the broker's error.
	Err error
}

func (e *Error) Error() string {
	pattern := ""
	if e.Prefixed {
		pattern = " --resource-pattern-type prefixed"
	}
	principal := e.Principal
	if principal == "" {
		principal = "User:<principal>"
	}
	what := e.What
	if what == "" {
		what = "kafka"
	}
	what += ": "
	target := "--" + e.Resource + " '" + e.Name + "'"
	if e.Resource == Cluster {
		target = "--cluster"
	}
	kind := e.Resource
	if e.Prefixed {
		kind = "PREFIXED " + kind
	}
	return fmt.Sprintf("%snot authorized to %s %s %q (%v); allow it with: kafka-acls.sh --bootstrap-server <brokers> --command-config <admin.properties> "+
		"--add --allow-principal %s --operation %s %s%s",
		what, e.Operation, kind, e.Name, e.Err, principal, e.Operation, target, pattern)
}

// Is reports whether target is [ErrNotAuthorized].
func (e *Error) Is(target error) bool { return target == ErrNotAuthorized }

// Unwrap returns the broker's error.
func (e *Error) Unwrap() error { return e.Err }

// IsAuthorization reports whether err is a Kafka authorization error code.
func IsAuthorization(err error) bool {
	return errors.Is(err, sarama.ErrTopicAuthorizationFailed) || errors.Is(err, sarama.ErrGroupAuthorizationFailed) ||
		errors.Is(err, sarama.ErrClusterAuthorizationFailed) || errors.Is(err, sarama.ErrTransactionalIDAuthorizationFailed) ||
		errors.Is(err, sarama.ErrDelegationTokenAuthorizationFailed) || errors.Is(err, ErrNotAuthorized)
}

// IsAuthentication reports whether err is a failed SASL authentication.
func IsAuthentication(err error) bool {
	return errors.Is(err, sarama.ErrSASLAuthenticationFailed) || errors.Is(err, sarama.ErrUnsupportedSASLMechanism) ||
		errors.Is(err, sarama.ErrIllegalSASLState) || errors.Is(err, ErrNotAuthenticated) ||
		strings.Contains(errString(err), "SASL authentication failed") || strings.Contains(errString(err), "Unsupported SASL mechanism")
}

// Fatal reports whether err is an authorization or authentication error,
// which retrying does not heal.
func Fatal(err error) bool { return err != nil && (IsAuthorization(err) || IsAuthentication(err)) }

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Principal returns "User:<name>" for a SASL PLAIN or SCRAM configuration,
// else "".
func Principal(cfg *sarama.Config) string {
	if cfg != nil && cfg.Net.SASL.Enable && cfg.Net.SASL.User != "" {
		return "User:" + cfg.Net.SASL.User
	}
	return ""
}

// Wrap returns err unchanged unless it is an authorization error code,
// which it turns into an [*Error] for the operation on the resource; an
// authentication error is wrapped to match [ErrNotAuthenticated] with a
// hint. The caller says which operation on which resource its request
// needed (the broker's code does not say).
func Wrap(err error, cfg *sarama.Config, what, op, resource, name string, prefixed bool) error {
	if err == nil {
		return nil
	}
	var ae *Error
	if errors.As(err, &ae) {
		return err
	}
	if IsAuthentication(err) && !errors.Is(err, ErrNotAuthenticated) {
		user := ""
		if cfg != nil && cfg.Net.SASL.Enable {
			user = fmt.Sprintf(" as %q with %s", cfg.Net.SASL.User, cfg.Net.SASL.Mechanism)
		}
		return fmt.Errorf("%s: %w: %w (check the SASL user, password and mechanism%s: the listener must enable that mechanism and know the user, e.g. kafka-configs.sh --alter --add-config 'SCRAM-SHA-512=[password=...]' --entity-type users --entity-name <user>)",
			what, ErrNotAuthenticated, err, user)
	}
	if !IsAuthorization(err) {
		return err
	}
	return &Error{What: what, Operation: op, Resource: resource, Name: name, Prefixed: prefixed, Principal: Principal(cfg), Err: err}
}
