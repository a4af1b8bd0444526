package logdir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// fileLock is an exclusive flock(2) on a file that stays open for the
// lock's lifetime, so that taking it costs one flock call, not an open, a
// flock and a close as with a lock that reopens its file each time (an
// append takes it once). It also excludes the goroutines of one process
// from each other (flock alone does not: two goroutines locking through
// one descriptor both succeed). Like every flock, the kernel drops it when
// the process dies, SIGKILL included.
type fileLock struct {
	mu sync.Mutex // held with the flock
	f  *os.File
}

// openFileLock opens (creating it if need be) the lock file at path.
func openFileLock(path string) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return &fileLock{f: f}, nil
}

func (fl *fileLock) flock(how int) error {
	for {
		err := syscall.Flock(int(fl.f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}

// Lock waits for the lock.
func (fl *fileLock) Lock() error {
	fl.mu.Lock()
	if err := fl.flock(syscall.LOCK_EX); err != nil {
		fl.mu.Unlock()
		return fmt.Errorf("flock %s: %w", fl.f.Name(), err)
	}
	return nil
}

// TryLockContext tries to take the lock every retry until ctx is done. It
// reports whether it got the lock; running out of time is not an error.
func (fl *fileLock) TryLockContext(ctx context.Context, retry time.Duration) (bool, error) {
	for {
		if fl.mu.TryLock() {
			err := fl.flock(syscall.LOCK_EX | syscall.LOCK_NB)
			if err == nil {
				return true, nil
			}
			fl.mu.Unlock()
			if !errors.Is(err, syscall.EWOULDBLOCK) {
				return false, fmt.Errorf("flock %s: %w", fl.f.Name(), err)
			}
		}
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, nil
		case <-t.C:
		}
	}
}

// Unlock releases the lock, which the caller holds.
func (fl *fileLock) Unlock() error {
	err := fl.flock(syscall.LOCK_UN)
	fl.mu.Unlock()
	return err
}

// Close closes the lock file, which releases the flock if it is held.
func (fl *fileLock) Close() error { return fl.f.Close() }
