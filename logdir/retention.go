package logdir

import (
	"errors"
	"os"
)

// RetentionResult says what DeleteRetained removed.
type RetentionResult struct {
	Segments       []int64 // base offsets of the deleted segments
	Bytes          int64
	LogStartOffset int64 // after deletion
}

// DeleteRetained deletes whole segments from the start of the log while
// the oldest is past retention.ms (by its largest timestamp) or the log is
// larger than retention.bytes, as Kafka's deleteOldSegments does. It never
// deletes the active segment nor a segment holding offsets at or above the
// high watermark. The log start offset moves to the first segment kept and
// is committed (state and checkpoints) before any file is unlinked, so a
// reader either sees the old start and can still open the files it needs,
// or sees the new start and gets ErrOffsetOutOfRange below it. A reader
// that already has a deleted file open keeps reading it: Unix unlinks do
// not pull data from open descriptors.
func (l *Log) DeleteRetained(nowMs int64) (RetentionResult, error) {
	var res RetentionResult
	var victims []int64
	st, err := l.withState(func(st *State) error {
		victims = victims[:0]
		res = RetentionResult{LogStartOffset: st.LogStartOffset}
		bases, err := listSegments(l.dir)
		if err != nil {
			return err
		}
		var total int64
		sizes := make([]int64, len(bases))
		for i, b := range bases {
			if fi, err := os.Stat(segmentPath(l.dir, b, logSuffix)); err == nil {
				sizes[i] = fi.Size()
				total += sizes[i]
			}
		}
		for i := 0; i+1 < len(bases); i++ {
			next := bases[i+1] // the segment ends where the next begins
			if bases[i] == st.ActiveSegment || next > st.HighWatermark {
				break
			}
			byTime := l.cfg.RetentionMs >= 0 && nowMs-segmentMaxTimestamp(l.dir, bases[i]) > l.cfg.RetentionMs
			bySize := l.cfg.RetentionBytes >= 0 && total-sizes[i] >= l.cfg.RetentionBytes
			if !byTime && !bySize {
				break
			}
			victims = append(victims, bases[i])
			total -= sizes[i]
			res.Bytes += sizes[i]
			st.LogStartOffset = max(st.LogStartOffset, next)
		}
		res.Segments = victims
		res.LogStartOffset = st.LogStartOffset
		return nil
	})
	if err != nil || len(victims) == 0 {
		return res, err
	}
	if err := writeCheckpoints(l.dir, checkpointsOf(&st)); err != nil {
		return res, err
	}
	for _, b := range victims {
		for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			if err := os.Remove(segmentPath(l.dir, b, suffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return res, err
			}
		}
	}
	// The snapshots of the deleted segments: a state loaded from one
	// could not be completed, the batches after it being gone. The
	// producers in memory stay until they expire, as in Kafka, and the
	// snapshot at the new log start keeps them for a restart.
	if err := removeSnapshots(l.dir, func(o int64) bool { return o < res.LogStartOffset }); err != nil {
		return res, err
	}
	return res, nil
}

// segmentMaxTimestamp is a closed segment's largest timestamp: the last
// time-index entry (roll writes one), else the file's mtime as Kafka falls
// back to.
func segmentMaxTimestamp(dir string, base int64) int64 {
	tidx, err := readWhole(segmentPath(dir, base, timeIndexSuffix), nil, timeIndexEntrySize)
	if err == nil && len(tidx) >= timeIndexEntrySize {
		return getTimeIndexEntry(tidx[len(tidx)-timeIndexEntrySize:]).Timestamp
	}
	if fi, err := os.Stat(segmentPath(dir, base, logSuffix)); err == nil {
		return fi.ModTime().UnixMilli()
	}
	return -1
}
