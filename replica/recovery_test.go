package replica

import (
	"context"
	"errors"
	"os"
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
	// The lookups run on a goroutine of their own, so that one that
	// waits for another replica's recovery fails the test rather than
	// hang it.
	served := make(chan *Partition, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			if p, err := m.Partition(topic, 0); err == nil && p.Role().IsLeader {
				served <- p
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond): // poll interval
			}
		}
	}()
	select {
	case p := <-served:
		return p
	case <-time.After(10 * time.Second):
		t.Fatalf("%s-0 not served by its leader within 10s", topic)
		return nil
	}
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

// appendMustNotWait appends to partition 0 of topic as appendOne does,
// failing if that takes 10 s: a lookup that waited for another replica's
// recovery would hang until the test released it.
func appendMustNotWait(t *testing.T, m *Manager, pr *pausedRecovery, topic, prefix string) {
	t.Helper()
	appended := make(chan error, 1)
	go func() {
		p, err := m.Partition(topic, 0)
		if err == nil {
			_, err = p.Append(batch(prefix, 1), 1)
		}
		appended <- err
	}()
	select {
	case err := <-appended:
		if err != nil {
			t.Fatalf("append to %s-0: %v", topic, err)
		}
	case <-time.After(10 * time.Second):
		pr.releaseAll()
		t.Fatalf("produce to %s-0 waited for another replica's recovery", topic)
	}
}

// stillRecovering checks that topic's partition 0 is not served while its
// recovery is held.
func stillRecovering(t *testing.T, m *Manager, topic string) {
	t.Helper()
	if _, err := m.Partition(topic, 0); !errors.Is(err, ErrReplicaNotAvailable) {
		t.Fatalf("%s-0 while it recovers: %v, want ErrReplicaNotAvailable", topic, err)
	}
}

// One replica's recovery, however long (here held by a hook, as a large
// log's takes seconds), keeps no other replica of the broker from being
// served: produce to a partition the broker leads goes on, a topic created
// meanwhile is served, and the recovering replica itself is answered
// REPLICA_NOT_AVAILABLE until its recovery is done, then served. It is
// recovered once, however many reconciliations pass meanwhile. Both when
// the broker starts (it says it is ready only once every replica is
// recovered) and when a running broker comes to a replica with data (its
// topic file, unreadable at the start, mended).
func TestSlowRecoveryBlocksNoOtherReplica(t *testing.T) {
	c := oneBroker(t, "fast", "slow")
	pr := pauseRecovery(t)
	m, _, stop := runManager(t, c, pr)
	for _, name := range []string{"fast", "slow"} {
		leaderOf(t, m, name)
		appendOne(t, m, name, "first")
	}
	stop()

	// The broker starts: slow-0's recovery is held.
	pr = pauseRecovery(t, "slow-0")
	m, ready, stop := runManager(t, c, pr)
	leaderOf(t, m, "fast")
	pr.waitEntered(t, "slow-0")
	appendMustNotWait(t, m, pr, "fast", "during")
	stillRecovering(t, m, "slow")
	select {
	case <-ready:
		t.Fatal("ready while slow-0 was still recovering")
	default:
	}
	// Reconciliation goes on meanwhile: a new topic is served.
	if _, err := c.CreateTopic("other", 1, 1, nil); err != nil {
		t.Fatal(err)
	}
	leaderOf(t, m, "other")
	appendMustNotWait(t, m, pr, "other", "other")
	stillRecovering(t, m, "slow")
	if n := pr.recoveries("slow-0"); n != 1 {
		t.Fatalf("slow-0 recovered %d times at once", n)
	}
	pr.releaseAll()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("not ready after every recovery was done")
	}
	leaderOf(t, m, "slow")
	if off := appendOne(t, m, "slow", "after"); off != 1 {
		t.Fatalf("append to slow-0 after its recovery at offset %d, want 1", off)
	}
	if n := pr.recoveries("slow-0"); n != 1 {
		t.Fatalf("slow-0 recovered %d times", n)
	}
	stop()

	// The broker starts with slow's topic file unreadable: slow-0 is left
	// as it is. Mended while the broker runs, slow-0 is recovered (held)
	// while fast-0 is served.
	path := filepath.Join(c.TopicsMetaDir(), "slow.json")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("garbage{"), 0o644); err != nil {
		t.Fatal(err)
	}
	pr = pauseRecovery(t, "slow-0")
	m, ready, _ = runManager(t, c, pr)
	<-ready
	if _, err := m.Partition("slow", 0); err == nil {
		t.Fatal("slow-0 served while its topic file cannot be read")
	}
	if err := os.WriteFile(path, good, 0o644); err != nil {
		t.Fatal(err)
	}
	pr.waitEntered(t, "slow-0")
	appendMustNotWait(t, m, pr, "fast", "mended")
	stillRecovering(t, m, "slow")
	pr.releaseAll()
	leaderOf(t, m, "slow")
	if off := appendOne(t, m, "slow", "mended"); off != 2 {
		t.Fatalf("append to slow-0 after its recovery at offset %d, want 2", off)
	}
	if off := appendOne(t, m, "fast", "end"); off != 3 {
		t.Fatalf("append to fast-0 at offset %d, want 3", off)
	}
}

// A topic deleted while one of its replicas recovers: the recovered
// replica is never served, and its directory is gone.
func TestTopicDeletedWhileItsReplicaRecovers(t *testing.T) {
	c := oneBroker(t, "gone")
	pr := pauseRecovery(t)
	m, _, stop := runManager(t, c, pr)
	leaderOf(t, m, "gone")
	stop()

	pr = pauseRecovery(t, "gone-0")
	var lc logCollector
	m = NewManager(c, 1, Options{Logf: lc.logf, Backstop: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx, nil) }()
	defer func() { cancel(); pr.releaseAll(); <-done }()
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
	if _, err := os.Stat(c.PartitionDir(1, "gone", 0)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("replica directory of the deleted topic: %v", err)
	}
	m.mu.Lock()
	n := len(m.reps)
	m.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d replicas published after the delete", n)
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	for _, l := range lc.lines {
		if strings.Contains(l, "open replica") {
			t.Fatalf("logged %q", l)
		}
	}
}
