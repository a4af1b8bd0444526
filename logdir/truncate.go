package logdir

import (
	"errors"
	"fmt"
	"os"
)

// TruncateTo removes every batch holding offsets at or after offset, as a
// follower does to a suffix that diverges from its new leader (KIP-101).
// The cut is at the start of the batch holding offset, so the new log end
// offset is that batch's base offset (epoch boundaries, where followers cut,
// are batch boundaries). It returns the new log end offset. Later segments
// are removed whole; the high watermark and the leader-epoch list follow the
// log end down.
func (l *Log) TruncateTo(offset int64) (int64, error) {
	st, err := l.withState(func(st *State) error {
		if offset >= st.LogEndOffset {
			return nil
		}
		if offset < st.LogStartOffset {
			offset = st.LogStartOffset
		}
		bases, err := listSegments(l.dir)
		if err != nil {
			return err
		}
		keep := int64(-1) // the segment that will be active
		for _, b := range bases {
			if b < offset || b == offset && keep < 0 {
				keep = b
			}
		}
		if keep < 0 {
			keep = offset
		}
		for _, b := range bases {
			if b > keep {
				for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
					if err := os.Remove(segmentPath(l.dir, b, suffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
						return err
					}
				}
			}
		}
		if err := l.openActive(keep, st); err != nil {
			return err
		}
		cut, err := l.batchStart(keep, offset)
		if err != nil {
			return err
		}
		if err := l.seg.Truncate(cut); err != nil {
			return fmt.Errorf("truncate %s: %w", l.seg.Name(), err)
		}
		l.segAlloc = 0 // the cut freed the reservation too
		if _, err := l.rescan(st, keep); err != nil {
			return err
		}
		st.HighWatermark = min(st.HighWatermark, st.LogEndOffset)
		st.FlushedOffset = min(st.FlushedOffset, st.LogEndOffset)
		es, err := l.leaderEpochsLocked(st)
		if err != nil {
			return err
		}
		if kept := trimEpochs(es, st.LogEndOffset); len(kept) != len(es) {
			if err := writeLeaderEpochs(l.dir, kept); err != nil {
				return err
			}
		}
		// The producer state of the cut log: snapshots above the cut
		// go, and it is loaded again from those left and the log.
		return l.afterCut(st)
	})
	return st.LogEndOffset, err
}

// batchStart returns the position in segment base of the batch holding
// offset (or of the first batch after it), scanning from the offset index.
func (l *Log) batchStart(base, offset int64) (int64, error) {
	idx, err := readWhole(segmentPath(l.dir, base, indexSuffix), nil, indexEntrySize)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	pos := lookupIndex(idx, base, offset)
	fi, err := l.seg.Stat()
	if err != nil {
		return 0, err
	}
	var hdr [BatchHeaderSize]byte
	for pos+BatchHeaderSize <= fi.Size() {
		if _, err := l.seg.ReadAt(hdr[:], pos); err != nil {
			return 0, err
		}
		h, err := ParseBatchHeader(hdr[:])
		if err != nil || h.LastOffset() >= offset {
			return pos, nil
		}
		pos += int64(h.Size())
	}
	return min(pos, fi.Size()), nil
}

// EndOffsetForEpoch answers Kafka's OffsetsForLeaderEpoch for a follower
// whose latest epoch is epoch: the largest epoch of this log at or below
// it, and the offset where that epoch ended here (the start of the next
// epoch, or the log end offset for the latest). A follower truncates to the
// smaller of that and its own log end.
func EndOffsetForEpoch(epochs []EpochEntry, logEnd int64, epoch int32) (int32, int64) {
	found := -1
	for i, e := range epochs {
		if e.Epoch <= epoch {
			found = i
		}
	}
	if found < 0 {
		return -1, -1
	}
	if found+1 < len(epochs) {
		return epochs[found].Epoch, epochs[found+1].StartOffset
	}
	return epochs[found].Epoch, logEnd
}

// Reset empties the log and starts it again at offset: a follower whose
// leader's retention passed its log end starts over at the leader's log
// start.
func (l *Log) Reset(offset int64) error {
	st, err := l.withState(func(st *State) error {
		bases, err := listSegments(l.dir)
		if err != nil {
			return err
		}
		l.closeSegment()
		for _, b := range bases {
			for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
				if err := os.Remove(segmentPath(l.dir, b, suffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
		}
		resetActive(st, offset)
		st.LogStartOffset, st.LogEndOffset, st.HighWatermark, st.FlushedOffset = offset, offset, offset, offset
		// Kafka's truncateFullyAndStartAt: no producer is known in an
		// empty log.
		if err := removeSnapshots(l.dir, func(int64) bool { return true }); err != nil {
			return err
		}
		if l.producers != nil {
			l.producers = newProducerState(offset)
		}
		return l.openActive(offset, st)
	})
	if err != nil {
		return err
	}
	return writeCheckpoints(l.dir, checkpointsOf(&st))
}
