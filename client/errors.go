package client

import "errors"

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
