package main

// meta/lock serializes every read-modify-write of the metadata. While a
// broker is alive only brokers take it: a one-shot command's metadata
// writes go to a broker as Kafka admin requests (issue 9), so a command
// stopped with Ctrl-Z holds nothing the controller's failover waits on.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

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

// A broker stopped (SIGSTOP, Ctrl-Z, a debugger) while it holds meta/lock
// is killed by a process that waits for the lock, once its session timed
// out (coord/lockholder.go): the controller's elections and every other
// metadata write go on instead of waiting for it for MetaLockTimeout.

// Test hooks of coord/lock.go.
const (
	// stopInMetaLockArmedEnv names a marker: a process stops itself in
	// its next meta/lock once "<marker>.armed" holds its pid.
	stopInMetaLockArmedEnv = "MK_TEST_STOP_IN_META_LOCK_ARMED"
	// metaLockTimeoutEnv shortens MetaLockTimeout in the processes that
	// have it, so that a waiter gives up in seconds.
	metaLockTimeoutEnv = "MK_TEST_META_LOCK_TIMEOUT"
)

// metaLockProduce produces n records tagged tag to topic's partition part
// with acks=all through the brokers other than skip, and returns them
// with their offsets.
func metaLockProduce(t *testing.T, k *kafkaCluster, topic string, part int, tag string, n, skip int) []*kgo.Record {
	t.Helper()
	var seeds []string
	for id := range k.procs {
		if _, addr := k.registration(id); id != skip && addr != "" {
			seeds = append(seeds, addr)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(part), Value: fmt.Appendf(nil, "%s-%d", tag, i)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce %s: %v\n%s", tag, err, k.logTails(40))
	}
	return recs
}

// stopBrokerInMetaLock makes broker id take meta/lock (it is asked to
// create a topic) and stop there, with the armed test hook, and returns
// once every thread of it is stopped.
func stopBrokerInMetaLock(t *testing.T, k *kafkaCluster, marker string, id int) {
	t.Helper()
	pid := k.procs[id].Process.Pid
	if err := os.WriteFile(marker+".armed", []byte(strconv.Itoa(pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, addr := k.registration(id)
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version, req.TimeoutMillis = 4, 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "trigger", 1, 1
	req.Topics = append(req.Topics, rt)
	dialRaw(t, addr).send(req) // answered when broker id is continued, if ever
	waitUntil(t, fmt.Sprintf("broker %d stopped inside meta/lock", id), 20*time.Second, func() bool {
		data, err := os.ReadFile(marker)
		if err != nil || strings.TrimSpace(string(data)) != strconv.Itoa(pid) {
			return false
		}
		ok, err := processStopped(pid)
		return err == nil && ok
	})
}

// brokerLogs is every broker log of the test.
func (k *kafkaCluster) brokerLogs() string {
	var all strings.Builder
	logs, _ := filepath.Glob(filepath.Join(filepath.Dir(k.dir), "broker*.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		all.Write(b)
	}
	return all.String()
}

// TestMetaLockStoppedBrokerKilled: a broker that leads a partition stops
// (SIGSTOP) while it holds meta/lock. Once its session times out, the
// process that waits for the lock (the controller electing a new leader,
// or a broker taking over as controller) kills it: the partition fails
// over within the session timeout and a small budget, not after
// MetaLockTimeout (30s); the broker is dead, logged once by its killer;
// metadata writes work; every record acknowledged with acks=all before
// and after is there. Twice: the stopped broker is the controller too, or
// it is not.
func TestMetaLockStoppedBrokerKilled(t *testing.T) {
	t.Run("leader", func(t *testing.T) { metaLockStoppedBrokerKilled(t, false) })
	t.Run("leader and controller", func(t *testing.T) { metaLockStoppedBrokerKilled(t, true) })
}

func metaLockStoppedBrokerKilled(t *testing.T, controllerToo bool) {
	marker := filepath.Join(t.TempDir(), "stopped")
	t.Setenv(stopInMetaLockArmedEnv, marker)
	const session = time.Second
	k := startKafkaCluster(t, 3, "--session-timeout", session.String())
	k.mk("topic", "create", "t", "--partitions", "3", "--replication-factor", "3", "--config", "min.insync.replicas=2")
	c, err := coord.Open(k.dir)
	if err != nil {
		t.Fatal(err)
	}
	leaderOf := func(part int) int {
		tp, err := c.Topic("t")
		if err != nil {
			t.Fatal(err)
		}
		return tp.Partitions[part].Leader
	}
	ctl := k.controllerID()
	part, victim := -1, 0
	waitUntil(t, "a partition to stop the leader of", 10*time.Second, func() bool {
		for p := range 3 {
			if l := leaderOf(p); l > 0 && (l == ctl) == controllerToo {
				part, victim = p, l
				return true
			}
		}
		return false
	})
	acked := metaLockProduce(t, k, "t", part, "before", 50, 0)
	pid := k.procs[victim].Process.Pid

	stopBrokerInMetaLock(t, k, marker, victim)
	stopped := time.Now()
	// Its last heartbeat, which it wrote before it stopped: its session
	// expires a session timeout later.
	fi, err := os.Stat(filepath.Join(k.dir, "brokers", strconv.Itoa(victim), "heartbeat"))
	if err != nil {
		t.Fatal(err)
	}
	expiry := fi.ModTime().Add(session)
	waitUntil(t, "a new leader of t-"+strconv.Itoa(part), 20*time.Second, func() bool {
		l := leaderOf(part)
		return l > 0 && l != victim
	})
	moved := time.Now()
	took := moved.Sub(stopped)
	t.Logf("t-%d moved from broker %d (controller too: %v) %v after it stopped inside meta/lock, %v after its session expired (%v timeout)", part, victim, controllerToo, took.Round(time.Millisecond), moved.Sub(expiry).Round(time.Millisecond), session)
	// The alternative to the kill is waiting out MetaLockTimeout (30s):
	// the bound tells the two apart on a loaded machine; the time itself
	// is logged above.
	if took > coord.MetaLockTimeout/2 {
		t.Errorf("the failover took %v after the stop, want well under MetaLockTimeout (%v): the stopped holder was waited for, not killed", took, coord.MetaLockTimeout)
	}

	// Dead, by SIGKILL, and its killer said so once.
	cmd := k.procs[victim]
	delete(k.procs, victim)
	cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("broker %d ended with %v, want SIGKILL", victim, cmd.ProcessState)
	}
	var killed []string
	for line := range strings.SplitSeq(k.brokerLogs(), "\n") {
		if strings.Contains(line, fmt.Sprintf("killed broker %d (pid %d)", victim, pid)) {
			killed = append(killed, line)
		}
	}
	if len(killed) != 1 {
		t.Fatalf("%d log lines say broker %d was killed, want 1:\n%s", len(killed), victim, k.logTails(30))
	}
	t.Log(killed[0])

	start := time.Now()
	k.mk("topic", "create", "after")
	t.Logf("mk topic create after the kill: %v", time.Since(start).Round(time.Millisecond))
	acked = append(acked, metaLockProduce(t, k, "t", part, "after", 20, victim)...)
	at := map[int64]string{}
	for _, r := range k.consumeAll("t") {
		if r.Partition == int32(part) {
			at[r.Offset] = r.Value
		}
	}
	for _, r := range acked {
		if at[r.Offset] != string(r.Value) {
			t.Fatalf("acknowledged %q at offset %d, the log holds %q", r.Value, r.Offset, at[r.Offset])
		}
	}
}

// TestMetaLockLiveBrokerNotKilled: a broker stopped inside meta/lock whose
// heartbeat stays fresh (the test beats for it) is alive as far as the
// cluster knows: a broker waiting for the lock waits its whole
// MetaLockTimeout (shortened to 1s) and fails the write, and the holder
// lives on; continued, it finishes its write.
func TestMetaLockLiveBrokerNotKilled(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "stopped")
	t.Setenv(stopInMetaLockArmedEnv, marker)
	t.Setenv(metaLockTimeoutEnv, "1s")
	k := startKafkaCluster(t, 2, "--session-timeout", "1s")
	const holder = 2
	pid := k.procs[holder].Process.Pid
	beat := make(chan struct{})
	beating := make(chan struct{})
	go func() {
		defer close(beating)
		heartbeat := filepath.Join(k.dir, "brokers", strconv.Itoa(holder), "heartbeat")
		for {
			now := time.Now()
			os.Chtimes(heartbeat, now, now)
			select {
			case <-beat:
				return
			case <-time.After(50 * time.Millisecond): // the heartbeat's period
			}
		}
	}()
	stopBrokerInMetaLock(t, k, marker, holder)

	start := time.Now()
	out, err := exec.Command("mk", "--dir", k.dir, "topic", "create", "u").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "held for over 1s") {
		t.Fatalf("mk topic create with broker %d stopped inside meta/lock, alive: %v: %s", holder, err, out)
	}
	t.Logf("mk topic create failed after %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(string(out)))
	if ok, err := processStopped(pid); err != nil || !ok {
		t.Fatalf("broker %d, alive and stopped inside meta/lock, is no longer stopped: %v", holder, err)
	}
	if strings.Contains(k.brokerLogs(), "killed broker") {
		t.Fatalf("a broker was killed:\n%s", k.logTails(20))
	}
	close(beat)
	<-beating
	k.signal(holder, syscall.SIGCONT)
	k.mk("topic", "create", "v")
}

// TestMetaLockStoppedClientNotKilled: with no broker alive, mk topic
// alter writes the metadata itself under meta/lock; stopped there, it is
// never killed: another command and a starting broker wait their whole
// MetaLockTimeout (shortened to 1s) and fail, and it lives on, stopped;
// continued, it finishes, and the broker starts.
func TestMetaLockStoppedClientNotKilled(t *testing.T) {
	k := startKafkaCluster(t, 1, "--session-timeout", "1s")
	k.mk("topic", "create", "t")
	k.kill(1)

	marker := filepath.Join(t.TempDir(), "in-meta-lock")
	client := exec.Command("mk", "--dir", k.dir, "topic", "alter", "t", "--config", "retention.ms=60000")
	client.Env = append(os.Environ(), "MK_TEST_STOP_IN_META_LOCK="+marker)
	var out strings.Builder
	client.Stdout, client.Stderr = &out, &out
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- client.Wait() }()
	t.Cleanup(func() {
		client.Process.Signal(syscall.SIGKILL)
		client.Process.Signal(syscall.SIGCONT)
		<-done
	})
	pid := client.Process.Pid
	waitUntil(t, "mk topic alter stopped inside meta/lock", 20*time.Second, func() bool {
		if _, err := os.Stat(marker); err != nil {
			return false
		}
		ok, err := processStopped(pid)
		return err == nil && ok
	})

	short := append(os.Environ(), metaLockTimeoutEnv+"=1s")
	other := exec.Command("mk", "--dir", k.dir, "topic", "alter", "t", "--config", "retention.ms=120000")
	other.Env = short
	if o, err := other.CombinedOutput(); err == nil || !strings.Contains(string(o), "held for over 1s") {
		t.Fatalf("a second mk topic alter while a client holds meta/lock: %v: %s", err, o)
	}
	broker := exec.Command("mk", "--dir", k.dir, "broker", "--id", "1", "--session-timeout", "1s")
	broker.Env = short
	if o, err := broker.CombinedOutput(); err == nil || !strings.Contains(string(o), "held for over 1s") {
		t.Fatalf("mk broker while a client holds meta/lock: %v: %s", err, o)
	}
	if ok, err := processStopped(pid); err != nil || !ok {
		t.Fatalf("the client stopped inside meta/lock is no longer stopped: %v", err)
	}
	client.Process.Signal(syscall.SIGCONT)
	if err := <-done; err != nil {
		t.Fatalf("mk topic alter, continued: %v: %s", err, out.String())
	}
	done <- nil // for the clean-up
	k.start(1)
	k.waitAddress(1)
	k.mk("topic", "create", "b")
}
