package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"mk/coord"
)

// A SIGSTOP is not done when kill returns: the kernel stops each thread of
// the process when it next leaves the kernel, and on a loaded machine a
// thread of the signalled process may run for a while before it does. A
// test that stops a broker or a client to see what the others do without
// it waits until every thread is stopped (state T in /proc), or it races
// with what the process still does in that window.

// processStopped reports whether every thread of pid is stopped.
func processStopped(pid int) (bool, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return false, err
	}
	for _, task := range tasks {
		data, err := os.ReadFile(filepath.Join(fmt.Sprintf("/proc/%d/task", pid), task.Name(), "stat"))
		if err != nil {
			return false, err
		}
		// "pid (comm) S ...": comm may hold spaces and parentheses, the
		// state follows the last ")".
		i := strings.LastIndexByte(string(data), ')')
		if i < 0 || i+2 >= len(data) {
			return false, fmt.Errorf("/proc/%d/task/%s/stat: %q", pid, task.Name(), data)
		}
		if s := data[i+2]; s != 'T' && s != 't' {
			return false, nil
		}
	}
	return true, nil
}

// stopProcess sends SIGSTOP to pid and waits until all its threads are
// stopped (at most 10 s: a thread waits for a CPU, not for anything else).
func stopProcess(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := processStopped(pid)
		if ok || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d not stopped 10s after SIGSTOP", pid)
		}
		time.Sleep(time.Millisecond) // poll interval, bounded by the deadline
	}
}

// sigstop PID|FILE sends SIGSTOP to the process (its pid given, or read
// from FILE) and waits until it is stopped: see stopProcess. The process
// is continued (SIGCONT) when the script ends, pass or fail, before
// testscript interrupts and waits for its background processes: a
// stopped one would never take the interrupt, and the script would hang.
func sigstop(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sigstop PID|FILE")
	}
	s := args[0]
	if _, err := strconv.Atoi(s); err != nil {
		s = strings.TrimSpace(ts.ReadFile(s))
	}
	pid, err := strconv.Atoi(s)
	if err != nil {
		ts.Fatalf("sigstop: %q is not a pid", s)
	}
	ts.Defer(func() {
		// Only a process still stopped: one that ended meanwhile (a
		// broker killed inside a metadata lock, say) may have left its
		// pid to another process.
		if coord.ProcessStopped(pid) {
			syscall.Kill(pid, syscall.SIGCONT)
		}
	})
	ts.Check(stopProcess(pid))
}
