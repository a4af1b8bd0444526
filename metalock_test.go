package main

// meta/lock serializes every read-modify-write of the metadata. While a
// broker is alive only brokers take it: a one-shot command's metadata
// writes go to a broker as Kafka admin requests (issue 9), so a command
// stopped with Ctrl-Z holds nothing the controller's failover waits on.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"mk/coord"
)

// metaCommands are the client commands that change metadata, run in
// order against a live cluster holding topic t.
var metaCommands = []struct {
	args  []string
	stdin string
}{
	{args: []string{"topic", "create", "u", "--partitions", "2"}},
	{args: []string{"topic", "alter", "u", "--partitions", "3"}},
	{args: []string{"topic", "alter", "u", "--config", "retention.ms=60000", "--delete-config", "cleanup.policy"}},
	{args: []string{"produce", "auto"}, stdin: "x\n"}, // auto-creates topic auto
	{args: []string{"topic", "delete", "u"}},
	{args: []string{"topic", "create", "t", "--if-not-exists"}},
}

// TestStoppedClientDoesNotBlockFailover: each metadata-changing command
// runs with the test hook that stops its process (SIGSTOP) the moment it
// holds meta/lock. None may take it: each finishes while brokers run.
// Had one stopped inside the lock, it stays stopped while the leader of
// t-0 is SIGKILLed, and the partition must still get a new leader within
// a second.
func TestStoppedClientDoesNotBlockFailover(t *testing.T) {
	k := startKafkaCluster(t, 3)
	k.mk("topic", "create", "t", "--partitions", "1", "--replication-factor", "3")
	c, err := coord.Open(k.dir)
	if err != nil {
		t.Fatal(err)
	}
	leaderOf := func() int {
		tp, err := c.Topic("t")
		if err != nil {
			t.Fatal(err)
		}
		return tp.Partitions[0].Leader
	}
	waitUntil(t, "t-0 has a leader", 10*time.Second, func() bool { return leaderOf() != coord.NoLeader })

	var stopped []*exec.Cmd
	for i, mc := range metaCommands {
		marker := filepath.Join(t.TempDir(), "in-meta-lock")
		cmd := exec.Command("mk", append([]string{"--dir", k.dir}, mc.args...)...)
		cmd.Env = append(os.Environ(), "MK_TEST_STOP_IN_META_LOCK="+marker)
		cmd.Stdin = strings.NewReader(mc.stdin)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Process.Signal(syscall.SIGCONT)
			<-done
		})
		var exited bool
		waitUntil(t, "mk "+strings.Join(mc.args, " ")+" exits or stops inside meta/lock", 30*time.Second, func() bool {
			select {
			case err := <-done:
				exited = true
				if err != nil {
					t.Errorf("mk %s: %v: %s", strings.Join(mc.args, " "), err, out.String())
				}
				done <- err // for the clean-up
				return true
			default:
			}
			_, err := os.Stat(marker)
			return err == nil
		})
		if !exited {
			t.Errorf("command %d, mk %s, holds meta/lock in the client process (stopped there now)", i, strings.Join(mc.args, " "))
			stopped = append(stopped, cmd)
			break // every later metadata write would wait for it
		}
	}

	old := leaderOf()
	k.kill(old)
	killed := time.Now()
	deadline := killed.Add(time.Second)
	for {
		if l := leaderOf(); l != old && l != coord.NoLeader {
			t.Logf("t-0 moved from broker %d to %d %v after its SIGKILL; %d client(s) stopped inside meta/lock", old, l, time.Since(killed).Round(time.Millisecond), len(stopped))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("t-0 still led by the killed broker %d a second after its SIGKILL, with %d client(s) stopped inside meta/lock", old, len(stopped))
		}
		time.Sleep(5 * time.Millisecond) // poll interval, bounded by the deadline
	}
	for _, cmd := range stopped {
		cmd.Process.Signal(syscall.SIGCONT)
	}
}

// TestNoClientHoldsMetaLock: while topic admin commands (create, alter,
// delete, a producer's auto-create) run against a live cluster, meta/lock
// is only ever held, or waited for, by brokers (sampled from /proc/locks).
func TestNoClientHoldsMetaLock(t *testing.T) {
	k := startKafkaCluster(t, 2)
	k.mk("topic", "create", "t")
	fi, err := os.Stat(filepath.Join(k.dir, "meta", "lock"))
	if err != nil {
		t.Fatal(err)
	}
	ino := fi.Sys().(*syscall.Stat_t).Ino
	brokers := map[int]bool{}
	for _, cmd := range k.procs {
		brokers[cmd.Process.Pid] = true
	}
	done := make(chan error, 1)
	go func() {
		for round := range 15 {
			for _, mc := range metaCommands {
				cmd := exec.Command("mk", append([]string{"--dir", k.dir}, mc.args...)...)
				cmd.Stdin = strings.NewReader(mc.stdin)
				if out, err := cmd.CombinedOutput(); err != nil {
					done <- fmt.Errorf("round %d: mk %s: %v: %s", round, strings.Join(mc.args, " "), err, out)
					return
				}
			}
			exec.Command("mk", "--dir", k.dir, "topic", "delete", "auto").Run()
		}
		done <- nil
	}()
	samples, held := 0, 0
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d samples of /proc/locks while topic commands ran; meta/lock seen held %d times, all by brokers", samples, held)
			return
		default:
		}
		samples++
		for _, pid := range flockHolders(t)[ino] {
			held++
			if !brokers[pid] {
				t.Fatalf("meta/lock held or waited for by pid %d, not a broker", pid)
			}
		}
	}
}

// TestTopicAdminSkipsStoppedBroker: a broker stopped with SIGSTOP still
// looks alive (it holds its lock) but answers nothing; topic commands
// send their changes to a broker that runs instead of waiting on it.
func TestTopicAdminSkipsStoppedBroker(t *testing.T) {
	k := startKafkaCluster(t, 2)
	k.mk("topic", "create", "t")
	stopped := k.procs[1].Process
	if err := stopped.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopped.Signal(syscall.SIGCONT) })
	for _, mc := range metaCommands {
		if mc.args[0] == "produce" {
			continue // a producer needs the partitions' leaders, which may be the stopped broker
		}
		start := time.Now()
		cmd := exec.Command("mk", append([]string{"--dir", k.dir}, mc.args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mk %s with broker 1 stopped: %v: %s", strings.Join(mc.args, " "), err, out)
		}
		t.Logf("mk %s: %v", strings.Join(mc.args, " "), time.Since(start).Round(time.Millisecond))
	}
}
