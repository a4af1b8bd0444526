package replica

import (
	"context"
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

// holdsOpen reports whether this process has path open (the follower's
// reader of its leader's state file).
func holdsOpen(path string) bool {
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && l == path {
			return true
		}
	}
	return false
}

// A leader's state file is created empty and written just after
// (logdir.Recover): a follower that reads it in between waits for the
// write, without calling the file damaged. An empty state file that is
// not new is damage, and said so.
func TestFollowerWaitsForANewStateFile(t *testing.T) {
	c, err := coord.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var logged []string
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, fmt.Sprintf(format, args...))
	}
	damageLogged := func(dir string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range logged {
			if strings.Contains(l, "bad partition state file") && strings.Contains(l, dir) {
				return true
			}
		}
		return false
	}
	fm := NewManager(c, 2, Options{Backstop: 20 * time.Millisecond, Logf: logf})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	follow := func(p int) (leaderDir string, follower *logdir.Log) {
		leaderDir, followerDir := c.PartitionDir(1, "t", p), c.PartitionDir(2, "t", p)
		if err := os.MkdirAll(leaderDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(leaderDir, "state"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		follower = recoverLog(t, followerDir)
		if err := follower.BecomeFollower(0); err != nil {
			t.Fatal(err)
		}
		return leaderDir, follower
	}
	start := func(p int, follower *logdir.Log) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fm.follow(ctx, &replica{topic: "t", partition: p, dir: c.PartitionDir(2, "t", p), log: follower}, coord.Partition{Replicas: []int{1, 2}, Leader: 1, ISR: []int{1, 2}})
		}()
	}

	// Damage: an empty state file a minute old.
	oldDir, oldFollower := follow(1)
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(filepath.Join(oldDir, "state"), old, old); err != nil {
		t.Fatal(err)
	}
	rd, err := logdir.OpenReader(oldDir)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := leaderState(rd); st != nil || err == nil || !strings.Contains(err.Error(), "bad partition state file") {
		t.Errorf("an old empty state file reads as %v, %v; want damage", st, err)
	}
	rd.Close()
	start(1, oldFollower)
	waitFor(t, "the follower to report the old empty state file as damage", func() bool { return damageLogged(oldDir) })

	// New: an empty state file just created, its image written later.
	leaderDir, follower := follow(0)
	rd, err = logdir.OpenReader(leaderDir)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := leaderState(rd); st != nil || err != nil {
		t.Errorf("a new empty state file reads as %v, %v; want nothing yet", st, err)
	}
	rd.Close()
	start(0, follower)
	statePath := filepath.Join(leaderDir, "state")
	waitFor(t, "the follower to open its leader's state file", func() bool { return holdsOpen(statePath) })
	leader := recoverLog(t, leaderDir)
	if err := leader.BecomeLeader(0, false); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, leader, 0, "a", 2) // offsets 0..3
	waitFor(t, "the follower to copy the leader's records", func() bool { return state(t, follower).LogEndOffset == 4 })
	if damageLogged(leaderDir) {
		mu.Lock()
		t.Errorf("a new state file was called damaged: %q", logged)
		mu.Unlock()
	}
}
