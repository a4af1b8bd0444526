package logdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// RecoveryReport says what Recover found and did.
type RecoveryReport struct {
	Segments        int     // segments in the log after recovery
	Scanned         int     // segments validated batch by batch (from the recovery point on)
	RebuiltIndexes  int     // segments whose indexes were missing or inconsistent and were rebuilt
	TruncatedBytes  int64   // bytes cut from the segment where damage was found
	DeletedSegments []int64 // segments after the damage, removed whole
	Damage          string  // what the first damage was ("" if none)
	LogEndOffset    int64
	// Producers is the number of idempotent producers the partition
	// knows after recovery; ProducerSnapshot the offset of the snapshot
	// their state was loaded from (-1: none, replayed from the log start)
	// and ReplayedFrom where the replay of the log began.
	Producers        int
	ProducerSnapshot int64
	ReplayedFrom     int64
	// BadSnapshots names the producer snapshots that were damaged or cut
	// short and were deleted (their state was rebuilt from the log).
	BadSnapshots []string
	// LostCommittedTo is above LogEndOffset when the recovered log lacks
	// records it had and that may have been committed (offsets
	// LogEndOffset to LostCommittedTo-1): the replica was left a follower
	// and may not lead (see State.LostCommittedTo). It is also set when an
	// earlier loss is not made good yet. 0 otherwise.
	LostCommittedTo int64
	// LeaderEpochs says what was wrong with leader-epoch-checkpoint and
	// how it was repaired ("" if nothing was): rebuilt from the batches'
	// partitionLeaderEpoch when damaged, cut to the log when it named
	// epochs starting past the log end.
	LeaderEpochs string
}

// LostCommitted reports whether the recovered log lacks records that may
// have been committed.
func (r *RecoveryReport) LostCommitted() bool { return r.LostCommittedTo > r.LogEndOffset }

// Truncated reports whether recovery removed anything.
func (r *RecoveryReport) Truncated() bool {
	return r.TruncatedBytes > 0 || len(r.DeletedSegments) > 0
}

// Recover opens the partition directory dir as a broker does at start,
// creating it if it does not exist. Every batch after the recovery point
// (the last offset known to be fsynced) is validated: CRC, framing, dense
// offsets. The log is cut at the first bad batch, later segments are
// removed, and every valid batch before the damage is kept. Indexes of the
// scanned segments are rebuilt; indexes of earlier segments are checked and
// rebuilt when missing or inconsistent. The recovered log is fsynced and the
// recovery point moved to its end. A log that comes out shorter than what
// the replica had seen committed (its high watermark; a follower's log end)
// lost committed records: the replica is left a follower, marked (see
// State.LostCommittedTo) and the report says so. Recover takes the partition lock, so it
// is safe to run while producers are appending.
func Recover(dir string, cfg Config) (*Log, *RecoveryReport, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	removeTemps(dir)
	sf, err := os.OpenFile(filepath.Join(dir, stateFileName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, err
	}
	sf.Close()
	l, err := Open(dir, cfg)
	if err != nil {
		return nil, nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.lock.Lock(); err != nil {
		l.Close()
		return nil, nil, err
	}
	defer l.lock.Unlock()
	rep, err := l.recoverLocked()
	if err != nil {
		l.closeSegment()
		l.lock.Close()
		l.flushLock.Close()
		l.stateF.Close()
		return nil, nil, fmt.Errorf("recover %s: %w", dir, err)
	}
	return l, rep, nil
}

func (l *Log) recoverLocked() (*RecoveryReport, error) {
	rep := &RecoveryReport{}
	old, oldErr := readStateLocked(l.stateF, l.stateBuf)
	if errors.Is(oldErr, ErrNewerFormat) {
		// Not damage: a newer mk's state, which this one must neither
		// rebuild nor rewrite in its own format.
		return nil, oldErr
	}
	cp, err := readCheckpoints(l.dir)
	if errors.Is(err, ErrBadState) {
		// Damaged on disk (it is replaced atomically, so nothing else
		// leaves it half-written). Without a recovery point, validate the
		// whole log; the file is rewritten at the end.
		cp, err = Checkpoints{}, nil
	}
	if err != nil {
		return nil, err
	}
	bases, err := listSegments(l.dir)
	if err != nil {
		return nil, err
	}
	// What the replica had that may have been committed, before recovery.
	committed := cp.committedEnd()
	if oldErr == nil {
		committed = committedEnd(&old)
	}
	var st State
	st.LogStartOffset = cp.LogStartOffset
	if len(bases) == 0 {
		bases = []int64{cp.LogStartOffset}
	}
	st.LogStartOffset = max(st.LogStartOffset, bases[0])
	if oldErr == nil {
		st.LeaderEpoch, st.Leader, st.HighWatermarkFollowsLEO = old.LeaderEpoch, old.Leader, old.HighWatermarkFollowsLEO
		st.LogStartOffset = max(st.LogStartOffset, old.LogStartOffset)
		st.Seq = old.Seq
	} else {
		st.LeaderEpoch, st.Leader, st.HighWatermarkFollowsLEO = cp.LeaderEpoch, cp.Leader, cp.HighWatermarkFollowsLEO
		if es, err := ReadLeaderEpochs(l.dir); err == nil && len(es) > 0 && es[len(es)-1].Epoch > st.LeaderEpoch {
			st.LeaderEpoch = es[len(es)-1].Epoch
		}
	}

	// Segments before the one holding the recovery point were fsynced
	// whole: check that their indexes are sane, rebuild the ones that are not.
	first := 0
	for i := range bases {
		if bases[i] <= cp.RecoveryPoint {
			first = i
		}
	}
	for _, base := range bases[:first] {
		if !indexesSane(l.dir, base) {
			var scratch State
			if _, err := l.rescan(&scratch, base); err != nil {
				return nil, err
			}
			if err := l.closeTimeIndex(&scratch); err != nil {
				return nil, err
			}
			rep.RebuiltIndexes++
		}
	}
	// From the recovery point on: validate every batch.
	next := bases[first]
	for i := first; i < len(bases); i++ {
		base := bases[i]
		if base != next && i > first {
			// A gap or overlap: offsets would not be dense past here.
			rep.Damage = fmt.Sprintf("segment %s starts at offset %d, the previous one ends at %d", segmentName(base), base, next)
			rep.DeletedSegments = append(rep.DeletedSegments, bases[i:]...)
			break
		}
		fi, err := os.Stat(segmentPath(l.dir, base, logSuffix))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		var size int64
		if fi != nil {
			size = fi.Size()
		}
		damage, err := l.rescan(&st, base)
		if err != nil {
			return nil, err
		}
		rep.Scanned++
		rep.RebuiltIndexes++
		if err := l.seg.Sync(); err != nil {
			return nil, err
		}
		next = st.LogEndOffset
		if damage != nil {
			rep.Damage = damage.Error()
			rep.TruncatedBytes = size - st.ActiveSize
			rep.DeletedSegments = append(rep.DeletedSegments, bases[i+1:]...)
			break
		}
		if i+1 < len(bases) {
			if err := l.closeTimeIndex(&st); err != nil {
				return nil, err
			}
		}
	}
	for _, base := range rep.DeletedSegments {
		for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			if err := os.Remove(segmentPath(l.dir, base, suffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		}
	}
	// The log may now end in a segment before the last one on disk; make
	// sure the active segment is the last one left.
	if rest, err := listSegments(l.dir); err == nil && len(rest) > 0 && rest[len(rest)-1] != st.ActiveSegment {
		last := rest[len(rest)-1]
		if _, err := l.rescan(&st, last); err != nil {
			return nil, err
		}
	}
	if err := SyncDir(l.dir); err != nil {
		return nil, err
	}
	switch {
	case st.HighWatermarkFollowsLEO:
		st.HighWatermark = st.LogEndOffset
	case oldErr == nil:
		st.HighWatermark = old.HighWatermark
	default:
		st.HighWatermark = cp.HighWatermark
	}
	st.HighWatermark = min(max(st.HighWatermark, st.LogStartOffset), st.LogEndOffset)
	st.LostCommittedTo = 0
	st.FollowsEpoch = -1 // the log may have changed: check it against the leader again
	markLost(&st, committed)
	if err := l.recoverLeaderEpochs(&st, rep); err != nil {
		return nil, err
	}
	st.FlushedOffset = st.LogEndOffset
	st.LastFlushMs = l.Now()
	if err := l.commit(&st); err != nil {
		return nil, err
	}
	if err := writeCheckpoints(l.dir, checkpointsOf(&st)); err != nil {
		return nil, err
	}
	// The idempotent producers' state: the newest good snapshot at or
	// below the recovered log end, then the log after it. A snapshot of
	// the result makes the next start cheap.
	l.snapshotDamage = nil
	ps, err := l.loadProducers(&st)
	if err != nil {
		return nil, err
	}
	rep.ProducerSnapshot, rep.ReplayedFrom = ps.loadedFrom, max(ps.loadedFrom, st.LogStartOffset)
	if err := l.snapshotLocked(ps); err != nil {
		return nil, err
	}
	rep.Producers, rep.BadSnapshots = len(ps.producers), l.snapshotDamage
	rep.LogEndOffset = st.LogEndOffset
	rep.LostCommittedTo = st.LostCommittedTo
	rep.Segments = len(bases) - len(rep.DeletedSegments)
	return rep, nil
}

// recoverLeaderEpochs makes leader-epoch-checkpoint agree with the
// recovered log: a damaged file is rebuilt from the batches, entries that
// start past the log end (the log was cut under them) are dropped.
func (l *Log) recoverLeaderEpochs(st *State, rep *RecoveryReport) error {
	es, err := ReadLeaderEpochs(l.dir)
	if errors.Is(err, ErrBadState) {
		rebuilt, serr := scanLeaderEpochs(l.dir, st)
		if serr != nil {
			return serr
		}
		rep.LeaderEpochs = fmt.Sprintf("%v; rebuilt it from the log: %s", err, FormatEpochs(rebuilt))
		return writeLeaderEpochs(l.dir, rebuilt)
	}
	if err != nil {
		return err
	}
	kept := es[:0:0]
	for _, e := range es {
		if e.StartOffset <= st.LogEndOffset {
			kept = append(kept, e)
		}
	}
	if len(kept) == len(es) {
		return nil
	}
	rep.LeaderEpochs = fmt.Sprintf("leader-epoch-checkpoint named epochs starting past the log end %d: cut to %s", st.LogEndOffset, FormatEpochs(kept))
	return writeLeaderEpochs(l.dir, kept)
}

// closeTimeIndex ends the time index of a rebuilt segment that is not the
// active one with its largest timestamp, as roll does (and Kafka's
// LogSegment.recover): retention reads a closed segment's age from it.
func (l *Log) closeTimeIndex(st *State) error {
	l.maybeTimeIndex(st)
	return l.writeIndexes()
}

// indexesSane is the cheap check Kafka's sanityCheck makes: whole entries,
// and the last entry pointing inside the log.
func indexesSane(dir string, base int64) bool {
	lfi, err1 := os.Stat(segmentPath(dir, base, logSuffix))
	ifi, err2 := os.Stat(segmentPath(dir, base, indexSuffix))
	tfi, err3 := os.Stat(segmentPath(dir, base, timeIndexSuffix))
	if err1 != nil || err2 != nil || err3 != nil {
		return false
	}
	if ifi.Size()%indexEntrySize != 0 || tfi.Size()%timeIndexEntrySize != 0 {
		return false
	}
	idx, err := readWhole(segmentPath(dir, base, indexSuffix), nil, indexEntrySize)
	if err != nil {
		return false
	}
	prev := int32(-1)
	for p := 0; p < len(idx); p += indexEntrySize {
		e := getIndexEntry(idx[p:])
		if e.Relative <= prev || int64(e.Position) >= lfi.Size() {
			return false
		}
		prev = e.Relative
	}
	return true
}

// removeTemps deletes temporary files a crashed WriteFileAtomic left.
func removeTemps(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
