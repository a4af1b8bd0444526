package coord

import (
	"errors"
	"fmt"
	"os"
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

// MetaLockTimeout bounds the wait for meta/lock. Metadata writes hold it
// for milliseconds, so a long wait means the holder is stopped (SIGSTOP);
// failing then is better than hanging every client.
var MetaLockTimeout = 30 * time.Second

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
	return withFileLock(c.metaLockPath(), func() error {
		if marker := os.Getenv(stopInMetaLockEnv); marker != "" {
			stopInMetaLock(marker)
		}
		return fn()
	})
}

// stopInMetaLockEnv names a file that, for tests only, a process creates
// (holding its pid) the moment it holds meta/lock, before it stops itself
// with SIGSTOP: the worst moment for a process to be stopped (Ctrl-Z),
// reached without a race. Tests set it in the environment of the one
// process they want stopped; nothing else sets it.
const stopInMetaLockEnv = "MK_TEST_STOP_IN_META_LOCK"

func stopInMetaLock(marker string) {
	if err := os.WriteFile(marker, []byte(fmt.Sprint(os.Getpid())), 0o644); err == nil {
		syscall.Kill(os.Getpid(), syscall.SIGSTOP)
	}
}

// withFileLock runs fn while holding the flock on path, waiting at most
// MetaLockTimeout. Writers hold such locks for milliseconds: poll from 1ms,
// backing off to 10ms, rather than block in flock(2), which could never
// time out.
func withFileLock(path string, fn func() error) error {
	deadline := time.Now().Add(MetaLockTimeout)
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
		if time.Now().After(deadline) {
			return newError(ErrMetadataLocked, "metadata lock %s has been held for over %v; a process that writes metadata may be stopped (SIGSTOP): resume or kill it", path, MetaLockTimeout)
		}
		time.Sleep(wait)
		wait = min(2*wait, 10*time.Millisecond)
	}
}

// processAlive reports whether pid names a live process (possibly one we
// may not signal).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
