package replica

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"mk/coord"
	"mk/logdir"
)

// follow copies the leader's batches into r, byte for byte, as long as ctx
// lives; p is the partition as published (its leader and epoch). Before
// copying under a new epoch it truncates a suffix that diverges from the
// leader's log (KIP-101): its own latest epoch is looked up in the
// leader's leader-epoch-checkpoint, and r is cut to where that epoch ended
// on the leader. It reads the leader's replica directly, up to the
// leader's log end offset, and keeps its own high watermark at the
// leader's (bounded by what it has), moved with each copy and when the
// leader has committed everything, so it lags the leader's by at most the
// batches in flight, as a Kafka follower's lags by a fetch.
//
// It never truncates below its own high watermark, which only moves to
// records known committed, because the leader is shorter: such a leader
// lacks committed records (its log was damaged without its broker telling).
// The follower then refuses, says so, keeps its records and lists the
// leader as damaged, so that the controller elects a replica that holds
// them. Only after an unclean election (p.LastUncleanEpoch newer than its
// own latest epoch) may it truncate committed records, as the partition
// then accepted their loss.
func (m *Manager) follow(ctx context.Context, r *replica, p coord.Partition) {
	leader, epoch := p.Leader, int32(p.LeaderEpoch)
	leaderDir := m.c.PartitionDir(leader, r.topic, r.partition)
	wake := coord.Watch(ctx, []string{filepath.Join(leaderDir, "state")}, m.opts.Backstop)
	var rd *logdir.Reader
	defer func() {
		if rd != nil {
			rd.Close()
		}
	}()
	truncated := false
	refused := "" // the refusal last logged
	for {
		caughtUp, err := func() (bool, error) {
			copied := false // batches appended in this pass
			if rd == nil {
				var err error
				if rd, err = logdir.OpenReader(leaderDir); err != nil {
					return true, nil // the leader has not created its replica yet
				}
			}
			lst, err := leaderState(rd)
			if err != nil || lst == nil {
				return true, err
			}
			if !lst.Leader || lst.LeaderEpoch != epoch {
				return true, nil // the leader has not taken the epoch yet (or stepped down)
			}
			if !truncated {
				ok, err := m.truncateDivergent(r, p, leaderDir, *lst, &refused)
				if err != nil || !ok {
					return true, err
				}
				// Checked against the leader: its log end counts now.
				if err := r.log.SetFollowing(epoch); err != nil {
					return true, err
				}
				truncated = true
			}
			my, err := r.log.State()
			if err != nil {
				return true, err
			}
			if my.LogEndOffset > lst.LogEndOffset {
				if !m.mayTruncate(r, p, *lst, my, lst.LogEndOffset, &refused) {
					return true, nil
				}
				_, err := r.log.TruncateTo(lst.LogEndOffset)
				return false, err
			}
			if my.LogEndOffset < lst.LogStartOffset {
				// Retention on the leader removed what we would copy
				// next: start over at the leader's log start.
				m.opts.Logf("%s: behind the leader's log start %d; starting over there", r.dir, lst.LogStartOffset)
				if err := r.log.Reset(lst.LogStartOffset); err != nil {
					return true, err
				}
				return false, nil
			}
			if my.LogEndOffset < lst.LogEndOffset {
				// Unchecked here: AppendVerbatim checks every CRC
				// before it writes, once for the whole way.
				bp := copyBuffers.Get().(*[]byte)
				defer copyBuffers.Put(bp)
				buf, _, err := rd.ReadForCopy((*bp)[:0], my.LogEndOffset, lst.LogEndOffset, copyBytes)
				*bp = buf[:0]
				if errors.Is(err, logdir.ErrOffsetOutOfRange) {
					return false, nil // moved under us: look again
				}
				if err != nil {
					return true, err
				}
				if len(buf) > 0 {
					// With the leader's high watermark as far as the
					// copy reaches, in the same write of the state
					// file (each write wakes the leader).
					if _, err := r.log.AppendVerbatimHW(buf, lst.HighWatermark); err != nil {
						return true, err
					}
					copied = true
				}
			}
			my, err = r.log.State()
			if err != nil {
				return true, err
			}
			// The leader's high watermark, as far as this replica has the
			// records. Taken with a copy (in the append's own commit,
			// above: nothing is left to write here then), when the
			// leader has committed all it has, or when the leader's log
			// start is ahead (it follows below, bounded by this high
			// watermark, and DeleteRecords waits for it). Not on its own
			// otherwise while the leader still waits for a copy (ours
			// came, another ISR member's has not): each such write woke
			// the leader for a pass that moved nothing, one per batch
			// under a stream, and the leader's state is written again,
			// waking this follower, when its high watermark moves on.
			hw := min(lst.HighWatermark, my.LogEndOffset)
			if hw > my.HighWatermark && (copied || lst.HighWatermark >= lst.LogEndOffset || lst.LogStartOffset > my.LogStartOffset) {
				if my, err = r.log.SetHighWatermark(hw); err != nil {
					return true, err
				}
			}
			// Follow the leader's log start (moved by retention or
			// DeleteRecords), as Kafka's follower does with the one its
			// fetch responses carry; never past what is committed here.
			if start := min(lst.LogStartOffset, my.HighWatermark); start > my.LogStartOffset {
				if my, err = r.log.AdvanceLogStart(start, -1); err != nil {
					return true, err
				}
				r.changed.notify()
			}
			if lacksCommitted(my) && my.LogEndOffset >= lst.LogEndOffset {
				// Caught up with a leader elected from the ISR (or by an
				// unclean election, which accepted the loss): it holds
				// every committed record there is.
				if err := r.log.ClearLostCommitted(); err != nil {
					return true, err
				}
			}
			return my.LogEndOffset >= lst.LogEndOffset, nil
		}()
		if err != nil {
			m.opts.Logf("%s: following broker %d: %v", r.dir, leader, err)
		}
		if caughtUp || err != nil {
			select {
			case <-ctx.Done():
				return
			case <-wake:
			}
		} else if ctx.Err() != nil {
			return
		}
	}
}

// newStateGrace is how long a leader's state file may stay empty and still
// be one being created rather than damage. A partition's state file is
// created empty (logdir.Recover) and written, whole, at once after: a
// follower that opens it in between reads nothing, which is a replica not
// created yet. The file is never empty again (rewrites are one pwrite of
// the whole image), so an empty one older than this is damage, said so.
const newStateGrace = 10 * time.Second

// leaderState reads the leader's state through rd; nil, nil while the
// file is new and still empty (see newStateGrace): the write of its first
// image wakes the follower. An image that fails to read is re-read once
// when the file has content by then: it was written since the read.
func leaderState(rd *logdir.Reader) (*logdir.State, error) {
	st, err := rd.State()
	if errors.Is(err, logdir.ErrBadState) {
		fi, serr := os.Stat(rd.StatePath())
		switch {
		case serr != nil:
		case fi.Size() == 0 && time.Since(fi.ModTime()) < newStateGrace:
			return nil, nil
		case fi.Size() > 0:
			st, err = rd.State()
		}
	}
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// copyBytes is about the most a follower copies from its leader in one
// read and append (at least one whole batch, however large).
const copyBytes = 1 << 20

// copyBuffers holds the followers' copy buffers: a broker needs one per
// partition being copied at the moment, not one per partition it follows
// (a megabyte each, kept for the broker's life).
var copyBuffers = sync.Pool{New: func() any { return new([]byte) }}

// truncateDivergent applies KIP-101 (with KIP-279's correction): cut r to
// where its latest epoch ended on the leader; when the leader's log has
// only an older epoch than that, to where that older epoch ends in both
// logs. It reports false when it refused to truncate (see mayTruncate).
func (m *Manager) truncateDivergent(r *replica, p coord.Partition, leaderDir string, lst logdir.State, refused *string) (bool, error) {
	mine, err := r.log.LeaderEpochs()
	if err != nil || len(mine) == 0 {
		return err == nil, err
	}
	theirs, err := logdir.ReadLeaderEpochs(leaderDir)
	if errors.Is(err, logdir.ErrBadState) {
		// Derived data: what it should say is in the leader's batches.
		if theirs, err = logdir.ScanLeaderEpochs(leaderDir); err == nil {
			m.opts.Logf("%s: the leader's leader-epoch-checkpoint is damaged; read its epochs from its log instead: %s", r.dir, logdir.FormatEpochs(theirs))
		}
	}
	if err != nil {
		return false, err
	}
	st, err := r.log.State()
	if err != nil {
		return false, err
	}
	latest := mine[len(mine)-1].Epoch
	e, end := logdir.EndOffsetForEpoch(theirs, lst.LogEndOffset, latest)
	switch {
	case e < 0:
		end = 0 // the leader has no epoch as old as ours: nothing is common
	case e < latest:
		// The leader never had our latest epoch: our records of the
		// epochs after e are not its; cut where e ends here too.
		_, myEnd := logdir.EndOffsetForEpoch(mine, st.LogEndOffset, e)
		end = min(end, myEnd)
	}
	if end >= st.LogEndOffset {
		return true, nil
	}
	if !m.mayTruncate(r, p, lst, st, end, refused) {
		return false, nil
	}
	m.opts.Logf("%s: truncating divergent suffix from %d to %d", r.dir, st.LogEndOffset, end)
	_, err = r.log.TruncateTo(end)
	return err == nil, err
}

// mayTruncate decides whether follower r (state my) may cut its log to
// offset to follow leader p.Leader (state lst). Not below its own high
// watermark, unless an unclean election since its latest epoch accepted
// the loss of committed records: it then refuses, says so once, and lists
// the leader as damaged in the metadata (while the partition is still at
// that leader epoch), so that the controller elects a replica that holds
// the records.
func (m *Manager) mayTruncate(r *replica, p coord.Partition, lst, my logdir.State, to int64, refused *string) bool {
	if to >= my.HighWatermark {
		return true
	}
	latest := int32(-1)
	if es, err := r.log.LeaderEpochs(); err == nil && len(es) > 0 {
		latest = es[len(es)-1].Epoch
	}
	if int32(p.LastUncleanEpoch) > latest {
		m.opts.Logf("%s: truncating to %d, below the high watermark %d this replica had seen: the unclean election at epoch %d accepted the loss of those records", r.dir, to, my.HighWatermark, p.LastUncleanEpoch)
		return true
	}
	msg := fmt.Sprintf("%s: REFUSING TO TRUNCATE to %d, below the high watermark %d this replica had seen: the leader, broker %d at epoch %d, ends at %d and lacks committed records; keeping them and not following it", r.dir, to, my.HighWatermark, p.Leader, p.LeaderEpoch, lst.LogEndOffset)
	if *refused != msg {
		m.opts.Logf("%s", msg)
		*refused = msg
		d := coord.DamagedReplica{Broker: p.Leader, LogEndOffset: lst.LogEndOffset, HighWatermark: my.HighWatermark}
		if changed, err := m.c.ReportDamagedReplica(r.topic, r.topicID, r.partition, d, p.LeaderEpoch); err != nil {
			m.opts.Logf("%s: list broker %d as damaged: %v", r.dir, p.Leader, err)
		} else if changed {
			m.opts.Logf("%s: listed broker %d's replica as damaged in topic %s's metadata: the controller elects a replica that holds every committed record", r.dir, p.Leader, r.topic)
		}
	}
	return false
}

// lead maintains a leader with followers: the high watermark is the
// smallest log end offset in the ISR; a follower that has caught up joins
// the ISR; one that has not been caught up for ReplicaLagMax leaves it.
// Followers' progress is read from their own state files, watched.
func (m *Manager) lead(ctx context.Context, r *replica, p coord.Partition) {
	ld := m.newLeading(r, p)
	defer ld.close()
	var paths []string
	for _, b := range p.Replicas {
		if b != m.id {
			paths = append(paths, filepath.Join(m.c.PartitionDir(b, r.topic, r.partition), "state"))
		}
	}
	wake := coord.Watch(ctx, paths, m.opts.Backstop)
	for {
		ld.pass()
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
	}
}

// leading is a leader replica with followers, between two passes.
type leading struct {
	m            *Manager
	r            *replica
	p            coord.Partition
	readers      map[int]*logdir.Reader // followers' replicas, read without locks
	lastCaughtUp map[int]time.Time
	// requested is the ISR this leader last wrote: the new ISR comes back
	// through reconcile, which restarts the leader with it, so until then
	// the same change must not be written again.
	requested []int
}

func (m *Manager) newLeading(r *replica, p coord.Partition) *leading {
	ld := &leading{m: m, r: r, p: p, readers: map[int]*logdir.Reader{}, lastCaughtUp: map[int]time.Time{}}
	for _, b := range p.Replicas {
		ld.lastCaughtUp[b] = time.Now()
	}
	return ld
}

func (ld *leading) close() {
	for _, rd := range ld.readers {
		rd.Close()
	}
}

// followerEnd is follower b's log end offset, if its replica can be read
// and follows at this leader's epoch. A replica at another epoch counts
// for nothing: at an older one it may hold a suffix of an older leader
// that diverges from this log (it truncates once it takes the epoch); at
// a newer one it follows a newer leader, and this one is a zombie (a
// broker stopped while it led, fenced meanwhile) whose log the newer
// leader's may have overwritten.
func (ld *leading) followerEnd(b int) (int64, bool) {
	st, ok := ld.followerState(b)
	return st.LogEndOffset, ok
}

// followerState is follower b's state, if its replica can be read and is
// a follower that has checked its log against this leader's at its epoch
// (before that, it may hold records this leader does not have, and its log
// end says nothing).
func (ld *leading) followerState(b int) (logdir.State, bool) {
	rd := ld.readers[b]
	if rd == nil {
		var err error
		if rd, err = logdir.OpenReader(ld.m.c.PartitionDir(b, ld.r.topic, ld.r.partition)); err != nil {
			return logdir.State{}, false
		}
		ld.readers[b] = rd
	}
	st, err := rd.State()
	if err != nil || st.Leader || st.FollowsEpoch != int32(ld.p.LeaderEpoch) {
		return logdir.State{}, false
	}
	return st, true
}

// pass moves the high watermark up to the smallest log end offset in the
// ISR (a follower that cannot be read holds it where it is) and asks for
// the ISR changes the followers' progress calls for.
func (ld *leading) pass() {
	my, err := ld.r.log.State()
	if err != nil || !my.Leader || my.LeaderEpoch != int32(ld.p.LeaderEpoch) {
		// Fenced (a new leader was elected while this broker was
		// stopped): the new role comes through reconcile; until then
		// this leader commits nothing and changes no ISR.
		return
	}
	hw := my.LogEndOffset
	for _, b := range ld.maximalISR() {
		if b == ld.m.id {
			continue
		}
		end, ok := ld.followerEnd(b)
		if !ok {
			end = my.HighWatermark
		}
		hw = min(hw, end)
		if end >= my.LogEndOffset {
			ld.lastCaughtUp[b] = time.Now()
		}
	}
	if hw > my.HighWatermark {
		if my, err = ld.r.log.SetLeaderHighWatermark(int32(ld.p.LeaderEpoch), hw); err != nil {
			ld.m.opts.Logf("%s: high watermark: %v", ld.r.dir, err)
			return
		}
		ld.r.changed.notify()
	}
	ld.maintainISR(my)
}

// maximalISR is the ISR the high watermark must wait for: the one the
// leader was started with, plus any follower this leader has since written
// into the ISR and not yet seen come back (KIP-497's maximal ISR). From the
// moment the expansion is written, the controller may elect the new member,
// so a record it lacks must not count as committed; a shrink written and
// not yet seen still waits for the member it removes, as the controller may
// not have published it.
func (ld *leading) maximalISR() []int {
	isr := ld.p.ISR
	for _, b := range ld.requested {
		if !slices.Contains(isr, b) {
			isr = append(slices.Clone(isr), b)
		}
	}
	return isr
}

// maintainISR asks for an ISR change when a follower caught up or fell
// behind. The change is written under the metadata lock only if the
// partition still has this leader and epoch; the new ISR then comes back
// through reconcile. A follower listed as damaged joins only once its own
// state says it lacks no committed record, and leaves the list then.
func (ld *leading) maintainISR(my logdir.State) {
	m, r, p := ld.m, ld.r, ld.p
	isr := slices.Clone(p.ISR)
	for _, b := range p.Replicas {
		if b == m.id {
			continue
		}
		fst, ok := ld.followerState(b)
		end := fst.LogEndOffset
		in := slices.Contains(isr, b)
		switch {
		case !in && ok && end >= my.LogEndOffset && !lacksCommitted(fst) && m.c.BrokerAlive(b):
			isr = append(isr, b)
		case in && time.Since(ld.lastCaughtUp[b]) > m.opts.ReplicaLagMax:
			isr = slices.DeleteFunc(isr, func(x int) bool { return x == b })
		}
	}
	if slices.Equal(isr, p.ISR) || slices.Equal(isr, ld.requested) {
		return
	}
	_, err := m.c.UpdateTopic(r.topic, func(t *coord.Topic) error {
		for i := range t.Partitions {
			q := &t.Partitions[i]
			if q.Partition == p.Partition && q.Leader == m.id && q.LeaderEpoch == p.LeaderEpoch {
				for _, b := range isr {
					if !slices.Contains(q.ISR, b) {
						q.ClearDamaged(b) // caught up: it holds every committed record
					}
				}
				q.ISR = isr
				return nil
			}
		}
		return errStale
	})
	if err != nil && !errors.Is(err, errStale) {
		m.opts.Logf("%s: update ISR to %v: %v", r.dir, isr, err)
	} else if err == nil {
		ld.requested = isr
		m.opts.Logf("%s: ISR %v -> %v", r.dir, p.ISR, isr)
	}
}

var errStale = errors.New("partition changed")
