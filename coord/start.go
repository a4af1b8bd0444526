package coord

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// startLockPath is meta/start.lock, held by mk cluster start while it
// starts brokers and waits for them.
func (c *Cluster) startLockPath() string { return filepath.Join(c.metaDir(), "start.lock") }

// WithStartLock runs fn while holding meta/start.lock, so that starts of
// the cluster take turns: two `mk cluster start` at once would otherwise
// both find broker 1 down, both start it, and one of the two brokers (and
// its start) would fail. The second start waits until the first is done,
// then finds the brokers up. It waits until ctx ends.
func (c *Cluster) WithStartLock(ctx context.Context, fn func() error) error {
	path := c.startLockPath()
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
		select {
		case <-ctx.Done():
			return fmt.Errorf("another mk cluster start is still starting brokers in %s (%s held); wait for it or give a longer --timeout", c.dir, path)
		case <-time.After(wait):
		}
		wait = min(2*wait, 20*time.Millisecond)
	}
}
