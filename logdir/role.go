package logdir

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

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
		if st.LostCommittedTo > st.LogEndOffset {
			return fmt.Errorf("%w: %s lost offsets %d to %d, which may have been committed", ErrMissingRecords, l.dir, st.LogEndOffset, st.LostCommittedTo-1)
		}
		es, err := l.leaderEpochsLocked(st)
		if err != nil {
			return err
		}
		st.Leader, st.LeaderEpoch, st.HighWatermarkFollowsLEO, st.FollowsEpoch = true, epoch, isrIsLeaderOnly, -1
		if isrIsLeaderOnly {
			st.HighWatermark = max(st.HighWatermark, st.LogEndOffset)
		}
		return assignEpoch(l.dir, es, epoch, st.LogEndOffset)
	})
	if err != nil {
		return err
	}
	return writeRoleCheckpoints(l.dir, checkpointsOf(&st))
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
		if st.Leader || epoch != st.LeaderEpoch {
			st.FollowsEpoch = -1
		}
		st.Leader, st.LeaderEpoch, st.HighWatermarkFollowsLEO = false, epoch, false
		return nil
	})
	if err != nil {
		return err
	}
	return writeRoleCheckpoints(l.dir, checkpointsOf(&st))
}

// writeRoleCheckpoints writes the checkpoints file after a change of
// role, replaced atomically but not fsynced: a failover waits on every
// role change (the controller's fence, the new leader, its followers), and
// the role is not what the file keeps for a crash of the machine (the
// metadata says who leads at which epoch, and an epoch a replica lost is
// taken up again from it; leader-epoch-checkpoint, which truncation reads,
// keeps its fsync). The periodic checkpoint and a clean shutdown make it
// durable.
func writeRoleCheckpoints(dir string, c Checkpoints) error {
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.WriteString(c.text())
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, checkpointName))
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// SetFollowing records that this follower, at epoch, has checked its log
// against its leader's at that epoch (cut its divergent suffix): from now
// on its log end counts towards the leader's high watermark.
func (l *Log) SetFollowing(epoch int32) error {
	_, err := l.withState(func(st *State) error {
		if st.Leader || st.LeaderEpoch != epoch {
			return fmt.Errorf("%w: %s is not a follower at epoch %d", ErrFenced, l.dir, epoch)
		}
		st.FollowsEpoch = epoch
		return nil
	})
	return err
}

// ClearLostCommitted forgets that the replica lost committed records
// (State.LostCommittedTo): either it holds every committed record again
// (it caught up with a leader elected from the ISR), or an unclean
// election made it leader and the partition accepts the loss.
func (l *Log) ClearLostCommitted() error {
	st, err := l.withState(func(st *State) error {
		st.LostCommittedTo = 0
		return nil
	})
	if err != nil {
		return err
	}
	return writeCheckpoints(l.dir, checkpointsOf(&st))
}

// Check makes sure the committed state agrees with the files, as every
// append does first: a broker calls it now and then on replicas that take
// no appends, so that committed bytes gone from under it (an active
// segment deleted or cut) are noticed. The files are looked at without
// the lock first; only when something is off is the lock taken (waiting
// at most checkLockWait: a process stopped while holding it must not
// stall the broker), and the state repaired and committed (see
// State.LostCommittedTo). It returns the state, repaired or not.
func (l *Log) Check() (State, error) {
	st, err := l.State()
	if err == nil {
		fi, serr := os.Stat(segmentPath(l.dir, st.ActiveSegment, logSuffix))
		l.mu.Lock()
		ok := serr == nil && fi.Size() >= st.ActiveSize
		if ok && l.seg != nil && l.segBase == st.ActiveSegment {
			_, nlink, err := statOf(l.seg)
			ok = err == nil && nlink > 0
		}
		l.mu.Unlock()
		if ok {
			return st, nil
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.acquireWithin(checkLockWait); err != nil {
		return State{}, err
	}
	defer l.lock.Unlock()
	st, err = l.loadTail()
	if err != nil {
		return st, err
	}
	return st, writeCheckpoints(l.dir, checkpointsOf(&st))
}

// checkLockWait bounds Check's wait for the partition lock.
const checkLockWait = 2 * time.Second

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

// SetLeaderHighWatermark is SetHighWatermark for a leader: it moves the
// high watermark only while the replica is the leader at epoch, checked
// under the lock. A leader that was stopped while the controller fenced
// its replica and elected another (a zombie) fails with ErrFenced or
// ErrNotLeader instead of committing offsets that the new leader may
// have overwritten.
func (l *Log) SetLeaderHighWatermark(epoch int32, hw int64) (State, error) {
	return l.withState(func(st *State) error {
		if !st.Leader {
			return fmt.Errorf("%w: %s", ErrNotLeader, l.dir)
		}
		if st.LeaderEpoch != epoch {
			return fmt.Errorf("%w: %s is at leader epoch %d, not %d", ErrFenced, l.dir, st.LeaderEpoch, epoch)
		}
		hw = min(hw, st.LogEndOffset)
		if hw > st.HighWatermark {
			st.HighWatermark = hw
		}
		return nil
	})
}

// LeaderEpochs returns the replica's leader-epoch list, read under the
// partition lock: a damaged leader-epoch-checkpoint is rebuilt from the
// log (and reported through Logf).
func (l *Log) LeaderEpochs() ([]EpochEntry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.acquire(); err != nil {
		return nil, err
	}
	defer l.lock.Unlock()
	st, err := l.loadTail()
	if err != nil {
		return nil, err
	}
	return l.leaderEpochsLocked(&st)
}

// Checkpoint writes the checkpoints file from the committed state, as a
// broker does periodically and at a clean shutdown, and, when idempotent
// producers write to the partition, their state as a snapshot at the log
// end offset (see SnapshotProducers; the state first catches up with what
// other processes appended), so that a restart after a crash, or the next
// process that loads the state, replays less of the log. A partition no
// idempotent producer writes to gets its snapshots at rolls and at a clean
// shutdown only: a broker with thousands of busy partitions would
// otherwise fsync thousands of files a minute for nothing.
func (l *Log) Checkpoint() error {
	st, err := l.State()
	if err != nil {
		return err
	}
	if err := writeCheckpoints(l.dir, checkpointsOf(&st)); err != nil {
		return err
	}
	return l.snapshotProducers(true)
}
