package coord

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gofrs/flock"
)

// Locks are flock(2) locks. flock locks belong to an open file description,
// not to a process, so two descriptors opened by one process conflict like
// two processes do: every acquisition here opens its own descriptor, which
// makes the same code correct between goroutines and between processes.
// The kernel releases a lock when its last descriptor closes, which happens
// when the holder dies for any reason, SIGKILL included.

// MetaLockTimeout bounds the wait for meta/lock (and a group's lock).
// Metadata writes hold it for milliseconds, so a long wait means the holder
// is stopped (SIGSTOP); failing then is better than hanging every client.
// A holder that is a broker of this cluster stopped past its session
// timeout is killed instead of waited for: see killStoppedHolder.
var MetaLockTimeout = metaLockTimeout()

// metaLockTimeoutEnv shortens MetaLockTimeout, for tests only: a test that
// shows a holder is not killed waits out the whole timeout, in seconds
// rather than half a minute. Nothing else sets it.
const metaLockTimeoutEnv = "MK_TEST_META_LOCK_TIMEOUT"

func metaLockTimeout() time.Duration {
	if d, err := time.ParseDuration(os.Getenv(metaLockTimeoutEnv)); err == nil && d > 0 {
		return d
	}
	return 30 * time.Second
}

// fileLock is a held flock on its own open file description
// (gofrs/flock opens the file for each lock and closes it on unlock, which
// is what a lock held for a process's lifetime wants).
type fileLock struct{ fl *flock.Flock }

// unlock releases the lock by closing its descriptor.
func (l *fileLock) unlock() error {
	if l == nil || l.fl == nil {
		return nil
	}
	err := l.fl.Close()
	l.fl = nil
	return err
}

// stat describes the file the lock is held on (its inode, for callers that
// must know the lock file was not replaced under them).
func (l *fileLock) stat() (os.FileInfo, error) { return l.fl.Stat() }

// tryLock takes an exclusive lock on path (created if missing) without
// waiting. It returns (nil, nil) when another descriptor holds the lock.
func tryLock(path string) (*fileLock, error) {
	fl := flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(0o644))
	ok, err := fl.TryLock()
	if err != nil {
		fl.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		fl.Close()
		return nil, nil
	}
	return &fileLock{fl: fl}, nil
}

// lockHeld reports whether some descriptor holds an exclusive lock on path.
// It probes with a shared lock without waiting on its own descriptor and,
// when that succeeds (nobody holds it), releases at once. The probe holds a
// shared lock for a moment, so a process that takes the lock without
// waiting may see it busy; RegisterBroker and the controller retry for that
// reason. A missing file is a lock nobody holds.
func lockHeld(path string) (bool, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	fl := flock.New(path, flock.SetFlag(os.O_RDONLY))
	defer fl.Close()
	ok, err := fl.TryRLock()
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("probe lock %s: %w", path, err)
	}
	return !ok, nil
}

// waitLockReleased blocks until no descriptor holds an exclusive lock on
// path, then returns. It cannot be cancelled (flock(2) has no timeout), so
// callers run it in a goroutine that lives until the holder goes away. It
// is how the controller learns of a broker's death at once.
func waitLockReleased(path string) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	fl := flock.New(path, flock.SetFlag(os.O_RDONLY))
	defer fl.Close()
	return fl.RLock()
}

// withMetaLock runs fn while holding meta/lock, the lock that serializes
// every read-modify-write of a metadata file across goroutines and
// processes. fn must not call anything that takes meta/lock again.
func (c *Cluster) withMetaLock(fn func() error) error {
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	return c.withFileLock(c.metaLockPath(), func() error {
		stopInMetaLock()
		return fn()
	})
}

// Test hooks that make a process stop itself (SIGSTOP) the moment it holds
// meta/lock: the worst moment for a process to be stopped (Ctrl-Z, a
// debugger), reached without a race. Each names a marker file that the
// process creates, holding its pid, just before it stops. Tests set them
// in the environment of the processes they mean; nothing else sets them.
const (
	// stopInMetaLockEnv: the process stops at its first meta/lock.
	stopInMetaLockEnv = "MK_TEST_STOP_IN_META_LOCK"
	// stopInMetaLockArmedEnv: the process stops at its next meta/lock
	// once the file "<marker>.armed" names its pid, and only once (while
	// the marker does not exist): a test starts every broker with it and
	// then picks the one to stop, at the moment it chooses.
	stopInMetaLockArmedEnv = "MK_TEST_STOP_IN_META_LOCK_ARMED"
)

func stopInMetaLock() {
	marker := os.Getenv(stopInMetaLockEnv)
	if marker == "" {
		marker = os.Getenv(stopInMetaLockArmedEnv)
		if marker == "" {
			return
		}
		armed, err := os.ReadFile(marker + ".armed")
		if err != nil || strings.TrimSpace(string(armed)) != strconv.Itoa(os.Getpid()) {
			return
		}
		if _, err := os.Stat(marker); err == nil {
			return // stopped once already
		}
	}
	if err := os.WriteFile(marker, []byte(strconv.Itoa(os.Getpid())), 0o644); err == nil {
		syscall.Kill(os.Getpid(), syscall.SIGSTOP)
	}
}

// withFileLock runs fn while holding the flock on path, a lock of c's
// metadata that brokers take (meta/lock, a group's lock), waiting at most
// MetaLockTimeout. Writers hold such locks for milliseconds: poll from 1ms,
// backing off to 10ms, rather than block in flock(2), which could never
// time out. While it waits, it looks at the holder every
// holderCheckInterval once the wait passes holderCheckAfter, and kills a
// holder that is a broker of c stopped past its session timeout (see
// killStoppedHolder), which releases the lock. A holder it cannot identify
// as such is waited for.
func (c *Cluster) withFileLock(path string, fn func() error) error {
	start := time.Now()
	deadline := start.Add(MetaLockTimeout)
	nextCheck := start.Add(holderCheckAfter)
	wait := time.Millisecond
	for {
		l, err := tryLock(path)
		if err != nil {
			return err
		}
		if l != nil {
			defer l.unlock()
			return fn()
		}
		now := time.Now()
		if now.After(deadline) {
			return newError(ErrMetadataLocked, "metadata lock %s has been held for over %v; a process that writes metadata may be stopped (SIGSTOP): resume or kill it", path, MetaLockTimeout)
		}
		if now.After(nextCheck) {
			nextCheck = now.Add(holderCheckInterval)
			if c.killStoppedHolder(path, now.Sub(start)) {
				wait = time.Millisecond // the kernel drops the lock as the holder exits
			}
		}
		time.Sleep(wait)
		wait = min(2*wait, 10*time.Millisecond)
	}
}

// How soon a waiter looks at the holder of a lock, and how often. A look
// reads /proc/locks and a few small files (a fraction of a millisecond),
// and only a waiter that has waited 2ms looks, so a metadata write that
// waits its turn pays little; looking every 10ms afterwards finds a
// stopped broker within 10ms of its session's end (the failover budget is
// 50ms past it).
const (
	holderCheckAfter    = 2 * time.Millisecond
	holderCheckInterval = 10 * time.Millisecond
)

// processAlive reports whether pid names a live process (possibly one we
// may not signal).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
