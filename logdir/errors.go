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
)
