package logdir

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// loadTail reads the state under the flock and makes it agree with the
// files: the state is the commit record of the last append, and the bytes
// past it in the active segment (if any) were left by an appender that died
// before committing. Whole valid batches that continue the log are adopted;
// from the first torn or invalid byte on, the segment is cut. This costs
// one pread and one fstat per append; the log is scanned only past the
// committed end, never from the segment's start.
func (l *Log) loadTail() (State, error) {
	st, err := l.readState()
	changed := false
	if err != nil {
		// The state is damaged (a torn write by a crashed machine, say):
		// rebuild it from the active segment.
		if st, err = l.rebuildState(0, "the state file is damaged"); err != nil {
			return st, err
		}
		changed = true
	}
	if err := l.openActive(st.ActiveSegment, &st); err != nil {
		return st, err
	}
	size, nlink, err := statOf(l.seg)
	if err != nil {
		return st, err
	}
	if nlink == 0 {
		// The active segment was deleted (or replaced) under this Log:
		// its descriptor writes to a file that nobody else can read. Look
		// at what the directory holds now.
		l.closeSegment()
		if err := l.openActive(st.ActiveSegment, &st); err != nil {
			return st, err
		}
		if size, _, err = statOf(l.seg); err != nil {
			return st, err
		}
	}
	switch {
	case size < st.ActiveSize:
		// Committed bytes are gone (an external truncation or deletion,
		// or a power loss with flushing off). Start over from what the
		// file holds; if that lost records that may have been committed,
		// the replica stops leading and remembers what it lacks.
		why := fmt.Sprintf("%d committed bytes of the active segment %s.log are gone", st.ActiveSize-size, segmentName(st.ActiveSegment))
		if st, err = l.rebuildState(committedEnd(&st), why); err != nil {
			return st, err
		}
		if err := l.openActive(st.ActiveSegment, &st); err != nil {
			return st, err
		}
		changed = true
	case size > st.ActiveSize:
		if _, err := l.scanAndTrack(&st, size); err != nil {
			return st, err
		}
		changed = true
	}
	if changed {
		// A rebuilt state may end the log below a producer snapshot,
		// which then describes batches that are gone. (The producer
		// state in memory catches up at the next append.)
		if err := l.dropSnapshotsAbove(st.LogEndOffset); err != nil {
			return st, err
		}
		if err := l.cutIndexes(); err != nil {
			return st, err
		}
		if err := l.writeIndexes(); err != nil {
			return st, err
		}
		if err := l.commit(&st); err != nil {
			return st, err
		}
	}
	return st, nil
}

// openActive makes the Log's segment files those of base, and sets where
// new index entries go from the committed counts in st.
func (l *Log) openActive(base int64, st *State) error {
	l.idxPending, l.tidxPending = l.idxPending[:0], l.tidxPending[:0]
	l.idxEnd = st.IndexEntries * indexEntrySize
	l.tidxEnd = st.TimeIndexEntries * timeIndexEntrySize
	if l.segBase == base && l.seg != nil {
		return nil
	}
	l.closeSegment()
	l.segAlloc = -1 // a previous life may have reserved blocks past its end
	var files [3]*os.File
	for i, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		f, err := os.OpenFile(segmentPath(l.dir, base, suffix), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			for _, g := range files[:i] {
				g.Close()
			}
			return err
		}
		files[i] = f
	}
	l.seg, l.idx, l.tidx, l.segBase = files[0], files[1], files[2], base
	return nil
}

// cutIndexes truncates the active indexes to their committed entries, so
// a lock-free reader never meets an entry a dead appender left behind.
func (l *Log) cutIndexes() error {
	for _, c := range []struct {
		f   *os.File
		end int64
	}{{l.idx, l.idxEnd}, {l.tidx, l.tidxEnd}} {
		fi, err := c.f.Stat()
		if err != nil {
			return err
		}
		if fi.Size() > c.end {
			if err := c.f.Truncate(c.end); err != nil {
				return err
			}
		}
	}
	return nil
}

// commit publishes st: one pwrite of the whole fixed-size state file.
func (l *Log) commit(st *State) error {
	st.Seq++
	img := encodeState(l.stateBuf, st)
	l.lastOK = false
	if _, err := l.stateF.WriteAt(img, 0); err != nil {
		return fmt.Errorf("write %s: %w", l.stateF.Name(), err)
	}
	copy(l.lastImage, img)
	l.lastState, l.lastOK = *st, true
	return nil
}

// readState reads the committed state under the flock. When the file
// holds exactly the image this Log committed last, nobody committed since
// (every commit bumps seq) and the state is the one it wrote: no need to
// parse it again.
func (l *Log) readState() (State, error) {
	if l.lastOK {
		if n, _ := l.stateF.ReadAt(l.stateBuf, 0); n == stateFileSize && bytes.Equal(l.stateBuf, l.lastImage) {
			return l.lastState, nil
		}
	}
	return readStateLocked(l.stateF, l.stateBuf)
}

// roll starts a new segment at the log end offset. The old segment's time
// index gets a last entry for its largest timestamp (as Kafka's roll does),
// so retention can read a closed segment's age from its time index. The roll
// is committed before the new files exist; a crash in between leaves a
// state naming a missing segment, which openActive creates.
func (l *Log) roll(st *State) error {
	l.maybeTimeIndex(st)
	if err := l.writeIndexes(); err != nil {
		return err
	}
	l.releasePrealloc(st.ActiveSize)
	resetActive(st, st.LogEndOffset)
	if err := l.commit(st); err != nil {
		return err
	}
	return l.openActive(st.ActiveSegment, st)
}

// resetActive makes st describe an empty active segment at base.
func resetActive(st *State, base int64) {
	st.ActiveSegment = base
	st.ActiveSize = 0
	st.ActiveFirstTimestamp = -1
	st.ActiveMaxTimestamp = -1
	st.ActiveMaxTsOffset = -1
	st.BytesSinceIndex = 0
	st.IndexEntries = 0
	st.TimeIndexEntries = 0
	st.LastTimeIndexTs = -1
}

// scanAndTrack walks the active segment from st.ActiveSize to size,
// accounting for each whole, valid batch that continues the log, and cuts
// the segment at the first one that is not. It returns why it stopped
// (nil when it reached size cleanly).
func (l *Log) scanAndTrack(st *State, size int64) (damage error, err error) {
	pos := st.ActiveSize
	for pos < size {
		var hdr [BatchHeaderSize]byte
		if size-pos < BatchHeaderSize {
			damage = fmt.Errorf("%w: %d stray bytes at the end of %s", ErrCorrupt, size-pos, l.seg.Name())
			break
		}
		if _, err := l.seg.ReadAt(hdr[:], pos); err != nil {
			return nil, err
		}
		h, herr := ParseBatchHeader(hdr[:])
		if herr != nil {
			damage = fmt.Errorf("%w in file %s at position %d", herr, l.seg.Name(), pos)
			break
		}
		n := int64(h.Size())
		if pos+n > size {
			damage = fmt.Errorf("%w: torn batch in file %s at position %d (%d of %d bytes)", ErrCorrupt, l.seg.Name(), pos, size-pos, n)
			break
		}
		if cap(l.scanBuf) < int(n) {
			l.scanBuf = make([]byte, n)
		}
		b := l.scanBuf[:n]
		if _, err := l.seg.ReadAt(b, pos); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if verr := VerifyBatch(b); verr != nil {
			damage = fmt.Errorf("%w in file %s at position %d", verr, l.seg.Name(), pos)
			break
		}
		if h.BaseOffset != st.LogEndOffset || h.RecordCount <= 0 {
			damage = fmt.Errorf("%w: batch in file %s at position %d has offset %d, expected %d", ErrCorrupt, l.seg.Name(), pos, h.BaseOffset, st.LogEndOffset)
			break
		}
		l.track(st, &h, int(n))
		pos += n
	}
	if pos < size {
		if err := l.seg.Truncate(pos); err != nil {
			return damage, err
		}
		l.segAlloc = 0 // the cut freed the reservation too
	}
	return damage, nil
}

// rebuildState recomputes the state from the files when the state file
// cannot be trusted (why says what happened): the last segment is
// rescanned from its start and its indexes rebuilt. The fence and offsets
// that cannot be derived from the log come from the checkpoints and
// leader-epoch-checkpoint. If the log now ends below what the replica had
// that may have been committed (committed, or what the checkpoints say),
// the replica is marked as missing those records and is no longer leader
// (see markLost), and Logf says so.
func (l *Log) rebuildState(committed int64, why string) (State, error) {
	var st State
	cp, err := readCheckpoints(l.dir)
	if err != nil {
		return st, err
	}
	bases, err := listSegments(l.dir)
	if err != nil {
		return st, err
	}
	base := cp.LogStartOffset
	if len(bases) > 0 {
		base = bases[len(bases)-1]
	}
	st.LogStartOffset = cp.LogStartOffset
	if len(bases) > 0 && bases[0] > st.LogStartOffset {
		st.LogStartOffset = bases[0]
	}
	st.LeaderEpoch, st.Leader, st.HighWatermarkFollowsLEO = cp.LeaderEpoch, cp.Leader, cp.HighWatermarkFollowsLEO
	if es, err := ReadLeaderEpochs(l.dir); err == nil && len(es) > 0 && es[len(es)-1].Epoch > st.LeaderEpoch {
		st.LeaderEpoch = es[len(es)-1].Epoch
	}
	if _, err := l.rescan(&st, base); err != nil {
		return st, err
	}
	st.HighWatermark = min(max(cp.HighWatermark, st.LogStartOffset), st.LogEndOffset)
	if st.HighWatermarkFollowsLEO {
		st.HighWatermark = st.LogEndOffset
	}
	st.FlushedOffset = min(cp.RecoveryPoint, st.LogEndOffset)
	st.LostCommittedTo = 0
	st.FollowsEpoch = -1
	if markLost(&st, max(committed, cp.committedEnd())) {
		l.logf("%s: the log, rebuilt from its files, ends at %d, below the %d it had, which may have been committed; no longer leader", why, st.LogEndOffset, st.LostCommittedTo)
	}
	return st, nil
}

// rescan rebuilds the segment at base from scratch: indexes truncated and
// rewritten, the log cut at the first invalid batch. st's active fields
// and log end describe the segment afterwards.
func (l *Log) rescan(st *State, base int64) (damage error, err error) {
	resetActive(st, base)
	st.LogEndOffset = base
	if err := l.openActive(base, st); err != nil {
		return nil, err
	}
	if err := l.idx.Truncate(0); err != nil {
		return nil, err
	}
	if err := l.tidx.Truncate(0); err != nil {
		return nil, err
	}
	fi, err := l.seg.Stat()
	if err != nil {
		return nil, err
	}
	damage, err = l.scanAndTrack(st, fi.Size())
	if err != nil {
		return damage, err
	}
	return damage, l.writeIndexes()
}
