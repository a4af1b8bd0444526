package cluster

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"mk/client"
	"mk/coord"
)

// A Kafka cluster's error codes as mk's errors, so that a command gives
// a remote failure the exit code it gives the same local one: not found
// 4, unavailable 5, a value the cluster refuses 2.

// kafkaError reads as its message while errors.Is finds both the mk
// sentinel and the Kafka error.
type kafkaError struct {
	msg      string
	sentinel error
	cause    error
}

func (e *kafkaError) Error() string   { return e.msg }
func (e *kafkaError) Unwrap() []error { return []error{e.sentinel, e.cause} }

func newKafkaError(sentinel, cause error, format string, args ...any) error {
	return &kafkaError{msg: fmt.Sprintf(format, args...), sentinel: sentinel, cause: cause}
}

// sentinelFor is the mk error a Kafka error code means, or nil.
func sentinelFor(err error) error {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return nil
	}
	switch ke {
	case kerr.UnknownTopicOrPartition, kerr.UnknownTopicID:
		return coord.ErrUnknownTopic
	case kerr.TopicAlreadyExists:
		return coord.ErrTopicExists
	case kerr.InvalidTopicException:
		return coord.ErrInvalidTopic
	case kerr.InvalidPartitions:
		return coord.ErrInvalidPartitions
	case kerr.InvalidReplicationFactor, kerr.InvalidReplicaAssignment:
		return coord.ErrInvalidReplicationFactor
	case kerr.InvalidConfig, kerr.PolicyViolation:
		return coord.ErrInvalidConfig
	case kerr.GroupIDNotFound:
		return coord.ErrUnknownGroup
	case kerr.InvalidGroupID:
		return coord.ErrInvalidGroup
	case kerr.NonEmptyGroup, kerr.GroupSubscribedToTopic:
		return coord.ErrGroupActive
	case kerr.NotEnoughReplicas, kerr.NotEnoughReplicasAfterAppend:
		return client.ErrNotEnoughReplicas
	case kerr.LeaderNotAvailable, kerr.NotLeaderForPartition, kerr.FencedLeaderEpoch, kerr.UnknownLeaderEpoch,
		kerr.ReplicaNotAvailable, kerr.KafkaStorageError, kerr.OffsetNotAvailable:
		return client.ErrNoLeader
	case kerr.BrokerNotAvailable, kerr.CoordinatorNotAvailable, kerr.CoordinatorLoadInProgress, kerr.NotCoordinator,
		kerr.NotController, kerr.RequestTimedOut, kerr.NetworkException, kerr.ThrottlingQuotaExceeded:
		return coord.ErrNoBroker
	}
	return nil
}

// kafkaErr maps an error from kgo or kadm to mk's, keeping its message
// (with the Kafka error's description made one lower-case phrase).
func kafkaErr(err error) error {
	var mapped *kafkaError
	if err == nil || errors.As(err, &mapped) {
		return err
	}
	// kadm's "request X has N separate shard errors, first: ..." is one
	// broker's failure, said with its address.
	var se *kadm.ShardErrors
	if errors.As(err, &se) && len(se.Errs) > 0 {
		first := se.Errs[0]
		addr := net.JoinHostPort(first.Broker.Host, strconv.Itoa(int(first.Broker.Port)))
		var fe *kgo.ErrFirstReadEOF
		if errors.As(first.Err, &fe) {
			return fmt.Errorf("broker %s closed the connection on a %s request: it does not serve it, or needs TLS or SASL", addr, se.Name)
		}
		inner := kafkaErr(first.Err)
		return &kafkaError{msg: fmt.Sprintf("broker %s: %s: %s", addr, se.Name, inner.Error()), sentinel: sentinelOr(inner), cause: first.Err}
	}
	if s := sentinelFor(err); s != nil {
		return newKafkaError(s, err, "%s", describeKafkaErr(err))
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return newKafkaError(ke, err, "%s", describeKafkaErr(err))
	}
	return err
}

// describeKafkaErr is a Kafka error as one phrase: Kafka's description
// and, when the broker sent one, its message.
func describeKafkaErr(err error) string {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return err.Error()
	}
	desc := strings.TrimSuffix(ke.Description, ".")
	desc = strings.ToLower(desc[:1]) + desc[1:]
	msg := err.Error()
	// kgo adds the broker's message as "CODE: Description: message".
	if i := strings.Index(msg, ke.Description); i >= 0 {
		if rest := strings.TrimPrefix(strings.TrimSpace(msg[i+len(ke.Description):]), ":"); strings.TrimSpace(rest) != "" {
			return fmt.Sprintf("%s (%s): %s", desc, ke.Message, strings.TrimSpace(rest))
		}
	}
	return fmt.Sprintf("%s (%s)", desc, ke.Message)
}

// sentinelOr is the mk sentinel a mapped error carries, else the error.
func sentinelOr(err error) error {
	var ke *kafkaError
	if errors.As(err, &ke) {
		return ke.sentinel
	}
	return err
}

// unsupported reports a failure of a request the broker does not serve
// (an older Kafka, an mk broker without that API): the figures it would
// give are unknown, not an error.
func unsupported(err error) bool {
	var fe *kgo.ErrFirstReadEOF
	return errors.As(err, &fe) || errors.Is(err, kerr.UnsupportedVersion) || strings.Contains(err.Error(), "request key is unknown") ||
		strings.Contains(err.Error(), "broker is too old")
}

// isConnErr reports errors that come from a connection, not from a
// broker's answer.
func isConnErr(err error) bool {
	var ne net.Error
	var fe *kgo.ErrFirstReadEOF
	return errors.As(err, &ne) || errors.As(err, &fe) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || isSASLErr(err) ||
		strings.Contains(err.Error(), "unable to dial")
}

func isSASLErr(err error) bool {
	return errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, kerr.UnsupportedSaslMechanism) ||
		errors.Is(err, kerr.IllegalSaslState)
}

// netCause is why a connection failed, in a few words.
func netCause(err error) string {
	var fe *kgo.ErrFirstReadEOF
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to host"
	case errors.As(err, &fe):
		return "the broker closed the connection at once (is it a TLS or SASL listener?)"
	case errors.Is(err, io.EOF):
		return "the broker closed the connection"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return strings.TrimPrefix(err.Error(), "unable to dial: ")
}

func tlsCause(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "tls: "); i >= 0 {
		return msg[i+len("tls: "):]
	}
	if i := strings.Index(msg, "x509: "); i >= 0 {
		return msg[i:]
	}
	return msg
}

func saslCause(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 && !strings.HasSuffix(ke.Description, msg[i+2:]) {
			return msg[i+2:]
		}
		return strings.ToLower(strings.TrimSuffix(ke.Description, "."))
	}
	return err.Error()
}

// isTransient reports a connection failure that says little about why:
// a reset or closed connection, as a retry after a refusal sees.
func isTransient(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
