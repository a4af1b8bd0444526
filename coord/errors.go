package coord

import (
	"errors"
	"fmt"
)

// The errors of this package. Callers test them with errors.Is; the errors
// returned wrap them in a one-line, lower-case message that names the
// directory, broker, topic or file involved and says what to do.
var (
	// Opening a cluster.

	// ErrNoCluster: the directory holds no cluster.json.
	// Message: "no mk cluster in DIR; start one with mk cluster start".
	ErrNoCluster = errors.New("no mk cluster")
	// ErrFormatVersion: cluster.json has a format_version this build does
	// not know (written by a newer mk).
	ErrFormatVersion = errors.New("unsupported cluster format version")
	// ErrCorruptMetadata: a metadata file does not parse or breaks an
	// invariant. Message: "corrupt metadata file PATH: CAUSE".
	ErrCorruptMetadata = errors.New("corrupt metadata file")
	// ErrMetadataLocked: meta/lock stayed held for MetaLockTimeout, which
	// means a process stopped (SIGSTOP) while writing metadata.
	ErrMetadataLocked = errors.New("metadata lock is held too long")

	// Brokers.

	// ErrNoBroker: an operation needs a live broker and none is running.
	// Message: "no broker is running in DIR; start one with mk cluster start".
	ErrNoBroker = errors.New("no broker is running")
	// ErrBrokerRunning: RegisterBroker found the id's lock held.
	// Message: "broker 1 is already running (pid 1234)".
	ErrBrokerRunning = errors.New("broker is already running")

	// Controller.

	// ErrNotController: the controller epoch moved on while this process
	// acted as controller; it must stop and compete again. Retriable.
	ErrNotController = errors.New("no longer the controller")

	// Topics.

	// ErrUnknownTopic: no such topic. Message: "unknown topic NAME".
	ErrUnknownTopic = errors.New("unknown topic")
	// ErrTopicExists: CreateTopic of a name that exists, or that collides
	// with an existing one once '.' and '_' are treated alike (Kafka's rule,
	// because both map to '_' in metric names).
	ErrTopicExists = errors.New("topic already exists")
	// ErrTopicNameCollision: the name is not taken, but collides with an
	// existing one once '.' and '_' are treated alike. Errors that match it
	// match ErrTopicExists too; Kafka answers it with
	// INVALID_TOPIC_EXCEPTION rather than TOPIC_ALREADY_EXISTS.
	ErrTopicNameCollision = errors.New("topic name collides with an existing topic")
	// ErrInvalidTopic: a name that breaks Kafka's topic name rules.
	// Message: `invalid topic name "x": REASON`.
	ErrInvalidTopic = errors.New("invalid topic name")
	// ErrInvalidConfig: an unknown topic config key or a bad value.
	// Message names the key and the value.
	ErrInvalidConfig = errors.New("invalid topic config")
	// ErrInvalidPartitions: a partition count below 1, or an alter that
	// would decrease it.
	ErrInvalidPartitions = errors.New("invalid number of partitions")
	// ErrInvalidReplicationFactor: a replication factor below 1, or larger
	// than the number of live brokers.
	ErrInvalidReplicationFactor = errors.New("invalid replication factor")
	// ErrInvalidReplicaAssignment: a manual replica assignment (Kafka's
	// CreateTopics and CreatePartitions assignments) that names an
	// unregistered broker or a broker twice, leaves a partition without
	// replicas or without a live one, or mixes replication factors.
	ErrInvalidReplicaAssignment = errors.New("invalid replica assignment")
	// ErrInvalidUpdate: an UpdateTopic function produced a topic that breaks
	// an invariant (renamed it, removed partitions, moved an epoch back).
	ErrInvalidUpdate = errors.New("invalid topic update")

	// Consumer groups.

	// ErrUnknownGroup: no such group. Message: "unknown group NAME".
	ErrUnknownGroup = errors.New("unknown group")
	// ErrInvalidGroup: a group name that cannot name a directory.
	ErrInvalidGroup = errors.New("invalid group name")
	// ErrGroupActive: reset-offsets or delete of a group with live members.
	ErrGroupActive = errors.New("group has live members")
	// ErrFencedMember: a commit by a member that is no longer in the group
	// or no longer owns the partition (generation fencing). The member
	// rebalances; its uncommitted records may be consumed again.
	ErrFencedMember = errors.New("member fenced")
)

// coordError is an error whose message is written whole for the person who
// reads it, while errors.Is still finds the sentinel (and the cause, if any).
type coordError struct {
	msg      string
	sentinel error
	cause    error
}

func (e *coordError) Error() string { return e.msg }

func (e *coordError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.sentinel}
	}
	return []error{e.sentinel, e.cause}
}

// newError returns an error that reads as the formatted message and
// matches sentinel with errors.Is.
func newError(sentinel error, format string, args ...any) error {
	return &coordError{msg: fmt.Sprintf(format, args...), sentinel: sentinel}
}

// corruptError reports a metadata file that does not parse or is invalid.
func corruptError(path string, cause error) error {
	return &coordError{
		msg:      fmt.Sprintf("corrupt metadata file %s: %v", path, cause),
		sentinel: ErrCorruptMetadata,
		cause:    cause,
	}
}
