// Package logdir is a partition replica's log on disk: Kafka's segment
// files, written by any process that holds the partition's flock and read
// by any process without locks.
//
// # Directory
//
// One directory per partition replica, <topic>-<partition>:
//
//	00000000000000000000.log        segment: RecordBatch v2, back to back
//	00000000000000000000.index      offset index of that segment
//	00000000000000000000.timeindex  time index of that segment
//	00000000000000001234.log        next segment: its first offset is 1234
//	00000000000000001234.snapshot   idempotent producers' state below offset 1234
//	...
//	state                           live state, rewritten in place after every append
//	checkpoints                     durable facts, replaced atomically
//	leader-epoch-checkpoint         Kafka's epoch -> start offset list
//	partition.metadata              Kafka's: the topic id the replica belongs to
//	lock                            flock: held by whoever writes the log or the state
//	flush.lock                      flock: held by whoever runs an fsync (group commit)
//
// Segment files are named by their base offset, zero-padded to 20 digits
// (the digits of the largest int64), so that `ls` sorts them in offset
// order and a name says which offsets a file holds: 00000000000000001234.log
// holds offsets from 1234 up to the next segment's base.
//
// # Batches
//
// A .log file is Kafka's RecordBatch v2 (magic 2) byte for byte, as
// DefaultRecordBatch.java writes it; see batch.go and record.go for the
// field layout. The CRC-32C covers attributes to the end of the batch, so
// the two fields an appender fills in under the lock, baseOffset and
// partitionLeaderEpoch, are outside it: a producer encodes and checksums a
// batch before it takes the lock, and a follower copies its leader's bytes
// unchanged. Offsets are dense from 0; a batch never spans two segments.
//
// # Indexes
//
// .index holds 8-byte entries (offset - base as int32, byte position as
// int32), all big-endian: the batch whose last offset is base+relative
// starts at position. An entry is added before a batch once more than
// index.interval.bytes (default 4096) were appended since the last one, as
// Kafka's LogSegment.append does, so a lookup scans at most about that many
// bytes. .timeindex holds 12-byte entries (timestamp int64, offset - base
// int32): every record at or below that offset has a timestamp at most
// that; entries only grow, and a rolled segment's last entry is its largest
// timestamp. Index files are not preallocated: their size is their entry
// count times the entry size, so any process can append to them.
//
// # Rolling
//
// An appender starts a new segment, named by the log end offset, before a
// batch that would take the active one past segment.bytes (default 1 GiB),
// when the batch's timestamp is more than segment.ms (7 days) past the
// segment's first batch, or when the offset index would pass
// segment.index.bytes (10 MiB). Positions are int32, so a segment is never
// larger than 2 GiB.
//
// # The state file and commits
//
// "state" is text of fixed size (1024 bytes): one "name value" per line
// (log-end-offset, high-watermark, leader-epoch, active-segment,
// active-size, ...), a crc32c line over them, spaces as padding. `cat` it.
// It is the commit record: an append is done when its state is written.
// Appenders rewrite it with a single pwrite under the flock; readers read it
// without a lock and retry when the checksum shows they caught a rewrite
// half-way. Bytes past active-size in the active segment were written by an
// appender that died before committing: the next appender keeps the whole
// valid batches that continue the log and cuts the rest (a torn tail). The
// tail is found from the state, so an append costs one pread and one fstat
// beyond its writes and never scans the segment.
//
// # Readers
//
// A reader never reads past the committed size of the active segment nor
// returns a batch starting at or above its limit (the high watermark for
// consumers), and checks every batch's CRC: a bad batch is ErrCorrupt naming
// the file and position, never data. An offset is found by binary search in
// the offset index, then a scan of at most index.interval.bytes; a reader
// reading on from where it stopped skips the index.
//
// # Log start
//
// The log start offset only grows: retention (DeleteRetained) moves it to
// the first segment it keeps, and AdvanceLogStart (Kafka's DeleteRecords on
// a leader, and a follower following its leader) to any offset up to the
// high watermark. Either commits the new start, in the state and the
// checkpoints, before unlinking the segments wholly below it. A Reader
// answers ErrOffsetOutOfRange below the start; the batch holding the start
// may begin before it.
//
// # Durability
//
// By default (flush.messages and flush.ms unset, as in Kafka) an append is
// written to the page cache: it survives the SIGKILL of any process, and a
// power loss is what replication is for. With a flush policy, appenders
// share fsyncs (group commit, see flush.go). checkpoints holds the recovery
// point (all below it is fsynced), the log start offset, the high watermark
// and the role, written atomically (temp file, fsync, rename, fsync dir)
// when they change.
//
// # Idempotent producers
//
// An append checks every batch that carries a producer id against the
// state of its producer, under the lock that assigns its offsets: a retry
// of one of the producer's last five batches appends nothing and answers
// the original's offsets, a sequence gap or an old epoch is refused (see
// producerstate.go for Kafka's rules). The state is derived from the batch
// headers and kept in memory by the Log; <offset>.snapshot files, Kafka's
// snapshot format (producersnapshot.go states the layout), hold it as it
// was below offset, written at each roll, checkpoint and clean shutdown.
// They are a shortcut: recovery loads the newest good one and replays the
// log after it, and a missing or damaged snapshot only means a longer
// replay.
//
// # Recovery
//
// Recover, run by the broker at start, validates every batch after the
// recovery point, cuts the log at the first bad one (keeping every valid
// batch before it), removes later segments, rebuilds damaged or missing
// indexes, loads the idempotent producers' state (deleting snapshots above
// the recovered log end) and reports what it removed.
// leader-epoch-checkpoint is derived data: a damaged one is rebuilt from the
// batches' partitionLeaderEpoch.
//
// # Lost committed records
//
// A log that comes out of recovery shorter than what the replica had that
// may have been committed (a leader's high watermark, a follower's log
// end), or whose committed bytes are found gone while it runs (a deleted
// or cut active segment, seen by the next holder of the lock), records it
// in the state and checkpoints (lost-committed-to), stops being a leader
// and refuses to become one (ErrMissingRecords) until it has copied the
// records back or the loss is accepted (ClearLostCommitted). See
// ARCHITECTURE.md, "Damaged replicas".
package logdir
