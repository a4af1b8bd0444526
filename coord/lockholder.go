package coord

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A broker stopped (SIGSTOP, Ctrl-Z, a debugger) while it holds meta/lock
// would block every metadata write, the controller's elections included,
// until it is continued: a flock cannot be taken from a live process, and
// its session timeout does not release it. Kafka fences a broker that
// stops answering; here the fenced broker physically holds the lock, so a
// process waiting for the lock kills it (SIGKILL), and the kernel drops
// the lock as it exits. Only this holder is ever killed:
//
//   - a broker of this cluster: the process holds the broker's liveness
//     lock, meta/brokers/<id>.lock, as /proc/locks shows, and the lock
//     file names it (a client never holds a broker's lock);
//   - whose session expired: every process of the cluster judges it
//     failed (its lock held, its heartbeat older than the session timeout
//     of its registration), so the controller moves its leaderships away
//     and fences its replicas without waiting for it: it acknowledges
//     nothing more;
//   - and which is stopped: every thread in state T or t. A broker that
//     runs but is slow (starved, heartbeating late) is waited for.
//
// Killing such a broker loses nothing acknowledged: a SIGKILL at any
// moment is one of the faults every invariant holds through, and what it
// held the lock to write was not yet published (metadata files are
// replaced whole). The broker is gone like any SIGKILLed broker, until
// something starts it again.
//
// Identification is by lock, not by pid number alone, so that a pid that
// merely reuses an old broker's number is never taken for it: a flock is
// listed in /proc/locks only while the open file description that took it
// lives, with the pid of the process that took it, and mk opens every file
// close-on-exec, so the process listed holding the broker's lock is the
// live broker itself. Its start time is checked against the lock file's
// (a process that started after the broker wrote its pid is not that
// broker), and the kill goes through a pidfd opened before the checks are
// made again, so the signal cannot reach another process that took the
// number in between.

// lockHolder is what a waiter found out about the holder of a lock.
type lockHolder struct {
	pid    int // the holder, 0 if none is listed
	broker int // the broker the holder is, -1 if none
	// kill: the holder is a broker of this cluster, stopped, whose
	// session expired; why says why not otherwise.
	kill bool
	why  string
	// What the log line says: the broker's heartbeat age and session
	// timeout, and the state of its main thread.
	heartbeatAge, session time.Duration
	state                 byte
	// startTicks is the holder's start time (clock ticks since boot), to
	// check that the process signalled is the one examined.
	startTicks uint64
}

// lockLogf writes the line that says a broker was killed; tests replace
// it. A broker's stderr is its log.
var lockLogf = func(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mk: %s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// killStoppedHolder looks at the holder of path, for a process that has
// waited for it for waited, and kills it if it is a broker of c stopped
// past its session timeout (see above). It reports whether it killed.
func (c *Cluster) killStoppedHolder(path string, waited time.Duration) bool {
	h := c.examineHolder(path)
	if !h.kill {
		return false
	}
	// A pidfd names the process, not the number: opened before the
	// checks are made again, it signals what they checked or nothing.
	pidfd, err := unix.PidfdOpen(h.pid, 0)
	switch {
	case err == nil:
		defer unix.Close(pidfd)
	case errors.Is(err, unix.ENOSYS):
		pidfd = -1 // no pidfds (before Linux 5.3): kill by number below
	default:
		return false // gone meanwhile (ESRCH)
	}
	again := c.examineHolder(path)
	if !again.kill || again.pid != h.pid || again.broker != h.broker || again.startTicks != h.startTicks {
		return false
	}
	if pidfd >= 0 {
		err = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
	} else {
		err = syscall.Kill(h.pid, syscall.SIGKILL)
	}
	if err != nil {
		return false
	}
	beat := "no heartbeat"
	if again.heartbeatAge > 0 {
		beat = fmt.Sprintf("its heartbeat %v old", again.heartbeatAge.Round(time.Millisecond))
	}
	lockLogf("killed broker %d (pid %d) with SIGKILL: it held %s, for at least the %v pid %d waited for it, and is stopped (state %c), %s, past its %v session timeout: it counts as failed",
		h.broker, h.pid, path, waited.Round(time.Millisecond), os.Getpid(), again.state, beat, h.session)
	return true
}

// examineHolder finds the process holding path's flock and decides
// whether it is a broker of c stopped past its session timeout.
func (c *Cluster) examineHolder(path string) lockHolder {
	h := lockHolder{broker: -1}
	locks, err := readFlocks()
	if err != nil {
		h.why = err.Error()
		return h
	}
	if h.pid, err = flockHolderOf(locks, path); err != nil {
		h.why = err.Error()
		return h
	}
	switch {
	case h.pid == 0:
		h.why = "no holder listed in /proc/locks"
		return h
	case h.pid == os.Getpid():
		h.why = "held by this process"
		return h
	}
	// Which broker's liveness lock does the holder hold?
	entries, err := os.ReadDir(c.brokersDir())
	if err != nil {
		h.why = err.Error()
		return h
	}
	var lockFile string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".lock")
		if !ok {
			continue
		}
		id, err := strconv.Atoi(name)
		if err != nil || id < 0 {
			continue
		}
		p := filepath.Join(c.brokersDir(), e.Name())
		if pid, err := flockHolderOf(locks, p); err == nil && pid == h.pid {
			h.broker, lockFile = id, p
			break
		}
	}
	if h.broker < 0 {
		h.why = fmt.Sprintf("pid %d holds no broker's lock: not a broker of this cluster", h.pid)
		return h
	}
	// The lock file names its broker's pid, written once the lock was
	// taken, after the process started.
	data, err := os.ReadFile(lockFile)
	if err != nil || strings.TrimSpace(string(data)) != strconv.Itoa(h.pid) {
		h.why = fmt.Sprintf("pid %d holds %s, which does not name it", h.pid, lockFile)
		return h
	}
	fi, err := os.Stat(lockFile)
	if err != nil {
		h.why = err.Error()
		return h
	}
	start, age, err := processStart(h.pid)
	if err != nil {
		h.why = err.Error()
		return h
	}
	h.startTicks = start
	// Slack for the clocks: ticks of 10ms, and the wall clock (the file's
	// mtime) against the boot clock (the process's age).
	if since := time.Since(fi.ModTime()); age+time.Second < since {
		h.why = fmt.Sprintf("pid %d started %v ago, after %s was written %v ago: not the broker that wrote it", h.pid, age.Round(time.Millisecond), lockFile, since.Round(time.Millisecond))
		return h
	}
	b, _ := c.Broker(h.broker) // a damaged registration is judged by the default session timeout
	h.session = b.SessionTimeout
	if !b.LastHeartbeat.IsZero() {
		h.heartbeatAge = time.Since(b.LastHeartbeat)
	}
	if !b.LockHeld {
		h.why = fmt.Sprintf("broker %d (pid %d) let its lock go meanwhile", h.broker, h.pid)
		return h
	}
	if b.Alive {
		h.why = fmt.Sprintf("broker %d (pid %d) is alive: its heartbeat is %v old, within its %v session timeout", h.broker, h.pid, h.heartbeatAge.Round(time.Millisecond), h.session)
		return h
	}
	stopped, state, err := threadsStopped(h.pid)
	if err != nil {
		h.why = err.Error()
		return h
	}
	h.state = state
	if !stopped {
		h.why = fmt.Sprintf("broker %d (pid %d) is past its session timeout but not stopped (state %c): slow, not fenced for good", h.broker, h.pid, state)
		return h
	}
	h.kill = true
	return h
}

// flockLine is a /proc/locks line of an exclusive flock: the device it
// names and the holder's pid.
type flockLine struct {
	major, minor uint32
	pid          int
}

// readFlocks reads /proc/locks: the holders of exclusive flocks, by inode
// (waiters, "->" lines, are not holders).
func readFlocks() (map[uint64][]flockLine, error) {
	data, err := os.ReadFile("/proc/locks")
	if err != nil {
		return nil, err
	}
	out := map[uint64][]flockLine{}
	for line := range strings.SplitSeq(string(data), "\n") {
		// "1: FLOCK  ADVISORY  WRITE 4548 fe:00:10027927 0 EOF"
		f := strings.Fields(line)
		if len(f) < 6 || f[1] != "FLOCK" || f[3] != "WRITE" {
			continue
		}
		pid, err := strconv.Atoi(f[4])
		if err != nil || pid <= 0 {
			continue
		}
		dev := strings.Split(f[5], ":")
		if len(dev) != 3 {
			continue
		}
		major, err1 := strconv.ParseUint(dev[0], 16, 32)
		minor, err2 := strconv.ParseUint(dev[1], 16, 32)
		ino, err3 := strconv.ParseUint(dev[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		out[ino] = append(out[ino], flockLine{uint32(major), uint32(minor), pid})
	}
	return out, nil
}

// flockHolderOf returns the pid that holds an exclusive flock on path, as
// locks (readFlocks) lists it; 0 when none is listed. /proc/locks names a
// file by the device of its superblock, which is stat(2)'s on ordinary
// file systems but not on btrfs or overlayfs: a line for path's inode on
// another device counts only if its pid has path open.
func flockHolderOf(locks map[uint64][]flockLine, path string) (int, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	for _, h := range locks[st.Ino] {
		if h.major == unix.Major(st.Dev) && h.minor == unix.Minor(st.Dev) || hasOpen(h.pid, path) {
			return h.pid, nil
		}
	}
	return 0, nil
}

// hasOpen reports whether process pid has a descriptor open on path.
func hasOpen(pid int, path string) bool {
	want, err := os.Stat(path)
	if err != nil {
		return false
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if fi, err := os.Stat(filepath.Join(dir, fd.Name())); err == nil && os.SameFile(fi, want) {
			return true
		}
	}
	return false
}

// statFields returns the fields of a /proc stat file after the command
// name: fields[0] is the state (field 3 of proc(5)).
func statFields(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// "pid (comm) S ...": comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return nil, fmt.Errorf("%s: %q", path, data)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 {
		return nil, fmt.Errorf("%s: %q", path, data)
	}
	return f, nil
}

// userHZ is the unit of /proc's clock ticks (USER_HZ, 100 on Linux
// whatever the kernel's HZ).
const userHZ = 100

// processStart returns pid's start time in clock ticks since boot and its
// age.
func processStart(pid int) (ticks uint64, age time.Duration, err error) {
	f, err := statFields(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	ticks, err = strconv.ParseUint(f[19], 10, 64) // starttime, field 22
	if err != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: starttime %q", pid, f[19])
	}
	var now unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &now); err != nil {
		return 0, 0, err
	}
	started := time.Duration(ticks) * time.Second / userHZ
	return ticks, time.Duration(now.Nano()) - started, nil
}

// ProcessStopped reports whether process pid is stopped (its main
// thread in state T, by SIGSTOP or Ctrl-Z, or t, traced) according to
// /proc: it answers nothing until continued. (A kill waits for every
// thread: threadsStopped.)
func ProcessStopped(pid int) bool {
	if pid <= 0 {
		return false
	}
	f, err := statFields(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && (f[0][0] == 'T' || f[0][0] == 't')
}

// threadsStopped reports whether every thread of pid is stopped (state T,
// or t under a debugger), and the state of its main thread.
func threadsStopped(pid int) (bool, byte, error) {
	f, err := statFields(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false, 0, err
	}
	state := f[0][0]
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return false, state, err
	}
	for _, task := range tasks {
		tf, err := statFields(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			return false, state, nil // a thread that just ended: not settled
		}
		if s := tf[0][0]; s != 'T' && s != 't' {
			return false, s, nil
		}
	}
	return true, state, nil
}
