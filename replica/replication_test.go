package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mk/coord"
	"mk/logdir"
)

var cfg = logdir.Config{SegmentBytes: 400, IndexIntervalBytes: 64}

func batch(prefix string, n int) []byte {
	var b logdir.BatchBuilder
	for i := 0; i < n; i++ {
		b.Add(int64(1000+i), nil, []byte(fmt.Sprintf("%s-%d", prefix, i)), nil)
	}
	return append([]byte(nil), b.Finish()...)
}

func mustAppend(t *testing.T, l *logdir.Log, epoch int32, prefix string, batches int) {
	t.Helper()
	for i := 0; i < batches; i++ {
		if _, err := l.Append(epoch, batch(fmt.Sprintf("%s%d", prefix, i), 2)); err != nil {
			t.Fatal(err)
		}
	}
}

func state(t *testing.T, l *logdir.Log) logdir.State {
	t.Helper()
	st, err := l.State()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// recoverLog opens the replica log in dir (recovering it), closed when
// the test ends.
func recoverLog(t *testing.T, dir string) *logdir.Log {
	t.Helper()
	l, _, err := logdir.Recover(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// segmentsOf returns the concatenated .log files of a replica.
func segmentsOf(t *testing.T, dir string) []byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".log") {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
	}
	return all
}

// An old leader that appended records its follower never copied, then lost
// leadership, cuts that suffix where its epoch ended on the new leader
// (KIP-101) and copies the new leader's records: afterwards both logs are
// the same bytes.
func TestFollowerTruncatesDivergentSuffix(t *testing.T) {
	c, err := coord.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	oldDir, newDir := c.PartitionDir(1, "t", 0), c.PartitionDir(2, "t", 0)
	old := recoverLog(t, oldDir)
	if err := old.BecomeLeader(0, false); err != nil { // with broker 2 in its ISR
		t.Fatal(err)
	}
	mustAppend(t, old, 0, "common", 5) // offsets 0..9, replicated below

	nw := recoverLog(t, newDir)
	rd, err := logdir.OpenReader(oldDir)
	if err != nil {
		t.Fatal(err)
	}
	buf, _, err := rd.Read(nil, 0, 10, 1<<20)
	rd.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nw.AppendVerbatim(buf); err != nil {
		t.Fatal(err)
	}
	if _, err := old.SetHighWatermark(10); err != nil { // the ISR has 0..9
		t.Fatal(err)
	}

	mustAppend(t, old, 0, "lost", 3) // offsets 10..15: never copied, never committed by the ISR
	// Broker 2 becomes leader at epoch 1 and takes new records at 10..
	if err := nw.BecomeLeader(1, true); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, nw, 1, "new", 4) // offsets 10..17
	// The controller fences the old leader.
	if err := old.BecomeFollower(1); err != nil {
		t.Fatal(err)
	}

	m := NewManager(c, 1, Options{Backstop: 20 * time.Millisecond, Logf: t.Logf})
	r := &replica{topic: "t", partition: 0, dir: oldDir, log: old}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		m.follow(ctx, r, coord.Partition{Replicas: []int{1, 2}, Leader: 2, LeaderEpoch: 1})
		close(done)
	}()
	defer func() { cancel(); <-done }()

	waitFor(t, "the old leader to catch up with the new one", func() bool {
		return state(t, old).LogEndOffset == state(t, nw).LogEndOffset && state(t, old).HighWatermark == state(t, nw).HighWatermark
	})
	// New records on the leader keep flowing.
	mustAppend(t, nw, 1, "more", 2)
	waitFor(t, "the follower to copy new records", func() bool {
		return state(t, old).LogEndOffset == state(t, nw).LogEndOffset
	})
	if !bytes.Equal(segmentsOf(t, oldDir), segmentsOf(t, newDir)) {
		t.Fatal("after truncation and copying, the follower's log differs from the leader's")
	}
	es, _ := logdir.ReadLeaderEpochs(oldDir)
	if len(es) != 2 || es[1] != (logdir.EpochEntry{Epoch: 1, StartOffset: 10}) {
		t.Fatalf("follower's leader-epoch-checkpoint: %+v", es)
	}
}

// A leader with a follower in its ISR commits (moves the high watermark)
// only as far as the follower has copied.
func TestLeaderHighWatermarkFollowsISR(t *testing.T) {
	c, err := coord.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	leaderDir, followerDir := c.PartitionDir(1, "t", 0), c.PartitionDir(2, "t", 0)
	leader := recoverLog(t, leaderDir)
	follower := recoverLog(t, followerDir)
	if err := leader.BecomeLeader(0, false); err != nil {
		t.Fatal(err)
	}
	if err := follower.BecomeFollower(0); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, leader, 0, "a", 4) // 0..7
	// Until the follower has checked its log against the leader's at this
	// epoch, its log end does not count.
	ld0 := NewManager(c, 1, Options{Logf: t.Logf}).newLeading(&replica{topic: "t", partition: 0, dir: leaderDir, log: leader}, coord.Partition{Partition: 0, Replicas: []int{1, 2}, Leader: 1, ISR: []int{1, 2}})
	if _, ok := ld0.followerState(2); ok {
		t.Fatal("a follower that has not checked its log against the leader's counts")
	}
	ld0.close()
	if err := follower.SetFollowing(0); err != nil {
		t.Fatal(err)
	}
	if hw := state(t, leader).HighWatermark; hw != 0 {
		t.Fatalf("high watermark %d before any follower copied", hw)
	}

	// One pass of the leader with the follower at 0: nothing is committed.
	lm := NewManager(c, 1, Options{Backstop: 20 * time.Millisecond, Logf: t.Logf})
	fm := NewManager(c, 2, Options{Backstop: 20 * time.Millisecond, Logf: t.Logf})
	p := coord.Partition{Partition: 0, Replicas: []int{1, 2}, Leader: 1, ISR: []int{1, 2}}
	ld := lm.newLeading(&replica{topic: "t", partition: 0, dir: leaderDir, log: leader}, p)
	defer ld.close()
	ld.pass()
	if hw := state(t, leader).HighWatermark; hw != 0 {
		t.Fatalf("high watermark %d with the follower at 0", hw)
	}
	// The follower copies part of the log by hand: the high watermark
	// follows it, not the leader's end.
	rd, err := logdir.OpenReader(leaderDir)
	if err != nil {
		t.Fatal(err)
	}
	first, _, err := rd.Read(nil, 0, 4, 1<<20)
	rd.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := follower.AppendVerbatim(first); err != nil {
		t.Fatal(err)
	}
	ld.pass()
	if hw := state(t, leader).HighWatermark; hw != state(t, follower).LogEndOffset || hw >= 8 {
		t.Fatalf("high watermark %d, follower at %d, leader at 8", hw, state(t, follower).LogEndOffset)
	}
	// Then the real loops: the follower catches up and so does the commit.
	ctx, cancel := context.WithCancel(context.Background())
	var running sync.WaitGroup
	running.Go(func() { lm.lead(ctx, ld.r, p) })
	running.Go(func() { fm.follow(ctx, &replica{topic: "t", partition: 0, dir: followerDir, log: follower}, p) })
	defer func() { cancel(); running.Wait() }()
	waitFor(t, "the high watermark to reach 8", func() bool { return state(t, leader).HighWatermark == 8 })
	waitFor(t, "the follower's high watermark to follow", func() bool { return state(t, follower).HighWatermark == 8 })
}

// A follower never truncates records it knows committed (below its own
// high watermark) because its leader is shorter: the leader lost them
// without its broker telling. It keeps them, says so, and lists the leader
// as damaged so that the controller elects a replica that holds them. An
// unclean election after its latest epoch is the one exception: the
// partition accepted the loss.
func TestFollowerRefusesToTruncateCommittedRecords(t *testing.T) {
	for _, unclean := range []bool{false, true} {
		t.Run(fmt.Sprintf("unclean=%v", unclean), func(t *testing.T) {
			c, err := coord.Init(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []int{1, 2} {
				s, err := c.RegisterBroker(id)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
			}
			tp, err := c.CreateTopic("t", 1, 2, nil)
			if err != nil {
				t.Fatal(err)
			}
			tp, err = c.UpdateTopic("t", func(tp *coord.Topic) error {
				p := &tp.Partitions[0]
				p.Replicas, p.ISR, p.Leader, p.LeaderEpoch = []int{2, 1}, []int{2, 1}, 2, 1
				if unclean {
					p.LastUncleanEpoch = 1
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			p := tp.Partitions[0]
			fDir, lDir := c.PartitionDir(1, "t", 0), c.PartitionDir(2, "t", 0)
			// Broker 1 led at epoch 0 and committed 20 records.
			f, _, err := logdir.Recover(fDir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.BecomeLeader(0, true); err != nil {
				t.Fatal(err)
			}
			mustAppend(t, f, 0, "c", 10)
			// Broker 2 holds only the first 10 and leads at epoch 1.
			l, _, err := logdir.Recover(lDir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			rd, err := logdir.OpenReader(fDir)
			if err != nil {
				t.Fatal(err)
			}
			buf, _, err := rd.Read(nil, 0, 10, 1<<20)
			rd.Close()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.AppendVerbatim(buf); err != nil {
				t.Fatal(err)
			}
			if err := l.BecomeLeader(1, false); err != nil {
				t.Fatal(err)
			}
			if err := f.BecomeFollower(1); err != nil {
				t.Fatal(err)
			}
			before := segmentsOf(t, fDir)

			var lc logCollector
			m := NewManager(c, 1, Options{Backstop: 20 * time.Millisecond, Logf: lc.logf})
			r := &replica{topic: "t", partition: 0, topicID: tp.ID, dir: fDir, log: f}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { m.follow(ctx, r, p); close(done) }()
			defer func() { cancel(); <-done }()

			if unclean {
				waitFor(t, "the follower to truncate to the leader", func() bool { return state(t, f).LogEndOffset == 10 })
				if !lc.has("the unclean election at epoch 1 accepted the loss of those records") {
					t.Errorf("log: %q", lc.lines)
				}
				return
			}
			waitFor(t, "the leader to be listed as damaged", func() bool {
				tp, err := c.Topic("t")
				return err == nil && tp.Partitions[0].IsDamaged(2)
			})
			d, _ := func() (coord.DamagedReplica, bool) { tp, _ := c.Topic("t"); return tp.Partitions[0].DamagedReplica(2) }()
			if d != (coord.DamagedReplica{Broker: 2, LogEndOffset: 10, HighWatermark: 20}) {
				t.Errorf("damaged entry %+v", d)
			}
			if !lc.has("REFUSING TO TRUNCATE to 10, below the high watermark 20 this replica had seen: the leader, broker 2 at epoch 1, ends at 10") {
				t.Errorf("log: %q", lc.lines)
			}
			if st := state(t, f); st.LogEndOffset != 20 || !bytes.Equal(segmentsOf(t, fDir), before) {
				t.Fatalf("the follower's log changed: %+v", st)
			}
			// The refusing follower's log end (20, other records) does not
			// commit what the leader appends meanwhile.
			mustAppend(t, l, 1, "new", 1)
			lm := NewManager(c, 2, Options{Logf: t.Logf})
			ld := lm.newLeading(&replica{topic: "t", partition: 0, topicID: tp.ID, dir: lDir, log: l}, p)
			defer ld.close()
			ld.pass()
			if hw := state(t, l).HighWatermark; hw > 10 {
				t.Fatalf("the leader's high watermark moved to %d on the strength of a follower that refused to follow it", hw)
			}
		})
	}
}

// KIP-279: when the leader's log never had the follower's latest epoch,
// the follower cuts where the largest epoch they share ends in its own
// log, not only on the leader: otherwise records of its own later epoch
// stay under offsets the leader filled with others.
func TestFollowerTruncatesToTheLargestCommonEpoch(t *testing.T) {
	c, err := coord.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fDir, lDir := c.PartitionDir(1, "t", 0), c.PartitionDir(2, "t", 0)
	l := recoverLog(t, lDir)
	if err := l.BecomeLeader(0, false); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, 0, "a", 5) // 0..9 at epoch 0, copied by broker 1
	f := recoverLog(t, fDir)
	rd, err := logdir.OpenReader(lDir)
	if err != nil {
		t.Fatal(err)
	}
	buf, _, err := rd.Read(nil, 0, 10, 1<<20)
	rd.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.AppendVerbatim(buf); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, 0, "b", 5) // 10..19 at epoch 0, never copied
	// Broker 1 leads at epoch 1 and takes 10..13, never committed.
	if err := f.BecomeLeader(1, false); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, f, 1, "x", 2)
	// Broker 2 leads again at epoch 2 (an unclean election: broker 1's
	// epoch-1 records are lost) and broker 1 follows it.
	if err := l.BecomeFollower(1); err != nil {
		t.Fatal(err)
	}
	if err := l.BecomeLeader(2, false); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, 2, "c", 1) // 20, 21
	if err := f.BecomeFollower(2); err != nil {
		t.Fatal(err)
	}
	m := NewManager(c, 1, Options{Backstop: 20 * time.Millisecond, Logf: t.Logf})
	r := &replica{topic: "t", partition: 0, dir: fDir, log: f}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		m.follow(ctx, r, coord.Partition{Replicas: []int{2, 1}, Leader: 2, LeaderEpoch: 2, LastUncleanEpoch: 2})
		close(done)
	}()
	defer func() { cancel(); <-done }()
	waitFor(t, "the follower to catch up", func() bool { return state(t, f).LogEndOffset == state(t, l).LogEndOffset })
	if !bytes.Equal(segmentsOf(t, fDir), segmentsOf(t, lDir)) {
		t.Fatal("the follower's log differs from the leader's: it kept records of its own epoch 1")
	}
}

// A leader's high watermark counts only followers at its own leader epoch.
// A zombie (a leader stopped while the controller fenced it and elected
// another) whose followers now follow the new leader, far ahead, moves
// nothing; neither does a leader whose follower still holds an older
// epoch's log, nor a leader whose own replica was fenced.
func TestLeaderHighWatermarkOnlyFromItsEpoch(t *testing.T) {
	c, err := coord.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	leaderDir, followerDir := c.PartitionDir(1, "t", 0), c.PartitionDir(2, "t", 0)
	leader := recoverLog(t, leaderDir)
	follower := recoverLog(t, followerDir)
	if err := leader.BecomeLeader(5, false); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, leader, 5, "z", 3) // 0..5, never copied
	// The follower leads at epoch 6 now (the controller moved leadership)
	// and took other records: its log end is past the zombie's.
	if err := follower.BecomeLeader(6, true); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, follower, 6, "new", 5) // 0..9
	if err := follower.BecomeFollower(6); err != nil {
		t.Fatal(err)
	}
	lm := NewManager(c, 1, Options{Backstop: 20 * time.Millisecond, Logf: t.Logf})
	p := coord.Partition{Partition: 0, Replicas: []int{1, 2}, Leader: 1, LeaderEpoch: 5, ISR: []int{1, 2}}
	ld := lm.newLeading(&replica{topic: "t", partition: 0, dir: leaderDir, log: leader}, p)
	defer ld.close()
	ld.pass()
	if hw := state(t, leader).HighWatermark; hw != 0 {
		t.Fatalf("the zombie moved its high watermark to %d from a follower at a newer epoch", hw)
	}
	// The same follower at an older epoch does not count either.
	p.LeaderEpoch = 7
	if err := leader.BecomeLeader(7, false); err != nil {
		t.Fatal(err)
	}
	ld7 := lm.newLeading(ld.r, p)
	defer ld7.close()
	ld7.pass()
	if hw := state(t, leader).HighWatermark; hw != 0 {
		t.Fatalf("high watermark %d from a follower at an older epoch", hw)
	}
	// A fenced leader's pass changes nothing, even with its follower at
	// its epoch and caught up.
	if err := follower.BecomeFollower(7); err != nil {
		t.Fatal(err)
	}
	if err := leader.BecomeFollower(8); err != nil {
		t.Fatal(err)
	}
	ld7.pass()
	if hw := state(t, leader).HighWatermark; hw != 0 {
		t.Fatalf("a fenced leader moved its high watermark to %d", hw)
	}
	if _, err := leader.SetLeaderHighWatermark(7, 4); !errors.Is(err, logdir.ErrNotLeader) {
		t.Fatalf("SetLeaderHighWatermark on a fenced replica: %v", err)
	}
}

// A leader that wrote a follower into the ISR waits for that follower too
// before it commits, even before the new ISR comes back through reconcile:
// the controller may elect the follower from the moment it is written
// (KIP-497's maximal ISR). Committing with the old ISR alone would let an
// election lose the records the new member lacks.
func TestLeaderHighWatermarkWaitsForAnISRItWrote(t *testing.T) {
	c, err := coord.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	leaderDir := c.PartitionDir(1, "t", 0)
	leader := recoverLog(t, leaderDir)
	f2 := recoverLog(t, c.PartitionDir(2, "t", 0))
	f3 := recoverLog(t, c.PartitionDir(3, "t", 0))
	if err := leader.BecomeLeader(0, false); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*logdir.Log{f2, f3} {
		if err := f.BecomeFollower(0); err != nil {
			t.Fatal(err)
		}
		if err := f.SetFollowing(0); err != nil {
			t.Fatal(err)
		}
	}
	copyTo := func(f *logdir.Log) {
		t.Helper()
		rd, err := logdir.OpenReader(leaderDir)
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		from := state(t, f).LogEndOffset
		b, _, err := rd.Read(nil, from, 1<<30, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.AppendVerbatim(b); err != nil {
			t.Fatal(err)
		}
	}
	mustAppend(t, leader, 0, "a", 2) // 0..3
	copyTo(f2)
	copyTo(f3)

	lm := NewManager(c, 1, Options{Logf: t.Logf})
	p := coord.Partition{Partition: 0, Replicas: []int{1, 2, 3}, Leader: 1, ISR: []int{1, 2}}
	ld := lm.newLeading(&replica{topic: "t", partition: 0, dir: leaderDir, log: leader}, p)
	defer ld.close()
	ld.pass()
	if hw := state(t, leader).HighWatermark; hw != 4 {
		t.Fatalf("high watermark %d, want 4", hw)
	}
	// The leader has written 3 into the ISR (what maintainISR records on
	// success); the new ISR has not come back yet. Records follow that
	// only 2 copies.
	ld.requested = []int{1, 2, 3}
	mustAppend(t, leader, 0, "b", 2) // 4..7
	copyTo(f2)
	ld.pass()
	if hw := state(t, leader).HighWatermark; hw != 4 {
		t.Fatalf("high watermark %d with the follower written into the ISR at 4", hw)
	}
	copyTo(f3)
	ld.pass()
	if hw := state(t, leader).HighWatermark; hw != 8 {
		t.Fatalf("high watermark %d once every member of the maximal ISR has 8", hw)
	}
	// A shrink written and not yet seen still waits for the member it
	// removes (the old ISR is the maximal one).
	p.ISR = []int{1, 2, 3}
	ld3 := lm.newLeading(ld.r, p)
	defer ld3.close()
	ld3.requested = []int{1, 2}
	mustAppend(t, leader, 0, "c", 1) // 8..9
	copyTo(f2)
	ld3.pass()
	if hw := state(t, leader).HighWatermark; hw != 8 {
		t.Fatalf("high watermark %d without the member a pending shrink removes", hw)
	}
}
