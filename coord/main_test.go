package coord

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Child processes: the test binary re-executes itself with
// MK_COORD_TEST_CHILD set to run a broker (or a broker that competes to be
// the controller) in a process of its own, which the test can SIGKILL,
// SIGSTOP and SIGCONT. The child reports on stdout, one event per line, and
// exits when its stdin closes.
const childEnv = "MK_COORD_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	// Shortened timing for the whole package; tests never wait for these
	// to pass, they poll for the condition with a deadline.
	ControllerPollInterval = 10 * time.Millisecond
	ControllerBackstop = 100 * time.Millisecond
	controllerStepDownBackoff = 200 * time.Millisecond
	os.Exit(m.Run())
}

// Child timing: a 1s session timeout (20 heartbeats, so a loaded machine
// does not fail a live child) and a short takeover grace.
const (
	childHeartbeat      = 50 * time.Millisecond
	childSessionTimeout = time.Second
	childTakeoverGrace  = 200 * time.Millisecond
)

func runChild(mode string) int {
	HeartbeatInterval = childHeartbeat
	SessionTimeout = childSessionTimeout
	ControllerTakeoverGrace = childTakeoverGrace
	ControllerPollInterval = 10 * time.Millisecond
	ControllerBackstop = 50 * time.Millisecond
	controllerStepDownBackoff = 200 * time.Millisecond

	c, err := Open(os.Getenv("MK_COORD_TEST_DIR"))
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	id, _ := strconv.Atoi(os.Getenv("MK_COORD_TEST_BROKER"))
	s, err := c.RegisterBroker(id)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	defer s.Close()
	fmt.Println("registered", os.Getpid())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	if mode == "controller" {
		go func() {
			defer close(done)
			c.RunController(ctx, id, ControllerHooks{
				OnElected:  func(e int64) { fmt.Println("elected", e) },
				OnResigned: func(e int64) { fmt.Println("resigned", e) },
			})
		}()
	} else {
		close(done)
	}
	bufio.NewReader(os.Stdin).ReadString('\n') // until stdin closes
	cancel()
	<-done
	return 0
}

// child is a running child process.
type child struct {
	cmd   *exec.Cmd
	lines chan string
	pid   int
}

// startChild starts a child in mode ("broker" or "controller") as broker id
// and waits until it has registered.
func startChild(t *testing.T, dir, mode string, id int) *child {
	t.Helper()
	ch, _ := spawnChild(t, "registered", childEnv+"="+mode, "MK_COORD_TEST_DIR="+dir, "MK_COORD_TEST_BROKER="+strconv.Itoa(id))
	return ch
}

// spawnChild re-executes the test binary with env added, reads its stdout
// lines into the child's channel, waits for the line ready, and kills it
// (continuing it first, in case a test stopped it) when the test ends.
func spawnChild(t *testing.T, ready string, env ...string) (*child, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := &child{cmd: cmd, lines: make(chan string, 100), pid: cmd.Process.Pid}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			ch.lines <- sc.Text()
		}
		close(ch.lines)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	ch.expect(t, ready)
	return ch, stdin
}

// expect waits for the child's next line that starts with prefix and
// returns the rest of it.
func (ch *child) expect(t *testing.T, prefix string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-ch.lines:
			if !ok {
				t.Fatalf("child %d exited before saying %q", ch.pid, prefix)
			}
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				return strings.TrimSpace(rest)
			}
			if strings.HasPrefix(line, "error") {
				t.Fatalf("child %d: %s", ch.pid, line)
			}
		case <-deadline:
			t.Fatalf("child %d did not say %q within 10s", ch.pid, prefix)
		}
	}
}

// kill SIGKILLs the child and reaps it: when kill returns, the kernel has
// released every lock the child held.
func (ch *child) kill(t *testing.T) {
	t.Helper()
	if err := ch.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	ch.cmd.Wait()
}

// signal sends sig to the child. A SIGSTOP is not done when kill returns
// (each thread stops when it next leaves the kernel, and on a loaded
// machine one may run on for a while): signal waits until every thread of
// the child is stopped (state T in /proc), so a test that stops it sees
// nothing it does afterwards.
func (ch *child) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := ch.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	if sig != syscall.SIGSTOP {
		return
	}
	tasks := fmt.Sprintf("/proc/%d/task", ch.pid)
	waitFor(t, fmt.Sprintf("child %d stopped", ch.pid), func() bool {
		ents, err := os.ReadDir(tasks)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(tasks, e.Name(), "stat"))
			if err != nil {
				return false // a thread that just ended: read again
			}
			// "pid (comm) S ...": the state follows the last ")".
			i := bytes.LastIndexByte(b, ')')
			if i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
				return false
			}
		}
		return true
	})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newCluster initializes a cluster in a fresh temporary directory.
func newCluster(t *testing.T) *Cluster {
	t.Helper()
	c, err := Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// registerBrokers registers brokers with the given ids in this process.
func registerBrokers(t *testing.T, c *Cluster, ids ...int) map[int]*BrokerSession {
	t.Helper()
	out := map[int]*BrokerSession{}
	for _, id := range ids {
		s, err := c.RegisterBroker(id)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out[id] = s
	}
	return out
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
