package replica

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mk/coord"
)

// pausedRecovery holds the recovery of replicas whose directory ends in
// one of names until released, and counts the recoveries of each.
type pausedRecovery struct {
	mu      sync.Mutex
	names   map[string]bool
	count   map[string]int
	entered chan string
	release chan struct{}
}

func pauseRecovery(t *testing.T, names ...string) *pausedRecovery {
	pr := &pausedRecovery{names: map[string]bool{}, count: map[string]int{}, entered: make(chan string, 16), release: make(chan struct{})}
	for _, n := range names {
		pr.names[n] = true
	}
	recoveryHook = func(dir string) {
		name := filepath.Base(dir)
		pr.mu.Lock()
		pr.count[name]++
		paused := pr.names[name]
		pr.mu.Unlock()
		if paused {
			pr.entered <- name
			<-pr.release
		}
	}
	t.Cleanup(func() {
		pr.releaseAll()
		recoveryHook = nil
	})
	return pr
}

func (pr *pausedRecovery) releaseAll() {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	select {
	case <-pr.release:
	default:
		close(pr.release)
	}
}

func (pr *pausedRecovery) recoveries(name string) int {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.count[name]
}

// waitEntered waits until the recovery of name has started and is held.
func (pr *pausedRecovery) waitEntered(t *testing.T, name string) {
	t.Helper()
	select {
	case got := <-pr.entered:
		if got != name {
			t.Fatalf("recovery of %s held, want %s", got, name)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the recovery of %s did not start", name)
	}
}

// runManager runs broker 1's replica manager until the test ends; the
// returned channel is closed when its first recoveries are done.
// A recovery held by pr is released when it stops (shutdown waits for
// recoveries under way).
func runManager(t *testing.T, c *coord.Cluster, pr *pausedRecovery) (*Manager, <-chan struct{}, func()) {
	m := NewManager(c, 1, Options{Logf: t.Logf, Backstop: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx, ready)
	}()
	stop := func() {
		cancel()
		pr.releaseAll()
		<-done
	}
	t.Cleanup(stop)
	return m, ready, stop
}

// leaderOf waits until this broker serves partition 0 of topic as its
// leader.
func leaderOf(t *testing.T, m *Manager, topic string) *Partition {
	t.Helper()
	var p *Partition
	waitFor(t, topic+"-0 to be served by its leader", func() bool {
		var err error
		p, err = m.Partition(topic, 0)
		return err == nil && p.Role().IsLeader
	})
	return p
}

// appendOne appends a record to partition 0 of topic, looked up as the
// protocol server does for each request.
func appendOne(t *testing.T, m *Manager, topic, prefix string) int64 {
	t.Helper()
	p, err := m.Partition(topic, 0)
	if err != nil {
		t.Fatalf("%s-0: %v", topic, err)
	}
	res, err := p.Append(batch(prefix, 1), 1)
	if err != nil {
		t.Fatalf("append to %s-%d: %v", p.Role().Topic, p.Role().Partition, err)
	}
	return res.BaseOffset
}

// One replica's recovery, however long (here held by a hook, as a large
// log's would take seconds), keeps no other replica of the broker from
// being served: produce to a partition the broker leads goes on, topics
// created meanwhile are served, and the recovering replica itself is
// answered REPLICA_NOT_AVAILABLE until its recovery is done, then served.
// A replica is recovered once however many reconciliations pass while it
// recovers. Both when the broker starts and when a topic is created under
// a running broker.
func TestSlowRecoveryBlocksNoOtherReplica(t *testing.T) {
	c, err := coord.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.RegisterBroker(1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := c.CreateTopic("fast", 1, 1, nil); err != nil {
		t.Fatal(err)
	}

	// A running broker: topic slow is created and its replica's recovery
	// held.
	pr := pauseRecovery(t, "slow-0")
	m, ready, stop := runManager(t, c, pr)
	fast := leaderOf(t, m, "fast")
	<-ready
	if _, err := c.CreateTopic("slow", 1, 1, nil); err != nil {
		t.Fatal(err)
	}
	pr.waitEntered(t, "slow-0")
	// As the protocol server does for a Produce: look the partition up
	// and append. Neither waits for slow-0 (a lookup that did would hang
	// until slow-0's recovery is released).
	appended := make(chan struct{})
	go func() {
		defer close(appended)
		if p, err := m.Partition("fast", 0); err == nil {
			p.Append(batch("during", 1), 1)
		}
	}()
	select {
	case <-appended:
	case <-time.After(10 * time.Second):
		pr.releaseAll()
		t.Fatal("produce to fast-0 waited for the recovery of slow-0")
	}
	if st, err := fast.State(); err != nil || st.LogEndOffset != 1 {
		t.Fatalf("fast-0 after the append: %+v, %v", st, err)
	}
	if _, err := m.Partition("slow", 0); !errors.Is(err, ErrReplicaNotAvailable) {
		t.Fatalf("slow-0 while it recovers: %v, want ErrReplicaNotAvailable", err)
	}
	// Reconciliation goes on meanwhile (the backstop runs it every 50ms,
	// and a new topic wakes it): another new topic is served.
	if _, err := c.CreateTopic("other", 1, 1, nil); err != nil {
		t.Fatal(err)
	}
	leaderOf(t, m, "other")
	appendOne(t, m, "other", "other")
	if n := pr.recoveries("slow-0"); n != 1 {
		t.Fatalf("slow-0 recovered %d times at once", n)
	}
	pr.releaseAll()
	leaderOf(t, m, "slow")
	if off := appendOne(t, m, "slow", "after"); off != 0 {
		t.Fatalf("first append to slow-0 at offset %d", off)
	}
	appendOne(t, m, "slow", "after")
	if n := pr.recoveries("slow-0"); n != 1 {
		t.Fatalf("slow-0 recovered %d times", n)
	}
	stop()

	// The broker starts again: slow-0's recovery is held, fast-0 is
	// served meanwhile, and the broker is ready only once both are.
	pr = pauseRecovery(t, "slow-0")
	m, ready, _ = runManager(t, c, pr)
	leaderOf(t, m, "fast")
	if off := appendOne(t, m, "fast", "restarted"); off != 1 {
		t.Fatalf("append to fast-0 after the restart at offset %d, want 1", off)
	}
	pr.waitEntered(t, "slow-0")
	select {
	case <-ready:
		t.Fatal("ready while slow-0 was still recovering")
	default:
	}
	if _, err := m.Partition("slow", 0); !errors.Is(err, ErrReplicaNotAvailable) {
		t.Fatalf("slow-0 while it recovers: %v, want ErrReplicaNotAvailable", err)
	}
	pr.releaseAll()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("not ready after every recovery was done")
	}
	leaderOf(t, m, "slow")
	if off := appendOne(t, m, "slow", "restarted"); off != 2 {
		t.Fatalf("append to slow-0 after the restart at offset %d, want 2", off)
	}
}

// A topic deleted while one of its replicas recovers: the recovered
// replica is never served, and its directory is gone.
func TestTopicDeletedWhileItsReplicaRecovers(t *testing.T) {
	c, err := coord.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.RegisterBroker(1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pr := pauseRecovery(t, "gone-0")
	var lc logCollector
	m := NewManager(c, 1, Options{Logf: lc.logf, Backstop: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx, nil) }()
	defer func() { cancel(); pr.releaseAll(); <-done }()
	if _, err := c.CreateTopic("gone", 1, 1, nil); err != nil {
		t.Fatal(err)
	}
	pr.waitEntered(t, "gone-0")
	if err := c.DeleteTopic("gone"); err != nil {
		t.Fatal(err)
	}
	pr.releaseAll()
	waitFor(t, "the broker to drop the replica of the deleted topic", func() bool {
		return lc.has("topic gone was deleted while its replicas were being created")
	})
	if _, err := m.Partition("gone", 0); !errors.Is(err, ErrUnknownTopicOrPartition) {
		t.Fatalf("partition of the deleted topic: %v", err)
	}
	m.mu.Lock()
	n := len(m.reps)
	m.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d replicas published after the delete", n)
	}
	for _, l := range lc.lines {
		if strings.Contains(l, "open replica") {
			t.Fatalf("logged %q", l)
		}
	}
}
