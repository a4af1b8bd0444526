package server

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"mk/coord"
	"mk/logdir"
	"mk/replica"
)

// errorCode maps an error of mk's packages to the Kafka error code a Kafka
// broker gives for the same condition. Unknown errors are
// UNKNOWN_SERVER_ERROR, as Kafka answers an unexpected exception.
func errorCode(err error) int16 {
	var we *wireError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &we):
		return we.code
	case errors.Is(err, replica.ErrUnknownTopicOrPartition), errors.Is(err, coord.ErrUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, replica.ErrNotLeader), errors.Is(err, logdir.ErrNotLeader), errors.Is(err, logdir.ErrFenced):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, replica.ErrReplicaNotAvailable):
		// Kafka 2.x+ answers NOT_LEADER_OR_FOLLOWER where it once said
		// REPLICA_NOT_AVAILABLE to produce and fetch.
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, replica.ErrFencedLeaderEpoch):
		return kerr.FencedLeaderEpoch.Code
	case errors.Is(err, replica.ErrUnknownLeaderEpoch):
		return kerr.UnknownLeaderEpoch.Code
	case errors.Is(err, logdir.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, logdir.ErrRecordTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, logdir.ErrCorrupt):
		return kerr.CorruptMessage.Code
	case errors.Is(err, logdir.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, logdir.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, logdir.ErrInvalidTxnState):
		return kerr.InvalidTxnState.Code
	case errors.Is(err, coord.ErrInvalidTopic), errors.Is(err, coord.ErrTopicNameCollision):
		// Kafka's controller answers a '.'/'_' collision as an invalid
		// name, not as an existing topic.
		return kerr.InvalidTopicException.Code
	case errors.Is(err, coord.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, coord.ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, coord.ErrInvalidReplicationFactor):
		return kerr.InvalidReplicationFactor.Code
	case errors.Is(err, coord.ErrInvalidConfig):
		return kerr.InvalidConfig.Code
	case errors.Is(err, coord.ErrInvalidReplicaAssignment):
		return kerr.InvalidReplicaAssignment.Code
	case errors.Is(err, coord.ErrMetadataLocked):
		// A metadata writer stopped mid-write: the request could not be
		// done in time, and may be retried.
		return kerr.RequestTimedOut.Code
	case errors.Is(err, coord.ErrNoBroker):
		return kerr.BrokerNotAvailable.Code
	}
	return kerr.UnknownServerError.Code
}

// wireError is an error that the protocol defines rather than mk's
// packages (a malformed assignment, a name given twice): it carries its
// Kafka error code, and its message is what the client is told.
type wireError struct {
	code int16
	msg  string
}

func (e *wireError) Error() string { return e.msg }

func wireErrorf(code int16, format string, args ...any) error {
	return &wireError{code: code, msg: fmt.Sprintf(format, args...)}
}
