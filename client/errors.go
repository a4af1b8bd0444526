package client

import (
	"errors"
	"fmt"

	"mk/coord"
)

// The errors of this package. Retriable ones (a leader being elected, a
// replica not yet created) are retried by the producer until its timeout.
var (
	// ErrNoLeader: the partition has no live leader (retriable: the
	// controller elects one when an in-sync replica comes back).
	ErrNoLeader = errors.New("no live leader")
	// ErrLeaderNotReady: the leader's broker has not yet created or taken
	// over its replica (retriable).
	ErrLeaderNotReady = errors.New("leader not ready")
	// ErrNotEnoughReplicas: fewer in-sync replicas than
	// min.insync.replicas, with acks=all (retriable).
	ErrNotEnoughReplicas = errors.New("not enough in-sync replicas")
	// ErrNotAcknowledged: records were appended but not committed in time.
	ErrNotAcknowledged = errors.New("records not acknowledged")
	// ErrPartitionRange: a partition number the topic does not have.
	ErrPartitionRange = errors.New("partition out of range")
)

// clientError reads as its message alone while errors.Is still finds its
// sentinel: for messages that already say what the sentinel would
// ("partition t-0 has no live leader: broker 2 is down").
type clientError struct {
	msg      string
	sentinel error
}

func (e *clientError) Error() string { return e.msg }
func (e *clientError) Unwrap() error { return e.sentinel }

func newError(sentinel error, format string, args ...any) error {
	return &clientError{fmt.Sprintf(format, args...), sentinel}
}

// PartitionRangeError is ErrPartitionRange for partition p of a topic with
// n partitions.
func PartitionRangeError(topic string, p, n int) error {
	return fmt.Errorf("%w: partition %d of topic %s, which has %d partitions", ErrPartitionRange, p, topic, n)
}

// ErrTopicDeleted: the topic a producer or consumer was using was deleted
// (perhaps created again: a new topic of the same name is another topic,
// with another id). It is also coord.ErrUnknownTopic.
var ErrTopicDeleted = fmt.Errorf("topic deleted: %w", coord.ErrUnknownTopic)
