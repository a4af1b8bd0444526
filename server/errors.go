package server

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"mk/coord"
	"mk/logdir"
	"mk/replica"
)

// errorCode maps an error of mk's packages to the Kafka error code a Kafka
// broker gives for the same condition. Unknown errors are
// UNKNOWN_SERVER_ERROR, as Kafka answers an unexpected exception.
func errorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
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
	case errors.Is(err, coord.ErrInvalidTopic):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, coord.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, coord.ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, coord.ErrInvalidReplicationFactor):
		return kerr.InvalidReplicationFactor.Code
	case errors.Is(err, coord.ErrInvalidConfig):
		return kerr.InvalidConfig.Code
	case errors.Is(err, coord.ErrNoBroker):
		return kerr.BrokerNotAvailable.Code
	}
	return kerr.UnknownServerError.Code
}
