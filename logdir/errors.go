package logdir

import "errors"

// The errors of this package. Callers test them with errors.Is; the
// returned errors wrap them with where it happened (file, position,
// offset). Retriable ones say so.
var (
	// Appending.

	// ErrFenced: the replica's leader epoch is not the one the appender
	// expected (leadership moved). Retriable: refresh metadata and retry.
	ErrFenced = errors.New("leader epoch fenced")
	// ErrNotLeader: the replica is a follower; producers may not append.
	// Retriable after a metadata refresh.
	ErrNotLeader = errors.New("replica is not the leader")
	// ErrOffsetMismatch: a verbatim batch does not continue the log.
	ErrOffsetMismatch = errors.New("batch offset does not continue the log")
	// ErrRecordTooLarge: a batch is over max.message.bytes.
	ErrRecordTooLarge = errors.New("record batch is larger than max.message.bytes")
	// ErrOutOfOrderSequence: an idempotent producer's batch does not
	// continue its sequence (a gap, or a new epoch not starting at 0).
	// Kafka's OUT_OF_ORDER_SEQUENCE_NUMBER; nothing was appended.
	ErrOutOfOrderSequence = errors.New("out of order sequence number")
	// ErrInvalidProducerEpoch: an idempotent producer's epoch is older than
	// the one the partition last saw from it (a zombie producer). Kafka's
	// INVALID_PRODUCER_EPOCH; nothing was appended.
	ErrInvalidProducerEpoch = errors.New("invalid producer epoch")
	// ErrInvalidTxnState: a transactional or control batch from a client;
	// mk has no transaction coordinator to have begun the transaction.
	// Kafka's INVALID_TXN_STATE.
	ErrInvalidTxnState = errors.New("invalid transaction state")

	// Roles.

	// ErrMissingRecords: BecomeLeader of a replica whose log lost records
	// that may have been committed (State.LostCommittedTo): it would make
	// its followers truncate them. It may lead once it holds them again,
	// or once an unclean election accepted the loss (ClearLostCommitted).
	ErrMissingRecords = errors.New("replica lacks committed records")

	// Reading.

	// ErrOffsetOutOfRange: the offset is below the log start offset or
	// above the log end offset. Callers reset (earliest/latest) on it.
	ErrOffsetOutOfRange = errors.New("offset out of range")
	// ErrCorrupt: bytes that fail their CRC or do not parse as a
	// RecordBatch v2. Wrapped with the file and position.
	ErrCorrupt = errors.New("corrupt record batch")
	// ErrUnsupportedCompression: a batch compressed with a codec this
	// build cannot decode. Wrapped with the codec's name.
	ErrUnsupportedCompression = errors.New("unsupported compression codec")

	// Opening.

	// ErrBadState: the partition's state file failed its checksum or does
	// not parse. Opening for write recovers from the log instead.
	ErrBadState = errors.New("bad partition state file")
	// ErrNewerFormat: a replica file (state, checkpoints) is in a format
	// newer than this mk reads. The replica is refused, never rebuilt or
	// rewritten: a newer mk wrote it and knows what it says.
	ErrNewerFormat = errors.New("replica file written by a newer mk")
)
