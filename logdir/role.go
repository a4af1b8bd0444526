package logdir

import "fmt"

// withState runs fn on the reconciled state under the partition lock and
// commits the result if fn returns nil.
func (l *Log) withState(fn func(st *State) error) (State, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.acquire(); err != nil {
		return State{}, err
	}
	defer l.lock.Unlock()
	st, err := l.loadTail()
	if err != nil {
		return st, err
	}
	if err := fn(&st); err != nil {
		return st, err
	}
	return st, l.commit(&st)
}

// State reads the committed state without taking the lock.
func (l *Log) State() (State, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return readStateFile(l.stateF, l.stateBuf)
}

// BecomeLeader makes this replica the leader at epoch: producers that
// present epoch may append from now on. When the ISR is this replica alone,
// appends commit at once (the appender moves the high watermark). The new
// epoch is recorded as starting at the log end offset, as Kafka's makeLeader
// does, so that followers can truncate a divergent suffix against it.
func (l *Log) BecomeLeader(epoch int32, isrIsLeaderOnly bool) error {
	st, err := l.withState(func(st *State) error {
		if epoch < st.LeaderEpoch {
			return fmt.Errorf("%w: %s is at epoch %d, cannot lead at %d", ErrFenced, l.dir, st.LeaderEpoch, epoch)
		}
		st.Leader, st.LeaderEpoch, st.HighWatermarkFollowsLEO = true, epoch, isrIsLeaderOnly
		if isrIsLeaderOnly {
			st.HighWatermark = max(st.HighWatermark, st.LogEndOffset)
		}
		return assignEpoch(l.dir, epoch, st.LogEndOffset)
	})
	if err != nil {
		return err
	}
	return writeCheckpoints(l.dir, checkpointsOf(&st))
}

// BecomeFollower fences the replica at epoch: an appender that still
// expects an older epoch now fails with ErrFenced, and producers cannot
// append to it at all. The controller calls it on a failed leader's replica
// (the files are there even when its broker is dead) before it publishes
// the new leader.
func (l *Log) BecomeFollower(epoch int32) error {
	st, err := l.withState(func(st *State) error {
		if epoch < st.LeaderEpoch {
			return fmt.Errorf("%w: %s is at epoch %d, not going back to %d", ErrFenced, l.dir, st.LeaderEpoch, epoch)
		}
		st.Leader, st.LeaderEpoch, st.HighWatermarkFollowsLEO = false, epoch, false
		return nil
	})
	if err != nil {
		return err
	}
	return writeCheckpoints(l.dir, checkpointsOf(&st))
}

// SetHighWatermark moves the high watermark up to hw (bounded by the log
// end offset). It never moves it back: consumers may have read below it.
func (l *Log) SetHighWatermark(hw int64) (State, error) {
	return l.withState(func(st *State) error {
		hw = min(hw, st.LogEndOffset)
		if hw > st.HighWatermark {
			st.HighWatermark = hw
		}
		return nil
	})
}

// Checkpoint writes the checkpoints file from the committed state, and the
// idempotent producers' state as a snapshot at the log end offset (see
// SnapshotProducers), as a broker does periodically and at a clean
// shutdown.
func (l *Log) Checkpoint() error {
	st, err := l.State()
	if err != nil {
		return err
	}
	if err := writeCheckpoints(l.dir, checkpointsOf(&st)); err != nil {
		return err
	}
	return l.SnapshotProducers()
}
