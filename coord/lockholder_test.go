package coord

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Lock holders for the tests of killStoppedHolder: the test binary run
// with lockHolderEnv set is a process that takes meta/lock when told to,
// as a broker (registered, heartbeating), as a client (no registration),
// or as a process that holds a broker's lock file it did not write. It
// takes commands on stdin, one a line, and answers on stdout.
const lockHolderEnv = "MK_COORD_TEST_LOCK_HOLDER"

// lockHolderSession is the holder broker's session timeout: short, so the
// tests wait little for it to pass, with 10 heartbeats in it.
const lockHolderSession = 500 * time.Millisecond

func init() {
	if mode := os.Getenv(lockHolderEnv); mode != "" {
		os.Exit(runLockHolder(mode))
	}
}

func runLockHolder(mode string) int {
	HeartbeatInterval = lockHolderSession / 10
	SessionTimeout = lockHolderSession
	c, err := Open(os.Getenv("MK_COORD_TEST_DIR"))
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	id, _ := strconv.Atoi(os.Getenv("MK_COORD_TEST_BROKER"))
	var s *BrokerSession
	switch mode {
	case "broker":
		if s, err = c.RegisterBroker(id); err != nil {
			fmt.Println("error", err)
			return 1
		}
		defer s.Close()
	case "impostor":
		// Holds broker id's lock file and writes its pid into it, but the
		// file's mtime says it was written an hour ago, before this
		// process started: as if the pid were a reused one.
		path := c.brokerLockPath(id)
		l, err := tryLock(path)
		if err != nil || l == nil {
			fmt.Println("error", path, "busy", err)
			return 1
		}
		defer l.unlock()
		hour := time.Now().Add(-time.Hour)
		if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			fmt.Println("error", err)
			return 1
		}
		if err := os.Chtimes(path, hour, hour); err != nil {
			fmt.Println("error", err)
			return 1
		}
		if err := writeJSON(c.brokerJSONPath(id), brokerFile{ID: id, Epoch: 1, Pid: os.Getpid(), SessionTimeoutMs: lockHolderSession.Milliseconds()}); err != nil {
			fmt.Println("error", err)
			return 1
		}
	}
	fmt.Println("ready", os.Getpid())
	release := make(chan struct{})
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "lock":
			go c.withMetaLock(func() error {
				fmt.Println("locked")
				<-release
				return nil
			})
		case "grouplock":
			go c.withGroup("g", func(*Group) (bool, error) {
				fmt.Println("locked")
				<-release
				return false, nil
			})
		case "unlock":
			close(release)
		case "stop-heartbeat":
			// A broker that runs but no longer beats: it keeps its lock.
			close(s.stop)
			<-s.done
			fmt.Println("heartbeat stopped")
		}
	}
	return 0
}

// startLockHolder starts a lock holder in mode as broker id of c's
// directory and returns it and its stdin.
func startLockHolder(t *testing.T, c *Cluster, mode string, id int) (*child, func(string)) {
	t.Helper()
	ch, stdin := spawnChild(t, "ready", lockHolderEnv+"="+mode, "MK_COORD_TEST_DIR="+c.Dir(), "MK_COORD_TEST_BROKER="+strconv.Itoa(id))
	return ch, func(cmd string) {
		if _, err := fmt.Fprintln(stdin, cmd); err != nil {
			t.Fatal(err)
		}
	}
}

// captureLockLog collects what killStoppedHolder logs during the test.
func captureLockLog(t *testing.T) func() []string {
	var lines []string
	done := make(chan struct{})
	ch := make(chan string, 10)
	prev := lockLogf
	lockLogf = func(format string, args ...any) { ch <- fmt.Sprintf(format, args...) }
	go func() {
		defer close(done)
		for l := range ch {
			lines = append(lines, l)
		}
	}()
	t.Cleanup(func() { lockLogf = prev })
	return func() []string {
		lockLogf = prev
		close(ch)
		<-done
		return lines
	}
}

// TestStoppedBrokerInMetaLockIsKilled: a broker holding meta/lock is
// waited for while it heartbeats, while it is stopped but its heartbeat is
// fresh, and while its session expired but it runs; once it is stopped
// past its session timeout, a waiter kills it and takes the lock.
func TestStoppedBrokerInMetaLockIsKilled(t *testing.T) {
	c := newCluster(t)
	b, send := startLockHolder(t, c, "broker", 1)
	send("lock")
	b.expect(t, "locked")
	lock := c.metaLockPath()
	verdict := func(want bool, why string) {
		t.Helper()
		h := c.examineHolder(lock)
		if h.pid != b.pid || h.broker != 1 || h.kill != want || (why != "" && !strings.Contains(h.why, why)) {
			t.Fatalf("holder %+v; want pid %d, broker 1, kill %v, why %q", h, b.pid, want, why)
		}
	}
	verdict(false, "is alive")

	// Stopped, its heartbeat still fresh (touched here, as if it had
	// just been stopped): alive, waited for.
	b.signal(t, syscall.SIGSTOP)
	if err := touch(c.heartbeatPath(1)); err != nil {
		t.Fatal(err)
	}
	verdict(false, "is alive")
	waitFor(t, "broker 1's session to expire", func() bool { return !c.BrokerAlive(1) })
	verdict(true, "")

	// Running, its session expired (it no longer beats): slow, not
	// stopped, waited for.
	b.signal(t, syscall.SIGCONT)
	send("stop-heartbeat")
	b.expect(t, "heartbeat stopped")
	waitFor(t, "broker 1's session to expire", func() bool { return !c.BrokerAlive(1) })
	verdict(false, "not stopped")

	// Stopped past its session timeout: the next waiter kills it.
	b.signal(t, syscall.SIGSTOP)
	logged := captureLockLog(t)
	start := time.Now()
	if err := c.withMetaLock(func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	err := b.cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the stopped broker ended with %v, want SIGKILL", err)
	}
	lines := logged()
	if len(lines) != 1 || !strings.HasPrefix(lines[0], fmt.Sprintf("killed broker 1 (pid %d) with SIGKILL: it held %s", b.pid, lock)) {
		t.Fatalf("logged %q", lines)
	}
	t.Logf("took meta/lock %v after the wait began: %s", took.Round(time.Millisecond), lines[0])
	// Without the kill the wait lasts MetaLockTimeout (30s).
	if took > MetaLockTimeout/2 {
		t.Errorf("took meta/lock %v after the wait began, want well under MetaLockTimeout (%v)", took, MetaLockTimeout)
	}
}

// TestStoppedClientInMetaLockIsNotKilled: a process that is no broker
// holds meta/lock, stopped; a registration and a lock file name its pid
// (as a reused pid of a dead broker would be named) but it does not hold
// the broker's lock. A waiter waits out its whole timeout and the holder
// lives on.
func TestStoppedClientInMetaLockIsNotKilled(t *testing.T) {
	c := newCluster(t)
	cl, send := startLockHolder(t, c, "client", 0)
	send("lock")
	cl.expect(t, "locked")
	cl.signal(t, syscall.SIGSTOP)
	if err := os.MkdirAll(c.brokersDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeJSON(c.brokerJSONPath(4), brokerFile{ID: 4, Epoch: 1, Pid: cl.pid, SessionTimeoutMs: 1}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.brokerLockPath(4), []byte(strconv.Itoa(cl.pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := c.examineHolder(c.metaLockPath())
	if h.pid != cl.pid || h.kill || !strings.Contains(h.why, "not a broker") {
		t.Fatalf("holder %+v; want pid %d, not a broker, not killed", h, cl.pid)
	}
	logged := captureLockLog(t)
	defer func(d time.Duration) { MetaLockTimeout = d }(MetaLockTimeout)
	MetaLockTimeout = 300 * time.Millisecond
	if err := c.withMetaLock(func() error { return nil }); !errors.Is(err, ErrMetadataLocked) {
		t.Fatalf("withMetaLock = %v, want ErrMetadataLocked", err)
	}
	if lines := logged(); len(lines) != 0 {
		t.Fatalf("logged %q", lines)
	}
	if !processAlive(cl.pid) {
		t.Fatal("the stopped client was killed")
	}
}

// TestImpostorBrokerIsNotKilled: a process holds a broker's lock file and
// its pid is in it, but the file was written before the process started
// (as if its pid were reused): it is not that broker, and is not killed.
// Written after it started, the same process would be.
func TestImpostorBrokerIsNotKilled(t *testing.T) {
	c := newCluster(t)
	imp, send := startLockHolder(t, c, "impostor", 5)
	send("lock")
	imp.expect(t, "locked")
	imp.signal(t, syscall.SIGSTOP)
	h := c.examineHolder(c.metaLockPath())
	if h.pid != imp.pid || h.broker != 5 || h.kill || !strings.Contains(h.why, "not the broker that wrote it") {
		t.Fatalf("holder %+v; want pid %d, broker 5, not killed: not the broker that wrote its lock file", h, imp.pid)
	}
	now := time.Now()
	if err := os.Chtimes(c.brokerLockPath(5), now, now); err != nil {
		t.Fatal(err)
	}
	if h := c.examineHolder(c.metaLockPath()); !h.kill {
		t.Fatalf("holder %+v; want killed once its lock file is younger than it", h)
	}
}

// TestReadFlocks: /proc/locks names the holder of a lock by device and
// inode, this process for a lock it holds, and nobody for a free one.
func TestReadFlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	l, err := tryLock(path)
	if err != nil || l == nil {
		t.Fatal(l, err)
	}
	locks, err := readFlocks()
	if err != nil {
		t.Fatal(err)
	}
	if pid, err := flockHolderOf(locks, path); pid != os.Getpid() {
		t.Fatalf("/proc/locks names pid %d for %s (%v), want %d", pid, path, err, os.Getpid())
	}
	// Where /proc/locks names another device than stat(2) does (btrfs,
	// overlayfs), the holder is the pid with the file open: this one, not
	// another process.
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	other := map[uint64][]flockLine{st.Ino: {{major: 4095, minor: 4095, pid: os.Getpid()}}}
	if pid, _ := flockHolderOf(other, path); pid != os.Getpid() {
		t.Fatalf("a lock line on another device, held by this process: holder %d, want %d", pid, os.Getpid())
	}
	other[st.Ino][0].pid = os.Getppid()
	if pid, _ := flockHolderOf(other, path); pid != 0 {
		t.Fatalf("a lock line on another device, of a process without the file open: holder %d, want none", pid)
	}
	l.unlock()
	if locks, _ = readFlocks(); len(locks[st.Ino]) != 0 {
		if pid, _ := flockHolderOf(locks, path); pid != 0 {
			t.Fatalf("/proc/locks names pid %d for the released %s", pid, path)
		}
	}
	start, age, err := processStart(os.Getpid())
	if err != nil || start == 0 || age <= 0 || age > time.Hour {
		t.Fatalf("processStart = %d, %v, %v", start, age, err)
	}
}

// TestStoppedBrokerInGroupLockIsKilled: a group's lock is taken by
// brokers (the coordinator of Kafka clients' groups) and by mk's own
// members, which are clients. A broker stopped inside it past its session
// timeout is killed by the next waiter, as inside meta/lock; a client
// stopped inside it is not a broker, and is waited for.
func TestStoppedBrokerInGroupLockIsKilled(t *testing.T) {
	c := newCluster(t)
	lock := c.groupLockPath("g")

	cl, sendClient := startLockHolder(t, c, "client", 0)
	sendClient("grouplock")
	cl.expect(t, "locked")
	cl.signal(t, syscall.SIGSTOP)
	if h := c.examineHolder(lock); h.pid != cl.pid || h.kill || !strings.Contains(h.why, "not a broker") {
		t.Fatalf("holder %+v; want pid %d, not a broker, not killed", h, cl.pid)
	}
	cl.signal(t, syscall.SIGCONT)
	sendClient("unlock")
	waitFor(t, "the client to let the group lock go", func() bool { return c.examineHolder(lock).pid == 0 })

	b, send := startLockHolder(t, c, "broker", 1)
	send("grouplock")
	b.expect(t, "locked")
	b.signal(t, syscall.SIGSTOP)
	waitFor(t, "broker 1's session to expire", func() bool { return !c.BrokerAlive(1) })
	logged := captureLockLog(t)
	if _, err := c.withGroup("g", func(*Group) (bool, error) { return false, nil }); err != nil {
		t.Fatal(err)
	}
	b.cmd.Wait()
	if ws, ok := b.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the stopped broker ended with %v, want SIGKILL", b.cmd.ProcessState)
	}
	if lines := logged(); len(lines) != 1 || !strings.Contains(lines[0], fmt.Sprintf("killed broker 1 (pid %d) with SIGKILL: it held %s", b.pid, lock)) {
		t.Fatalf("logged %q", lines)
	}
}
