package logdir

import (
	"errors"
	"fmt"
	"os"
)

// AdvanceLogStart moves the log start offset up to offset, as Kafka's
// maybeIncrementLogStartOffset does for DeleteRecords on a leader and for a
// follower following its leader's log start:
//
//   - records below the new start are no longer readable (a Reader answers
//     ErrOffsetOutOfRange below it), though the batch that holds the start
//     may still begin before it;
//   - the leader-epoch list forgets the epochs that ended before the start
//     and the epoch holding it starts there (Kafka's
//     LeaderEpochFileCache.truncateFromStart), so that ListOffsets earliest
//     and OffsetForLeaderEpoch answer from what the log still holds;
//   - the segments that hold nothing at or above the start are deleted
//     (Kafka leaves that to its retention thread; doing it at once frees the
//     disk when the client asks).
//
// A leader passes its leaderEpoch: the replica must still lead at that
// epoch (ErrNotLeader, ErrFenced); a follower passes -1.
//
// The start never moves back, and never past the high watermark: records
// that consumers may not see yet cannot be deleted (ErrOffsetOutOfRange, as
// Kafka answers). As in DeleteRetained, the new start is committed (state
// and checkpoints) before any file is unlinked, so a reader either sees the
// old start and can still open the files it needs, or the new one.
func (l *Log) AdvanceLogStart(offset int64, leaderEpoch int32) (State, error) {
	var victims []int64
	st, err := l.withState(func(st *State) error {
		victims = victims[:0]
		if leaderEpoch >= 0 && !st.Leader {
			return fmt.Errorf("%w: %s", ErrNotLeader, l.dir)
		}
		if leaderEpoch >= 0 && st.LeaderEpoch != leaderEpoch {
			return fmt.Errorf("%w: %s is at leader epoch %d, expected %d", ErrFenced, l.dir, st.LeaderEpoch, leaderEpoch)
		}
		if offset > st.HighWatermark {
			return fmt.Errorf("%w: cannot move the log start of %s to %d, past the high watermark %d", ErrOffsetOutOfRange, l.dir, offset, st.HighWatermark)
		}
		if offset <= st.LogStartOffset {
			return errNothingToDo
		}
		st.LogStartOffset = offset
		bases, err := listSegments(l.dir)
		if err != nil {
			return err
		}
		for i := 0; i+1 < len(bases); i++ {
			if bases[i] == st.ActiveSegment || bases[i+1] > offset {
				break
			}
			victims = append(victims, bases[i])
		}
		return truncateEpochsFromStart(l.dir, offset)
	})
	if errors.Is(err, errNothingToDo) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := writeCheckpoints(l.dir, checkpointsOf(&st)); err != nil {
		return st, err
	}
	for _, b := range victims {
		for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			if err := os.Remove(segmentPath(l.dir, b, suffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return st, err
			}
		}
	}
	// As retention does: a producer snapshot below the log start could not
	// be completed from the log; the producers stay known in memory.
	if err := removeSnapshots(l.dir, func(o int64) bool { return o < st.LogStartOffset }); err != nil {
		return st, err
	}
	return st, nil
}

// errNothingToDo ends a withState without a commit.
var errNothingToDo = errors.New("nothing to do")

// truncateEpochsFromStart is Kafka's LeaderEpochFileCache.truncateFromStart:
// entries starting at or before start are dropped, and the last of them is
// kept, starting at start (the epoch that wrote the record at start).
func truncateEpochsFromStart(dir string, start int64) error {
	es, err := ReadLeaderEpochs(dir)
	if err != nil {
		return err
	}
	n := 0
	for n < len(es) && es[n].StartOffset <= start {
		n++
	}
	if n == 0 || n == 1 && es[0].StartOffset == start {
		return nil
	}
	kept := append([]EpochEntry{{es[n-1].Epoch, start}}, es[n:]...)
	return writeLeaderEpochs(dir, kept)
}
