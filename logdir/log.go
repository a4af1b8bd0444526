package logdir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Log is one partition replica opened for appending by one process. Any
// number of processes may hold a Log on the same directory at once: every
// append takes the partition's flock, so appends from different processes
// serialize, and each one re-reads the state under the lock instead of
// trusting what it saw last time. A Log is safe for concurrent use by the
// goroutines of one process.
type Log struct {
	mu  sync.Mutex
	dir string
	cfg Config

	lock      *fileLock
	flushLock *fileLock
	stateF    *os.File
	stateBuf  []byte

	// The active segment's files, opened for the base offset segBase.
	segBase        int64
	seg, idx, tidx *os.File
	// The end of the blocks this Log reserved in seg (prealloc.go; -1
	// when unknown), and whether the file system refused to reserve any.
	segAlloc   int64
	noPrealloc bool

	// Index entries produced by the append in progress, written after the
	// batches they point to (so an index entry never points at bytes that
	// are not there yet).
	idxPending, tidxPending []byte
	idxEnd, tidxEnd         int64 // where the next index entries go
	scanBuf                 []byte

	// The last epoch in leader-epoch-checkpoint as this Log last read or
	// wrote it, known to be current while the state's seq is epochSeq (0:
	// unknown). Every change to that file is made under the flock and
	// followed by a commit, which changes seq; so a follower appending
	// verbatim batches reads the file only when someone else wrote.
	epochLatest int32
	epochSeq    uint64

	// The idempotent producers' state (producers.go): nil until loaded.
	producers *producerState
	// snapshotDamage: the damaged producer snapshots loading deleted,
	// for Recover's report.
	snapshotDamage []string

	// The image and the state of this Log's last commit (see readState).
	lastImage []byte
	lastState State
	lastOK    bool

	// Now returns the wall clock in milliseconds; tests replace it.
	Now func() int64
	// Logf reports what the Log repaired on its own (a damaged
	// leader-epoch-checkpoint rebuilt from the log); nil discards.
	Logf func(format string, args ...any)
	// LockTimeout bounds the wait for the partition lock (0: wait as long
	// as it takes). A process stopped while holding the lock (SIGSTOP)
	// holds it until it is continued or killed; a controller fencing a
	// replica must not hang on it, so it sets a timeout and retries later.
	LockTimeout time.Duration
}

// ErrLockTimeout: the partition lock was not free within LockTimeout.
var ErrLockTimeout = errors.New("partition lock is held by another process")

// acquire takes the partition flock, waiting at most LockTimeout.
func (l *Log) acquire() error { return l.acquireWithin(l.LockTimeout) }

// acquireWithin takes the partition flock, waiting at most timeout (0: as
// long as it takes).
func (l *Log) acquireWithin(timeout time.Duration) error {
	if timeout <= 0 {
		if err := l.lock.Lock(); err != nil {
			return fmt.Errorf("lock partition %s: %w", l.dir, err)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ok, err := l.lock.TryLockContext(ctx, 5*time.Millisecond)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("lock partition %s: %w", l.dir, err)
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrLockTimeout, l.dir)
	}
	return nil
}

// AppendResult tells where an append landed.
type AppendResult struct {
	BaseOffset     int64 // offset of the first record appended
	LastOffset     int64 // offset of the last record appended
	LogEndOffset   int64 // log end offset after the append
	HighWatermark  int64 // high watermark after the append
	LogStartOffset int64 // log start offset at the append
	// Duplicate: the batch repeats one of its idempotent producer's last
	// five, which the log holds already. Nothing was appended; BaseOffset
	// and LastOffset are the original's, and Timestamp its max timestamp
	// (what Kafka answers as the log append time of a duplicate).
	Duplicate bool
	Timestamp int64
}

func nowMs() int64 { return time.Now().UnixMilli() }

// Open opens an existing partition directory (made by Recover) for
// appending. It does not scan the log: the state file says where the tail
// is, and each append checks that under the lock.
func Open(dir string, cfg Config) (*Log, error) {
	stateF, err := os.OpenFile(filepath.Join(dir, stateFileName), os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open partition %s: %w", dir, err)
	}
	lock, err := openFileLock(filepath.Join(dir, lockFileName))
	if err != nil {
		stateF.Close()
		return nil, fmt.Errorf("open partition %s: %w", dir, err)
	}
	flushLock, err := openFileLock(filepath.Join(dir, flushLockName))
	if err != nil {
		lock.Close()
		stateF.Close()
		return nil, fmt.Errorf("open partition %s: %w", dir, err)
	}
	return &Log{
		dir:       dir,
		cfg:       cfg.withDefaults(),
		lock:      lock,
		flushLock: flushLock,
		stateF:    stateF,
		stateBuf:  make([]byte, stateFileSize),
		lastImage: make([]byte, stateFileSize),
		segBase:   -1,
		Now:       nowMs,
	}, nil
}

// Dir is the partition directory.
func (l *Log) Dir() string { return l.dir }

// logf reports through Logf, naming the partition directory.
func (l *Log) logf(format string, args ...any) {
	if l.Logf != nil {
		l.Logf("%s: %s", l.dir, fmt.Sprintf(format, args...))
	}
}

// SetConfig changes the configuration used by later appends (a topic's
// config was altered).
func (l *Log) SetConfig(cfg Config) {
	l.mu.Lock()
	l.cfg = cfg.withDefaults()
	l.mu.Unlock()
}

// Close releases the files. It never holds the lock between calls.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closeSegment()
	l.lock.Close()
	l.flushLock.Close()
	return l.stateF.Close()
}

func (l *Log) closeSegment() {
	for _, f := range []*os.File{l.seg, l.idx, l.tidx} {
		if f != nil {
			f.Close()
		}
	}
	l.seg, l.idx, l.tidx, l.segBase = nil, nil, nil, -1
}

// Append assigns offsets to batches and appends them. batches holds one or
// more whole RecordBatch v2 (as BatchBuilder.Finish makes them) back to
// back; Append patches their baseOffset and partitionLeaderEpoch in place
// (both are outside the CRC, which is why Kafka put them there). It fails
// with ErrFenced when the replica's leader epoch is not expectEpoch, and
// with ErrNotLeader when the replica is a follower. Batches of idempotent
// producers are checked against the producer state in the same critical
// section (producerstate.go): a retry of one of a producer's last five
// batches appends nothing and returns the original's offsets with
// Duplicate set; a sequence gap is ErrOutOfOrderSequence, an old producer
// epoch ErrInvalidProducerEpoch, and nothing of the append is written.
func (l *Log) Append(expectEpoch int32, batches []byte) (AppendResult, error) {
	return l.append(batches, true, expectEpoch, -1)
}

// AppendVerbatim appends batches that already carry their offsets, as a
// follower copies them from its leader: the bytes are written unchanged.
// The first batch must start at the log end offset (ErrOffsetMismatch).
// The idempotent producers' state follows the batches unchecked, so that
// this replica, once it leads, recognises the retries of what the leader
// it copied from appended.
func (l *Log) AppendVerbatim(batches []byte) (AppendResult, error) {
	return l.append(batches, false, -1, -1)
}

// AppendVerbatimHW is AppendVerbatim that also moves the high watermark up
// to hw (never past the new log end), in the same commit: a follower
// copying from its leader takes the leader's high watermark with the
// records, in one write of the state file rather than two (each write
// wakes the leader, which watches the file).
func (l *Log) AppendVerbatimHW(batches []byte, hw int64) (AppendResult, error) {
	return l.append(batches, false, -1, hw)
}

// checkBatches validates the framing of the batches before the lock is
// taken, so a bad caller cannot leave half of a bad request in the log.
func (l *Log) checkBatches(batches []byte, verify bool) error {
	if len(batches) == 0 {
		return fmt.Errorf("%w: no batches", ErrCorrupt)
	}
	for p := 0; p < len(batches); {
		if len(batches)-p < BatchHeaderSize {
			return fmt.Errorf("%w: truncated batch header at byte %d", ErrCorrupt, p)
		}
		h, err := ParseBatchHeader(batches[p:])
		if err != nil {
			return err
		}
		size := h.Size()
		if size > len(batches)-p {
			return fmt.Errorf("%w: batch at byte %d is %d bytes, only %d given", ErrCorrupt, p, size, len(batches)-p)
		}
		if int64(size) > l.cfg.MaxMessageBytes {
			return fmt.Errorf("%w: batch of %d bytes, max.message.bytes is %d", ErrRecordTooLarge, size, l.cfg.MaxMessageBytes)
		}
		if h.RecordCount <= 0 {
			return fmt.Errorf("%w: batch at byte %d has no records", ErrCorrupt, p)
		}
		if verify {
			if err := VerifyBatch(batches[p : p+size]); err != nil {
				return err
			}
		}
		p += size
	}
	return nil
}

func (l *Log) append(batches []byte, assign bool, expectEpoch int32, hw int64) (AppendResult, error) {
	res, flush, err := l.appendCommit(batches, assign, expectEpoch, hw)
	if err != nil || !flush {
		return res, err
	}
	// Outside l.mu: flushTo takes it again to publish the flushed offset,
	// and other goroutines may append while this one waits for the fsync.
	return res, l.flushTo(res.LogEndOffset)
}

// appendCommit appends and commits under l.mu and the flock, and says
// whether the flush policy wants the result fsynced.
func (l *Log) appendCommit(batches []byte, assign bool, expectEpoch int32, hw int64) (AppendResult, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkBatches(batches, !assign); err != nil {
		return AppendResult{}, false, err
	}
	if err := l.acquire(); err != nil {
		return AppendResult{}, false, err
	}
	st, err := l.loadTail()
	if err != nil {
		l.lock.Unlock()
		return AppendResult{}, false, err
	}
	if assign {
		if !st.Leader {
			l.lock.Unlock()
			return AppendResult{}, false, fmt.Errorf("%w: %s", ErrNotLeader, l.dir)
		}
		if st.LeaderEpoch != expectEpoch {
			l.lock.Unlock()
			return AppendResult{}, false, fmt.Errorf("%w: %s is at leader epoch %d, the producer expected %d", ErrFenced, l.dir, st.LeaderEpoch, expectEpoch)
		}
	}
	if assign && AppendHook != nil {
		AppendHook(l.dir)
	}
	res, err := l.appendLocked(&st, batches, assign, hw)
	flush := err == nil && l.flushDue(&st)
	l.lock.Unlock()
	return res, flush, err
}

// appendLocked writes batches after st (the reconciled state) and commits
// the new state, with the high watermark moved up to hw if that is above
// it (-1: not moved). Called with the flock held.
func (l *Log) appendLocked(st *State, batches []byte, assign bool, hw int64) (AppendResult, error) {
	res := AppendResult{BaseOffset: st.LogEndOffset}
	ps, err := l.producersFor(st, batches)
	if err != nil {
		return res, err
	}
	if ps != nil {
		dup, isDup, err := l.checkProducers(ps, st, batches, assign)
		if err != nil {
			return res, err
		}
		if isDup {
			return AppendResult{BaseOffset: dup.FirstOffset(), LastOffset: dup.LastOffset, LogEndOffset: st.LogEndOffset,
				HighWatermark: st.HighWatermark, LogStartOffset: st.LogStartOffset, Duplicate: true, Timestamp: dup.Timestamp}, nil
		}
	}
	applied := 0                         // ps.pending applied so far
	runStart, runPos := 0, st.ActiveSize // the run of batches not yet written
	var latestEpoch int32 = -1
	epochKnown := l.epochSeq != 0 && l.epochSeq == st.Seq
	for p, i := 0, 0; p < len(batches); i++ {
		b := batches[p:]
		h, _ := ParseBatchHeader(b)
		size := h.Size()
		if l.rollDue(st, &h, size) {
			if err := l.writeRun(batches[runStart:p], runPos); err != nil {
				return res, err
			}
			if err := l.roll(st); err != nil {
				return res, err
			}
			runStart, runPos = p, st.ActiveSize
			if ps != nil {
				// The roll committed the batches before this one:
				// snapshot the state there, named by the new
				// segment's base offset, as Kafka's roll does.
				applied = ps.applyPending(applied, i)
				ps.mapEnd = st.LogEndOffset
				if err := l.snapshotLocked(ps); err != nil {
					return res, err
				}
			}
		}
		if assign {
			SetBaseOffset(b, st.LogEndOffset)
			SetLeaderEpoch(b, st.LeaderEpoch)
			h.BaseOffset, h.PartitionLeaderEpoch = st.LogEndOffset, st.LeaderEpoch
		} else {
			if h.BaseOffset != st.LogEndOffset {
				if err := l.writeRun(batches[runStart:p], runPos); err != nil {
					return res, err
				}
				if l.commit(st) == nil && ps != nil {
					ps.applyPending(applied, i)
					ps.mapEnd = st.LogEndOffset
				}
				return res, fmt.Errorf("%w: batch at offset %d, log ends at %d", ErrOffsetMismatch, h.BaseOffset, st.LogEndOffset)
			}
			if h.PartitionLeaderEpoch > latestEpoch {
				latestEpoch = h.PartitionLeaderEpoch
				if !epochKnown || latestEpoch > l.epochLatest {
					if err := l.noteEpoch(st, h.PartitionLeaderEpoch, h.BaseOffset); err != nil {
						return res, err
					}
					epochKnown = true
				}
			}
		}
		l.track(st, &h, size)
		p += size
	}
	if err := l.writeRun(batches[runStart:], runPos); err != nil {
		return res, err
	}
	if st.HighWatermarkFollowsLEO {
		st.HighWatermark = st.LogEndOffset
	}
	if hw = min(hw, st.LogEndOffset); hw > st.HighWatermark {
		st.HighWatermark = hw
	}
	if st.LostCommittedTo > 0 && st.LogEndOffset >= st.LostCommittedTo {
		st.LostCommittedTo = 0 // copied back what it had lost
	}
	if err := l.commit(st); err != nil {
		return res, err
	}
	if ps != nil {
		ps.applyPending(applied, len(batches))
		ps.mapEnd = st.LogEndOffset
	}
	if epochKnown {
		l.epochSeq = st.Seq
	}
	res.LastOffset = st.LogEndOffset - 1
	res.LogEndOffset = st.LogEndOffset
	res.HighWatermark = st.HighWatermark
	res.LogStartOffset = st.LogStartOffset
	return res, nil
}

// noteEpoch records in leader-epoch-checkpoint that a verbatim batch of a
// newer epoch starts at offset.
func (l *Log) noteEpoch(st *State, epoch int32, offset int64) error {
	es, err := l.leaderEpochsLocked(st)
	if err != nil {
		return err
	}
	if n := len(es); n > 0 && es[n-1].Epoch >= epoch {
		l.epochLatest = es[n-1].Epoch
		return nil
	}
	if err := assignEpoch(l.dir, es, epoch, offset); err != nil {
		return err
	}
	l.epochLatest = epoch
	return nil
}

// rollDue says whether the batch must go to a new segment: the active one
// would pass segment.bytes, its first batch is older than segment.ms, or
// its offset index is full. An empty segment always takes the batch.
func (l *Log) rollDue(st *State, h *BatchHeader, size int) bool {
	if st.ActiveSize == 0 {
		return false
	}
	if st.ActiveSize+int64(size) > l.cfg.SegmentBytes {
		return true
	}
	if st.ActiveFirstTimestamp >= 0 && h.MaxTimestamp-st.ActiveFirstTimestamp > l.cfg.SegmentMs {
		return true
	}
	if (st.IndexEntries+1)*indexEntrySize > l.cfg.SegmentIndexBytes {
		return true
	}
	// Positions in the offset index are int32.
	return st.ActiveSize+int64(size) > 1<<31-1
}

// track accounts for one batch written (or adopted) at st.ActiveSize: the
// offset and time indexes as Kafka's LogSegment.append keeps them, and the
// log end.
func (l *Log) track(st *State, h *BatchHeader, size int) {
	last := h.LastOffset()
	if h.MaxTimestamp > st.ActiveMaxTimestamp {
		st.ActiveMaxTimestamp, st.ActiveMaxTsOffset = h.MaxTimestamp, last
	}
	if st.ActiveFirstTimestamp < 0 {
		st.ActiveFirstTimestamp = h.MaxTimestamp
	}
	if st.BytesSinceIndex > l.cfg.IndexIntervalBytes {
		var e [indexEntrySize]byte
		putIndexEntry(e[:], indexEntry{int32(last - st.ActiveSegment), int32(st.ActiveSize)})
		l.idxPending = append(l.idxPending, e[:]...)
		st.IndexEntries++
		l.maybeTimeIndex(st)
		st.BytesSinceIndex = 0
	}
	st.BytesSinceIndex += int64(size)
	st.ActiveSize += int64(size)
	st.LogEndOffset = last + 1
}

// maybeTimeIndex appends a time-index entry for the largest timestamp so
// far when it is newer than the last entry, keeping the index monotonic.
func (l *Log) maybeTimeIndex(st *State) {
	if st.ActiveMaxTimestamp <= st.LastTimeIndexTs {
		return
	}
	var e [timeIndexEntrySize]byte
	putTimeIndexEntry(e[:], timeIndexEntry{st.ActiveMaxTimestamp, int32(st.ActiveMaxTsOffset - st.ActiveSegment)})
	l.tidxPending = append(l.tidxPending, e[:]...)
	st.TimeIndexEntries++
	st.LastTimeIndexTs = st.ActiveMaxTimestamp
}

// writeRun writes a run of batches at pos in the active segment, then the
// index entries that point into it.
func (l *Log) writeRun(run []byte, pos int64) error {
	if len(run) > 0 {
		l.preallocate(pos, int64(len(run)))
		if _, err := l.seg.WriteAt(run, pos); err != nil {
			return fmt.Errorf("write %s: %w", l.seg.Name(), err)
		}
	}
	return l.writeIndexes()
}

// writeIndexes writes pending index entries after the ones already there.
// The entry counts are committed with the state, so entries written by a
// process that dies before its commit are overwritten by the next appender.
func (l *Log) writeIndexes() error {
	if len(l.idxPending) > 0 {
		if _, err := l.idx.WriteAt(l.idxPending, l.idxEnd); err != nil {
			return fmt.Errorf("write %s: %w", l.idx.Name(), err)
		}
		l.idxEnd += int64(len(l.idxPending))
		l.idxPending = l.idxPending[:0]
	}
	if len(l.tidxPending) > 0 {
		if _, err := l.tidx.WriteAt(l.tidxPending, l.tidxEnd); err != nil {
			return fmt.Errorf("write %s: %w", l.tidx.Name(), err)
		}
		l.tidxEnd += int64(len(l.tidxPending))
		l.tidxPending = l.tidxPending[:0]
	}
	return nil
}
