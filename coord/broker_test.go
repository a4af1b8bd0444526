package coord

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A broker in another process is alive while it runs and dead the moment
// it is SIGKILLed: the kernel drops its lock, no timeout involved.
func TestBrokerLivenessIsTheLock(t *testing.T) {
	c := newCluster(t)
	b := startChild(t, c.Dir(), "broker", 7)

	if !c.BrokerAlive(7) {
		t.Fatal("registered child broker 7 is not alive")
	}
	live, err := c.LiveBrokers()
	if err != nil || !slices.Equal(live, []int{7}) {
		t.Fatalf("LiveBrokers() = %v, %v; want [7]", live, err)
	}
	info, err := c.Broker(7)
	if err != nil || info.Pid != b.pid || info.State() != "alive" || info.SessionTimeout != childSessionTimeout {
		t.Fatalf("Broker(7) = %+v, %v; want pid %d, alive, session timeout %v", info, err, b.pid, childSessionTimeout)
	}

	// One broker per id: the second fails at once, naming the pid.
	start := time.Now()
	_, err = c.RegisterBroker(7)
	if !errors.Is(err, ErrBrokerRunning) || err.Error() != fmt.Sprintf("broker 7 is already running (pid %d)", b.pid) {
		t.Fatalf("second RegisterBroker(7) = %v; want ErrBrokerRunning naming pid %d", err, b.pid)
	}
	if d := time.Since(start); d >= RegisterRetry {
		t.Errorf("second RegisterBroker(7) took %v: a live pid should fail it at once", d)
	}

	b.kill(t)
	if c.BrokerAlive(7) {
		t.Fatal("broker 7 is alive right after its process was killed")
	}
	info, _ = c.Broker(7)
	if info.State() != "dead" {
		t.Fatalf("killed broker state = %s, want dead", info.State())
	}

	// The id is free again, and the new registration has a higher epoch.
	s, err := c.RegisterBroker(7)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Info().Epoch != 2 {
		t.Errorf("re-registered broker epoch = %d, want 2", s.Info().Epoch)
	}
}

// A stopped broker keeps its lock but stops heartbeating: after its
// session timeout it counts as failed, and alive again once it resumes.
func TestStoppedBrokerFailsAfterSessionTimeout(t *testing.T) {
	c := newCluster(t)
	b := startChild(t, c.Dir(), "broker", 3)
	if !c.BrokerAlive(3) {
		t.Fatal("broker 3 not alive")
	}
	b.signal(t, syscall.SIGSTOP)
	waitFor(t, "stopped broker 3 to fail", func() bool { return !c.BrokerAlive(3) })
	info, err := c.Broker(3)
	if err != nil || !info.LockHeld || info.State() != "failed" {
		t.Fatalf("stopped broker = %+v, %v; want lock held, state failed", info, err)
	}
	if age := time.Since(info.LastHeartbeat); age < childSessionTimeout {
		t.Errorf("broker failed with a heartbeat %v old, younger than its %v session timeout", age, childSessionTimeout)
	}
	// Still one broker per id: a failed broker's id is not free.
	if _, err := c.RegisterBroker(3); !errors.Is(err, ErrBrokerRunning) {
		t.Fatalf("RegisterBroker of a stopped broker's id = %v, want ErrBrokerRunning", err)
	}
	b.signal(t, syscall.SIGCONT)
	waitFor(t, "resumed broker 3 to be alive", func() bool { return c.BrokerAlive(3) })
}

func TestRegisterBrokerInProcess(t *testing.T) {
	c := newCluster(t)
	s := registerBrokers(t, c, 1)[1]

	// A second session of the same id in this process fails at once.
	_, err := c.RegisterBroker(1)
	if !errors.Is(err, ErrBrokerRunning) || !strings.Contains(err.Error(), fmt.Sprintf("(pid %d)", os.Getpid())) {
		t.Fatalf("second RegisterBroker(1) = %v", err)
	}
	// Another Cluster value of the same directory shares the rule.
	c2, _ := Open(c.Dir())
	if _, err := c2.RegisterBroker(1); !errors.Is(err, ErrBrokerRunning) {
		t.Fatalf("RegisterBroker(1) through a second Cluster = %v", err)
	}
	if _, err := c.RegisterBroker(-1); err == nil {
		t.Fatal("RegisterBroker(-1) succeeded")
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if c.BrokerAlive(1) {
		t.Fatal("closed broker is alive")
	}
	bs, err := c.Brokers()
	if err != nil || len(bs) != 1 || bs[0].ID != 1 || bs[0].State() != "dead" {
		t.Fatalf("Brokers() after Close = %+v, %v; want broker 1, dead", bs, err)
	}
	if _, err := c.RequireLiveBroker(); !errors.Is(err, ErrNoBroker) || !strings.Contains(err.Error(), "start one with mk cluster start") {
		t.Fatalf("RequireLiveBroker() with none alive = %v", err)
	}
}

// A liveness probe holds the broker's lock (shared) for an instant; a
// broker starting at that instant must retry rather than fail.
// The previous broker of an id may still be exiting (alive, its lock let
// go) when the next one starts while a probe holds the lock: the next one
// waits the probe out instead of taking the exiting process for a running
// broker.
func TestRegisterBrokerRetriesPastAProbeWhileThePreviousOneExits(t *testing.T) {
	c := newCluster(t)
	s := registerBrokers(t, c, 4)[4]
	s.Close()
	exiting := exec.Command("sleep", "30")
	if err := exiting.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { exiting.Process.Kill(); exiting.Wait() }()
	var reg map[string]any
	must(t, readJSON(c.brokerJSONPath(4), &reg))
	reg["pid"] = exiting.Process.Pid
	must(t, writeJSON(c.brokerJSONPath(4), reg))

	f, err := os.Open(c.brokerLockPath(4))
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	time.AfterFunc(probeGrace/20, func() { f.Close(); close(released) })
	defer func() { <-released }()
	s, err = c.RegisterBroker(4)
	if err != nil {
		t.Fatalf("RegisterBroker during a probe, the previous broker exiting: %v", err)
	}
	s.Close()
}

func TestRegisterBrokerRetriesPastAProbe(t *testing.T) {
	c := newCluster(t)
	s := registerBrokers(t, c, 4)[4]
	s.Close()

	// Play a slow probe: hold LOCK_SH while the dead broker's pid (ours,
	// recorded by the closed session) cannot claim the lock.
	f, err := os.Open(c.brokerLockPath(4))
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	time.AfterFunc(RegisterRetry/5, func() { f.Close(); close(released) })
	defer func() { <-released }()
	s, err = c.RegisterBroker(4)
	if err != nil {
		t.Fatalf("RegisterBroker during a probe: %v", err)
	}
	s.Close()
}

func TestHeartbeatKeepsAnInProcessBrokerAlive(t *testing.T) {
	old := HeartbeatInterval
	HeartbeatInterval = 10 * time.Millisecond
	defer func() { HeartbeatInterval = old }()
	c := newCluster(t)
	registerBrokers(t, c, 2)
	first, _ := c.Broker(2)
	waitFor(t, "the heartbeat to advance", func() bool {
		b, _ := c.Broker(2)
		return b.LastHeartbeat.After(first.LastHeartbeat)
	})
}

// A registration that does not parse is reported, naming the file, but the
// broker is still judged by its lock and heartbeat.
func TestCorruptRegistration(t *testing.T) {
	c := newCluster(t)
	registerBrokers(t, c, 5)
	path := c.brokerJSONPath(5)
	if err := os.WriteFile(path, []byte("{\"id\": 5, \"pid\":"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := c.Broker(5)
	if !errors.Is(err, ErrCorruptMetadata) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Broker(5) error = %v, want corrupt metadata naming %s", err, path)
	}
	if !b.Alive || !c.BrokerAlive(5) {
		t.Fatal("a live broker with an unreadable registration is not alive")
	}
	if _, err := c.Brokers(); !errors.Is(err, ErrCorruptMetadata) {
		t.Fatalf("Brokers() = %v, want ErrCorruptMetadata", err)
	}
}
