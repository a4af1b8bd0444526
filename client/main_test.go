package client_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"mk/client"
	"mk/commands"
	"mk/coord"
	"mk/logdir"
)

// Child processes: the test binary re-executed with childEnv set.
//
//	mk      runs mk with the process's arguments (a broker)
//	member  one consumer-group member of topic t, group g (see runMember)
//
// Group tests need members in processes of their own, because liveness
// and ownership are flock(2) locks that only a process's death releases.
const childEnv = "MK_CLIENT_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "mk":
		os.Exit(commands.Main())
	case "member":
		os.Exit(runMember())
	}
	os.Exit(m.Run())
}

// runMember joins group g on topic t and writes one line per event to
// stdout, each ending with the wall-clock time in nanoseconds:
//
//	start NS                       about to join
//	member ID NS                   joined as member ID
//	own P GEN NS                   took partition P (its lock is held)
//	release P GEN NS               gives P up (its lock is still held)
//	rec P OFFSET VALUE NS          handed record OFFSET of P to the handler
//
// Records are buffered and flushed before every commit, as mk consume
// does (at-least-once); ownership events are flushed at once. Everything
// runs on the fetching goroutine, so lines never interleave. It runs until
// SIGINT or SIGTERM; MK_CLIENT_TEST_COMMIT is the commit mode (auto means
// every 100ms) and MK_CLIENT_TEST_STRATEGY the strategy.
func runMember() int {
	c, err := coord.Open(os.Getenv("MK_DIR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "member:", err)
		return 1
	}
	w := bufio.NewWriterSize(os.Stdout, 64<<10)
	now := func() int64 { return time.Now().UnixNano() }
	event := func(format string, args ...any) {
		fmt.Fprintf(w, format, args...)
		w.Flush()
	}
	// Signals are caught before joining, so that a SIGINT is always a leave.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if ready := os.NewFile(3, "ready"); ready != nil {
		ready.Close() // startMember waits for this: SIGINT now means leave
	}
	event("start %d\n", now())
	g, err := client.JoinGroup(c, []string{"t"}, client.GroupOptions{
		Group:              "g",
		ClientID:           os.Getenv("MK_CLIENT_TEST_NAME"),
		Strategy:           os.Getenv("MK_CLIENT_TEST_STRATEGY"),
		Commit:             os.Getenv("MK_CLIENT_TEST_COMMIT"),
		AutoCommitInterval: 100 * time.Millisecond,
		SessionTimeout:     30 * time.Second, // only SIGKILL and leaves here, never a stop
		ResetEarliest:      true,
		Flush:              w.Flush,
		Warnf:              func(f string, args ...any) { fmt.Fprintf(os.Stderr, "member: "+f+"\n", args...) },
		OnOwn: func(tp coord.TopicPartition, gen int64) {
			event("own %d %d %d\n", tp.Partition, gen, now())
		},
		OnRelease: func(tp coord.TopicPartition, gen int64) {
			event("release %d %d %d\n", tp.Partition, gen, now())
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "member:", err)
		return 1
	}
	event("member %s %d\n", g.MemberID(), now())
	err = g.Run(ctx, func(_ string, p int32, r *logdir.Record) error {
		w.WriteString("rec ")
		w.WriteString(strconv.Itoa(int(p)))
		w.WriteByte(' ')
		w.WriteString(strconv.FormatInt(r.Offset, 10))
		w.WriteByte(' ')
		w.Write(r.Value)
		w.WriteByte(' ')
		w.WriteString(strconv.FormatInt(now(), 10))
		return w.WriteByte('\n')
	})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "member:", err)
		return 1
	}
	return 0
}

// dieWithParent makes a child process get SIGKILL when the test process
// dies, so that a test killed half-way (a timeout, a closed pipe) leaves
// no broker or member running.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// testCluster is a cluster directory with one broker running in a child
// process, stopped when the test ends.
func testCluster(tb testing.TB) (dir string, c *coord.Cluster) {
	tb.Helper()
	dir = tb.TempDir()
	c, err := coord.Init(dir)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "--dir", dir, "broker", "--id", "1")
	cmd.Env = append(os.Environ(), childEnv+"=mk")
	cmd.SysProcAttr = dieWithParent()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	if code := commands.Run([]string{"mk", "--dir", dir, "cluster", "wait", "--brokers", "1"}, commands.Stdio{Out: io.Discard, Err: os.Stderr}); code != 0 {
		tb.Fatalf("mk cluster wait: exit %d", code)
	}
	return dir, c
}

// createTopic creates topic name and waits until the broker has taken
// every partition over.
func createTopic(tb testing.TB, c *coord.Cluster, name string, partitions int) {
	tb.Helper()
	if _, err := c.CreateTopic(name, partitions, 1, nil); err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for p := 0; p < partitions; p++ {
		for !replicaReady(c, name, p) {
			if time.Now().After(deadline) {
				tb.Fatalf("partition %s-%d not ready after 15s", name, p)
			}
			time.Sleep(5 * time.Millisecond) // poll interval, bounded by the deadline
		}
	}
}

func replicaReady(c *coord.Cluster, topic string, p int) bool {
	rd, err := logdir.OpenReader(c.PartitionDir(1, topic, p))
	if err != nil {
		return false
	}
	defer rd.Close()
	st, err := rd.State()
	return err == nil && st.Leader
}

// memberProc is a member child process.
type memberProc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and been reaped
	// killed is when SIGKILL was sent (zero if never) and reaped when
	// Wait saw the process dead: it died, its locks freed, in between.
	killed, reaped time.Time
}

// startMember starts a member child named name whose stdout goes to out.
func startMember(tb testing.TB, dir, name, strategy, commit string, out io.Writer) *memberProc {
	tb.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=member", "MK_DIR="+dir, "MK_CLIENT_TEST_NAME="+name,
		"MK_CLIENT_TEST_STRATEGY="+strategy, "MK_CLIENT_TEST_COMMIT="+commit)
	cmd.Stdout = out
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = dieWithParent()
	ready, readyW, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	defer ready.Close()
	cmd.ExtraFiles = []*os.File{readyW}
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		tb.Fatal(err)
	}
	m := &memberProc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(m.done) }()
	tb.Cleanup(func() { m.cmd.Process.Kill(); <-m.done })
	// The child closes its end once its signal handler is in place.
	ready.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := ready.Read(make([]byte, 1)); err != io.EOF {
		tb.Fatalf("member %s did not start: %v", name, err)
	}
	return m
}

// kill SIGKILLs the member and waits until it is reaped (its locks free).
func (m *memberProc) kill() {
	m.killed = time.Now()
	m.cmd.Process.Kill()
	<-m.done
	m.reaped = time.Now()
}

// stop asks the member to leave (SIGINT) and waits for it to exit.
func (m *memberProc) stop(tb testing.TB) {
	tb.Helper()
	m.cmd.Process.Signal(os.Interrupt)
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		tb.Fatalf("member %s did not exit within 30s of SIGINT", m.name)
	}
	if !m.cmd.ProcessState.Success() {
		tb.Errorf("member %s: %v", m.name, m.cmd.ProcessState)
	}
}
