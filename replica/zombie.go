package replica

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"mk/coord"
	"mk/logdir"
)

// The zombie leader (issue 9, design decision 7).
//
// A broker stopped (SIGSTOP, or starved) while it leads keeps its locks,
// its role in memory and, if it was stopped in the middle of an append,
// its replica's lock. The controller does not wait for any of them: once
// the broker's heartbeat is a session timeout old it elects another
// leader at a higher epoch, fencing the old leader's replica file if its
// lock is free and publishing the new epoch either way (Fence). When the
// broker wakes it is a zombie until it has read the new metadata, and
// three rules keep it harmless:
//
//   - It acknowledges nothing as a leader while it may have been judged
//     failed: after a gap of half a session timeout between its heartbeats
//     (or with no heartbeat for that long now) it first reads the metadata
//     again, and answers NOT_LEADER_OR_FOLLOWER if its leadership moved
//     (checkLease, before every acknowledgement of a produce).
//   - Its high watermark counts only followers at its own epoch (see
//     leading.followerState): the followers of the new leader are at the
//     new one, so nothing it appended after the election is committed.
//   - It truncates as a follower of the new leader (KIP-101) once it
//     applies the new role.
//
// So the file fence is an accelerator, not a requirement: a zombie whose
// replica was fenced refuses its next append at once, and one whose lock
// was busy finds out through its lease. A zombie stopped between its
// check and the write of its answer can still answer acks=1 for a record
// that the new leader's followers will truncate: Kafka's acks=1 makes the
// same promise (the record is in the leader's log, not committed).

// freshness tracks the manager's reconciliations, so that a zombie can
// wait for one that read the metadata after it woke.
type freshness struct {
	mu       sync.Mutex
	started  uint64        // reconciliations started
	finished uint64        // the number of the latest one finished
	done     chan struct{} // closed when one finishes
	// gapsSeen is the lease's gap count when the latest finished
	// reconciliation started: gaps up to it are answered by the metadata
	// it read.
	gapsSeen atomic.Uint64
	// poke asks Run for a reconciliation now.
	poke chan struct{}
}

// reconcileStarting records that a reconciliation starts; it returns its
// number and the lease's gap count, for reconcileFinished.
func (m *Manager) reconcileStarting() (n, gaps uint64) {
	if m.opts.Lease != nil {
		_, gaps = m.opts.Lease()
	}
	m.fresh.mu.Lock()
	defer m.fresh.mu.Unlock()
	m.fresh.started++
	return m.fresh.started, gaps
}

// reconcileFinished records that reconciliation n, started when the
// lease had seen gaps, is done.
func (m *Manager) reconcileFinished(n, gaps uint64) {
	m.fresh.mu.Lock()
	defer m.fresh.mu.Unlock()
	m.fresh.finished = n
	m.fresh.gapsSeen.Store(gaps)
	if m.fresh.done != nil {
		close(m.fresh.done)
		m.fresh.done = nil
	}
}

// leaseFresh reports whether nothing suggests that this broker was
// judged failed since it last read the metadata: no gap between its
// heartbeats since then, and a heartbeat younger than the lease's slack.
func (m *Manager) leaseFresh() bool {
	if m.opts.Lease == nil {
		return true
	}
	beat, gaps := m.opts.Lease()
	return gaps == m.fresh.gapsSeen.Load() && time.Since(beat) < m.opts.LeaseSlack
}

// metadataWait bounds a zombie's wait for a reconciliation.
const metadataWait = 5 * time.Second

// awaitMetadata asks for a reconciliation and waits until one that
// started after the call has finished.
func (m *Manager) awaitMetadata() error {
	m.fresh.mu.Lock()
	want := m.fresh.started + 1
	m.fresh.mu.Unlock()
	select {
	case m.fresh.poke <- struct{}{}:
	default: // one is asked for already
	}
	timer := time.NewTimer(metadataWait)
	defer timer.Stop()
	for {
		m.fresh.mu.Lock()
		if m.fresh.finished >= want {
			m.fresh.mu.Unlock()
			return nil
		}
		if m.fresh.done == nil {
			m.fresh.done = make(chan struct{})
		}
		done := m.fresh.done
		m.fresh.mu.Unlock()
		select {
		case <-done:
		case <-timer.C:
			return fmt.Errorf("the metadata was not read again within %v", metadataWait)
		}
	}
}

// checkLease is the zombie's self-check before it acknowledges a batch it
// appended at epoch as the leader of r: when its lease is not fresh it
// reads the metadata again first, and fails with ErrNotLeader unless the
// replica still leads at epoch, in the metadata and in its state file.
//
// A fresh lease may be fresh because a reconciliation since the gap read
// the metadata: the role it applied is checked either way.
func (m *Manager) checkLease(r *replica, epoch int32) error {
	fresh := m.leaseFresh()
	if !fresh {
		if err := m.awaitMetadata(); err != nil {
			return fmt.Errorf("%w: this broker was stopped or stalled for half its session timeout and %v", ErrNotLeader, err)
		}
	}
	role := r.applied.Load()
	if role == nil || !role.IsLeader || role.LeaderEpoch != epoch {
		leader, now := coord.NoLeader, int32(-1)
		if role != nil {
			leader, now = role.Leader, role.LeaderEpoch
		}
		return fmt.Errorf("%w: leadership of %s-%d moved from epoch %d to broker %d at epoch %d before the append was acknowledged", ErrNotLeader, r.topic, r.partition, epoch, leader, now)
	}
	if fresh {
		return nil
	}
	st, err := r.log.State()
	if err != nil {
		return err
	}
	if !st.Leader || st.LeaderEpoch != epoch {
		return fmt.Errorf("%w: this broker was stopped or stalled for half its session timeout, and its replica of %s-%d was fenced at epoch %d meanwhile", ErrNotLeader, r.topic, r.partition, st.LeaderEpoch)
	}
	return nil
}

// fenceLockWait is how long Fence waits for the lock of a replica whose
// broker is not alive: a dead broker's lock is free (the kernel dropped
// it), so only a stopped broker's is held, and for as long as it stays
// stopped.
const fenceLockWait = 20 * time.Millisecond

// fenceLockWaitAlive is how long Fence waits for the lock of a replica
// whose broker is alive (a preferred leader election, a damaged leader):
// it lets go after its append.
const fenceLockWaitAlive = 2 * time.Second

// Fence is the controller's OnLeaderChange hook: before a new leader is
// published, the old leader's replica is moved to the new epoch as a
// follower, so that its broker, if it is only stopped (a zombie), appends
// nothing more under the old epoch when it wakes (it checks the fence
// under the lock before every append). The old leader's files are fenced
// even when its broker is dead.
//
// A broker stopped in the middle of an append holds its replica's lock
// for as long as it is stopped. When the old leader's broker is not alive
// and its lock stays busy, Fence leaves the file as it is and lets the
// controller publish: the zombie learns of the new epoch from its lease
// and the metadata, and cannot commit without followers at its epoch (see
// the rules above). A live broker's lock is waited for (it lets go after
// its append); if it stays busy the controller tries again on its next
// pass.
func (m *Manager) Fence(topic string, partition, oldLeader, newLeader, newEpoch int) error {
	if oldLeader == coord.NoLeader {
		return nil
	}
	dir := m.c.PartitionDir(oldLeader, topic, partition)
	l, err := logdir.Open(dir, logdir.Config{})
	if errors.Is(err, os.ErrNotExist) {
		return nil // never created: nothing to fence
	}
	if err != nil {
		return err
	}
	defer l.Close()
	alive := m.c.BrokerAlive(oldLeader)
	l.LockTimeout = fenceLockWait
	if alive {
		l.LockTimeout = fenceLockWaitAlive
	}
	err = l.BecomeFollower(int32(newEpoch))
	if errors.Is(err, logdir.ErrLockTimeout) && !alive {
		m.opts.Logf("%s-%d: broker %d, not alive, holds its replica's lock (stopped in the middle of an append): not fencing its files; it finds epoch %d in the metadata before it acknowledges anything", topic, partition, oldLeader, newEpoch)
		return nil
	}
	return err
}
