package replica

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"mk/coord"
	"mk/logdir"
)

// holdInAppend starts an append to l that stops with the partition lock
// held (as a broker SIGSTOPped in the middle of its own append does) and
// returns a function that lets it finish.
func holdInAppend(t *testing.T, l *logdir.Log) (release func()) {
	t.Helper()
	in, out := make(chan struct{}), make(chan struct{})
	logdir.AppendHook = func(string) {
		close(in)
		<-out
	}
	done := make(chan error, 1)
	go func() {
		_, err := l.Append(0, batch("held", 1))
		done <- err
	}()
	<-in
	logdir.AppendHook = nil
	var once atomic.Bool
	release = func() {
		if once.CompareAndSwap(false, true) {
			close(out)
			if err := <-done; err != nil {
				t.Errorf("the held append: %v", err)
			}
		}
	}
	t.Cleanup(release)
	return release
}

// The controller's fence does not wait for the lock of a replica whose
// broker is not alive (stopped in the middle of an append: it holds the
// lock for as long as it is stopped): it leaves the files as they are and
// lets the new leader be published. A live broker's lock is waited for,
// and the fence fails if it stays busy (the controller tries again).
func TestFenceDoesNotWaitForAStoppedLeader(t *testing.T) {
	c, err := coord.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var lc logCollector
	m := NewManager(c, 1, Options{Logf: lc.logf})
	l, _, err := logdir.Recover(c.PartitionDir(2, "t", 0), logdir.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.BecomeLeader(0, true); err != nil {
		t.Fatal(err)
	}

	release := holdInAppend(t, l)
	start := time.Now()
	if err := m.Fence("t", 0, 2, 1, 1); err != nil {
		t.Fatalf("fence of a broker that is not alive, its lock held: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("the fence took %v", took)
	}
	rd, err := logdir.OpenReader(c.PartitionDir(2, "t", 0)) // l's own lock is held
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if st, err := rd.State(); err != nil || !st.Leader || st.LeaderEpoch != 0 {
		t.Fatalf("the replica's state changed under its lock: leader %v at epoch %d", st.Leader, st.LeaderEpoch)
	}
	if !lc.has("not fencing its files") {
		t.Fatalf("the skipped fence was not logged: %q", lc.lines)
	}
	release()

	// Alive (registered in this process): the fence waits for the lock,
	// and fails while it stays busy.
	s, err := c.RegisterBroker(2)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	release = holdInAppend(t, l)
	if err := m.Fence("t", 0, 2, 1, 1); !errors.Is(err, logdir.ErrLockTimeout) {
		t.Fatalf("fence of a live broker's busy replica: %v, want a lock timeout", err)
	}
	go func() { time.Sleep(100 * time.Millisecond); release() }() // lets go while the fence waits
	if err := m.Fence("t", 0, 2, 1, 1); err != nil {
		t.Fatalf("fence once the append ended: %v", err)
	}
	if st := state(t, l); st.Leader || st.LeaderEpoch != 1 {
		t.Fatalf("fenced replica: leader %v at epoch %d, want a follower at 1", st.Leader, st.LeaderEpoch)
	}
}

// A leader whose lease is not fresh (a gap between its heartbeats: it was
// stopped) reads the metadata again before it acknowledges, and answers
// ErrNotLeader when its leadership moved meanwhile; with a fresh lease it
// acknowledges at once.
func TestCheckLeaseAfterAGap(t *testing.T) {
	c, _, _ := topicWithData(t)
	var gaps atomic.Uint64
	beat := time.Now()
	m := NewManager(c, 1, Options{Logf: t.Logf, LeaseSlack: time.Hour, Lease: func() (time.Time, uint64) { return beat, gaps.Load() }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	var p *Partition
	waitFor(t, "the replica leading", func() bool {
		var err error
		p, err = m.Partition("t", 0)
		return err == nil && p.Role().IsLeader
	})
	epoch := p.Role().LeaderEpoch
	if err := m.checkLease(p.r, epoch); err != nil {
		t.Fatalf("fresh lease: %v", err)
	}
	m.fresh.mu.Lock()
	before := m.fresh.started
	m.fresh.mu.Unlock()
	gaps.Add(1)
	if err := m.checkLease(p.r, epoch); err != nil {
		t.Fatalf("after a gap, still the leader: %v", err)
	}
	m.fresh.mu.Lock()
	after := m.fresh.started
	m.fresh.mu.Unlock()
	if after <= before {
		t.Fatal("the metadata was not read again after the gap")
	}
	// Leadership moves while the lease has a gap: not acknowledged.
	if _, err := c.UpdateTopic("t", func(t *coord.Topic) error {
		t.Partitions[0].Leader, t.Partitions[0].LeaderEpoch = coord.NoLeader, t.Partitions[0].LeaderEpoch+1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	gaps.Add(1)
	if err := m.checkLease(p.r, epoch); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("after a gap, leadership moved: %v, want ErrNotLeader", err)
	}
}
