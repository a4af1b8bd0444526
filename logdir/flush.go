package logdir

import (
	"fmt"
	"os"
)

// Flushing (flush.messages, flush.ms) with group commit.
//
// fsync is the slowest thing an appender can do, so appenders share it: an
// appender that needs its records durable takes flush.lock (a second
// flock, so appends go on while a flush runs), reads the state, and returns
// at once if another appender's fsync already covered its records.
// Otherwise it fsyncs every segment up to the log end offset it read, which
// covers the records of every appender that wrote before that, and
// publishes flushed-offset. N concurrent appenders cost about two fsyncs,
// not N.

// flushDue applies the flush policy to a committed state.
func (l *Log) flushDue(st *State) bool {
	if !l.cfg.flushEnabled() {
		return false
	}
	if st.LogEndOffset-st.FlushedOffset >= l.cfg.FlushMessages {
		return true
	}
	return l.cfg.FlushMs != 1<<63-1 && l.Now()-st.LastFlushMs >= l.cfg.FlushMs
}

// Flush makes every record appended so far durable.
func (l *Log) Flush() error {
	l.mu.Lock()
	st, err := readStateFile(l.stateF, l.stateBuf)
	l.mu.Unlock()
	if err != nil {
		return err
	}
	return l.flushTo(st.LogEndOffset)
}

// flushTo returns once every offset below target is fsynced.
func (l *Log) flushTo(target int64) error {
	if err := l.flushLock.Lock(); err != nil {
		return err
	}
	defer l.flushLock.Unlock()
	buf := make([]byte, stateFileSize)
	st, err := readStateFile(l.stateF, buf)
	if err != nil {
		return err
	}
	if st.FlushedOffset >= target {
		return nil // someone else's fsync covered us
	}
	upTo := st.LogEndOffset
	bases, err := listSegments(l.dir)
	if err != nil {
		return err
	}
	synced := 0
	for i, base := range bases {
		if i+1 < len(bases) && bases[i+1] <= st.FlushedOffset {
			continue // wholly flushed already
		}
		if err := syncFile(segmentPath(l.dir, base, logSuffix)); err != nil {
			return err
		}
		synced++
	}
	if synced > 1 {
		// A segment was created since the last flush: make its name durable.
		if err := SyncDir(l.dir); err != nil {
			return err
		}
	}
	// Publish flushed-offset under the append lock: the state has one writer at a time.
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.acquire(); err != nil {
		return err
	}
	defer l.lock.Unlock()
	cur, err := readStateLocked(l.stateF, l.stateBuf)
	if err != nil {
		return err
	}
	if upTo > cur.FlushedOffset {
		cur.FlushedOffset = upTo
	}
	cur.LastFlushMs = l.Now()
	return l.commit(&cur)
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	return nil
}
