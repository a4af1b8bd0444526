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
	old, _, err := logdir.Recover(oldDir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := old.BecomeLeader(0, true); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, old, 0, "common", 5) // offsets 0..9, replicated below

	nw, _, err := logdir.Recover(newDir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer nw.Close()
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
	go func() { m.follow(ctx, r, 2, 1); close(done) }()
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
	leader, _, err := logdir.Recover(leaderDir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer leader.Close()
	follower, _, err := logdir.Recover(followerDir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()
	if err := leader.BecomeLeader(0, false); err != nil {
		t.Fatal(err)
	}
	if err := follower.BecomeFollower(0); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, leader, 0, "a", 4) // 0..7
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
	running.Go(func() { fm.follow(ctx, &replica{topic: "t", partition: 0, dir: followerDir, log: follower}, 1, 0) })
	defer func() { cancel(); running.Wait() }()
	waitFor(t, "the high watermark to reach 8", func() bool { return state(t, leader).HighWatermark == 8 })
	waitFor(t, "the follower's high watermark to follow", func() bool { return state(t, follower).HighWatermark == 8 })
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
	leader, _, err := logdir.Recover(leaderDir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer leader.Close()
	follower, _, err := logdir.Recover(followerDir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()
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
