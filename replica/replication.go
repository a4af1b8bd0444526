package replica

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"time"

	"mk/coord"
	"mk/logdir"
)

// follow copies the leader's batches into r, byte for byte, as long as ctx
// lives. Before copying under a new epoch it truncates a suffix that
// diverges from the leader's log (KIP-101): its own latest epoch is looked
// up in the leader's leader-epoch-checkpoint, and r is cut to where that
// epoch ended on the leader. It reads the leader's replica directly, up to
// the leader's log end offset, and keeps its own high watermark at the
// leader's (bounded by what it has).
func (m *Manager) follow(ctx context.Context, r *replica, leader int, epoch int32) {
	leaderDir := m.c.PartitionDir(leader, r.topic, r.partition)
	wake := coord.Watch(ctx, []string{filepath.Join(leaderDir, "state")}, m.opts.Backstop)
	var rd *logdir.Reader
	defer func() {
		if rd != nil {
			rd.Close()
		}
	}()
	truncated := false
	var buf []byte
	for {
		caughtUp, err := func() (bool, error) {
			if rd == nil {
				var err error
				if rd, err = logdir.OpenReader(leaderDir); err != nil {
					return true, nil // the leader has not created its replica yet
				}
			}
			lst, err := rd.State()
			if err != nil {
				return true, err
			}
			if !lst.Leader || lst.LeaderEpoch != epoch {
				return true, nil // the leader has not taken the epoch yet
			}
			if !truncated {
				if err := m.truncateDivergent(r, leaderDir, lst.LogEndOffset); err != nil {
					return true, err
				}
				truncated = true
			}
			my, err := r.log.State()
			if err != nil {
				return true, err
			}
			if my.LogEndOffset > lst.LogEndOffset {
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
				buf, _, err = rd.Read(buf[:0], my.LogEndOffset, lst.LogEndOffset, 1<<20)
				if errors.Is(err, logdir.ErrOffsetOutOfRange) {
					return false, nil // moved under us: look again
				}
				if err != nil {
					return true, err
				}
				if len(buf) > 0 {
					if _, err := r.log.AppendVerbatim(buf); err != nil {
						return true, err
					}
				}
			}
			my, err = r.log.State()
			if err != nil {
				return true, err
			}
			if hw := min(lst.HighWatermark, my.LogEndOffset); hw > my.HighWatermark {
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

// truncateDivergent applies KIP-101: cut r to where its latest epoch ended
// on the leader.
func (m *Manager) truncateDivergent(r *replica, leaderDir string, leaderEnd int64) error {
	mine, err := logdir.ReadLeaderEpochs(r.dir)
	if err != nil || len(mine) == 0 {
		return err
	}
	theirs, err := logdir.ReadLeaderEpochs(leaderDir)
	if err != nil {
		return err
	}
	_, end := logdir.EndOffsetForEpoch(theirs, leaderEnd, mine[len(mine)-1].Epoch)
	if end < 0 {
		end = 0
	}
	st, err := r.log.State()
	if err != nil {
		return err
	}
	if end < st.LogEndOffset {
		m.opts.Logf("%s: truncating divergent suffix from %d to %d", r.dir, st.LogEndOffset, end)
		_, err = r.log.TruncateTo(end)
	}
	return err
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
// and is a follower.
func (ld *leading) followerEnd(b int) (int64, bool) {
	rd := ld.readers[b]
	if rd == nil {
		var err error
		if rd, err = logdir.OpenReader(ld.m.c.PartitionDir(b, ld.r.topic, ld.r.partition)); err != nil {
			return 0, false
		}
		ld.readers[b] = rd
	}
	st, err := rd.State()
	if err != nil || st.Leader {
		return 0, false
	}
	return st.LogEndOffset, true
}

// pass moves the high watermark up to the smallest log end offset in the
// ISR (a follower that cannot be read holds it where it is) and asks for
// the ISR changes the followers' progress calls for.
func (ld *leading) pass() {
	my, err := ld.r.log.State()
	if err != nil {
		return
	}
	hw := my.LogEndOffset
	for _, b := range ld.p.ISR {
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
		if my, err = ld.r.log.SetHighWatermark(hw); err != nil {
			ld.m.opts.Logf("%s: high watermark: %v", ld.r.dir, err)
			return
		}
		ld.r.changed.notify()
	}
	ld.maintainISR(my)
}

// maintainISR asks for an ISR change when a follower caught up or fell
// behind. The change is written under the metadata lock only if the
// partition still has this leader and epoch; the new ISR then comes back
// through reconcile.
func (ld *leading) maintainISR(my logdir.State) {
	m, r, p := ld.m, ld.r, ld.p
	isr := slices.Clone(p.ISR)
	for _, b := range p.Replicas {
		if b == m.id {
			continue
		}
		end, ok := ld.followerEnd(b)
		in := slices.Contains(isr, b)
		switch {
		case !in && ok && end >= my.LogEndOffset && m.c.BrokerAlive(b):
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
