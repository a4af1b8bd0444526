package logdir

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"
)

// The Log's side of the producer state (producerstate.go): loading it from
// a snapshot and the log, keeping it equal to the log under the partition
// lock, checking appends against it, and writing snapshots.
//
// The state is loaded by Recover (a broker's replicas) and otherwise on the
// first append that carries a producer id. It always describes the log
// below its mapEnd; every append compares that with the log end offset
// under the lock, and when another writer moved the log (a process of the
// older direct-append design, or damage cut by the tail check) the state
// catches up by replaying the batch headers written since, or is loaded
// again when the log was cut below it.

// producersFor returns the producer state to check and update the append
// of batches with, synced to st: nil when this Log has not loaded it and
// no batch carries a producer id (a log no idempotent producer writes to
// never reads its snapshots).
func (l *Log) producersFor(st *State, batches []byte) (*producerState, error) {
	if l.producers == nil {
		idempotent := false
		for p := 0; p < len(batches); {
			h, _ := ParseBatchHeader(batches[p:]) // checkBatches parsed them all
			if h.ProducerID >= 0 {
				idempotent = true
				break
			}
			p += h.Size()
		}
		if !idempotent {
			return nil, nil
		}
	}
	return l.syncProducers(st)
}

// syncProducers makes the producer state describe the log below st's log
// end offset. Called with the lock held.
func (l *Log) syncProducers(st *State) (*producerState, error) {
	ps := l.producers
	switch {
	case ps == nil:
		return l.loadProducers(st)
	case ps.mapEnd == st.LogEndOffset:
		return ps, nil
	case ps.mapEnd < st.LogEndOffset && ps.mapEnd >= st.LogStartOffset:
		if err := l.replayProducers(ps, st, ps.mapEnd); err != nil {
			return nil, err
		}
		return ps, nil
	}
	// The log was cut below the state, or retention passed it.
	return l.loadProducers(st)
}

// loadProducers builds the state from the newest usable snapshot and the
// log after it, as Kafka's truncateAndReload and rebuildProducerState do:
// snapshots above the log end or below the log start are deleted (they
// describe a log that is not there), a damaged one is deleted and the one
// before it tried, producers that expired are left out. Called with the
// lock held.
func (l *Log) loadProducers(st *State) (*producerState, error) {
	l.producers = nil
	err := removeSnapshots(l.dir, func(o int64) bool { return o > st.LogEndOffset || o < st.LogStartOffset })
	if err != nil {
		return nil, err
	}
	offs, err := listSnapshots(l.dir)
	if err != nil {
		return nil, err
	}
	ps := newProducerState(st.LogStartOffset)
	for i := len(offs) - 1; i >= 0; i-- {
		m, err := readSnapshot(l.dir, offs[i])
		if errors.Is(err, errBadSnapshot) {
			// Cut by a crash or damaged: the log has what it held.
			l.snapshotDamage = append(l.snapshotDamage, err.Error())
			if err := os.Remove(snapshotPath(l.dir, offs[i])); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
			continue
		}
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ps.producers, ps.mapEnd, ps.lastSnap, ps.loadedFrom = m, offs[i], offs[i], offs[i]
		ps.expire(l.Now(), l.cfg.ProducerIDExpirationMs)
		break
	}
	ps.replayed = 0
	if err := l.replayProducers(ps, st, ps.mapEnd); err != nil {
		return nil, err
	}
	l.producers = ps
	// A long replay is written down at once, so that the next process
	// to load the state (a restarted broker, a producer process of the
	// direct-append design) starts from here.
	if ps.replayed >= replaySnapshotBatches {
		if err := l.snapshotLocked(ps); err != nil {
			return nil, err
		}
	}
	return ps, nil
}

// replaySnapshotBatches: a load that read this many batch headers writes a
// snapshot, which the next load starts from instead of reading them again.
// About a tenth of a second of reads against a snapshot's two fsyncs.
const replaySnapshotBatches = 1 << 16

// replayProducers applies the batches from offset from to st's log end
// offset to ps, reading only their headers, as a follower's copy does
// (no checks: the leader made them). Called with the lock held, so the
// segments below the committed end do not change.
func (l *Log) replayProducers(ps *producerState, st *State, from int64) error {
	end := st.LogEndOffset
	if from >= end {
		ps.mapEnd = end
		return nil
	}
	bases, err := listSegments(l.dir)
	if err != nil {
		return err
	}
	for i, base := range bases {
		if i+1 < len(bases) && bases[i+1] <= from {
			continue
		}
		if base >= end {
			break
		}
		limit := int64(-1) // read the whole segment
		if base == st.ActiveSegment {
			limit = st.ActiveSize // never past the committed end
		}
		next, err := l.replaySegment(ps, base, from, end, limit)
		if err != nil {
			return err
		}
		from = max(from, next)
	}
	if from < end {
		return fmt.Errorf("%w: rebuilding producer state of %s: the log ends at %d in its segments, the state says %d", ErrCorrupt, l.dir, from, end)
	}
	ps.mapEnd = end
	return nil
}

// replaySegment applies the batches of segment base holding offsets from
// from up to end, reading the file sequentially from the index position
// before from. It returns the offset after the last batch it read.
func (l *Log) replaySegment(ps *producerState, base, from, end, limit int64) (int64, error) {
	f, err := os.Open(segmentPath(l.dir, base, logSuffix))
	if err != nil {
		return from, err
	}
	defer f.Close()
	var pos int64
	if from > base {
		idx, err := readWhole(segmentPath(l.dir, base, indexSuffix), nil, indexEntrySize)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return from, err
		}
		pos = lookupIndex(idx, base, from)
	}
	if limit < 0 {
		fi, err := f.Stat()
		if err != nil {
			return from, err
		}
		limit = fi.Size()
	}
	hr := headerReader{f: f, limit: limit}
	next, started := from, false
	for pos+BatchHeaderSize <= limit {
		hdr, err := hr.at(pos)
		if err != nil {
			return next, fmt.Errorf("read %s: %w", f.Name(), err)
		}
		h, err := ParseBatchHeader(hdr)
		if err != nil {
			return next, fmt.Errorf("%w in file %s at position %d", err, f.Name(), pos)
		}
		if h.BaseOffset >= end {
			break
		}
		if last := h.LastOffset(); last >= from {
			// Offsets are dense: a hole or an overlap is damage, and
			// a state built over it would be wrong.
			if started && h.BaseOffset != next || !started && h.BaseOffset > from {
				return next, fmt.Errorf("%w: batch at offset %d in file %s, expected %d", ErrCorrupt, h.BaseOffset, f.Name(), next)
			}
			started = true
			if h.ProducerID >= 0 {
				u := updateOf(0, &h, h.BaseOffset)
				ps.apply(&u)
			}
			next = last + 1
		}
		size := int64(h.Size())
		hr.last = size
		pos += size
		ps.replayed++
	}
	return next, nil
}

// headerReader reads the batch headers of a segment without reading the
// records between them when they are large: behind small batches it reads
// headerReadAhead bytes at a time and finds the next headers in them;
// behind a batch larger than that it reads the next header alone. A
// producer state replay then reads a few percent of a segment of 16 KiB
// batches, and a segment of one-record batches in large sequential reads.
type headerReader struct {
	f      *os.File
	limit  int64 // the end of what may be read
	buf    []byte
	bufPos int64 // the segment position of buf[0]
	last   int64 // the size of the batch before the header asked for
}

// headerReadAhead: a page or two of small batches per read.
const headerReadAhead = 8 << 10

// at returns the BatchHeaderSize bytes at pos.
func (r *headerReader) at(pos int64) ([]byte, error) {
	if pos >= r.bufPos && pos+BatchHeaderSize <= r.bufPos+int64(len(r.buf)) {
		return r.buf[pos-r.bufPos:][:BatchHeaderSize], nil
	}
	n := int64(headerReadAhead)
	if r.last > headerReadAhead {
		n = BatchHeaderSize
	}
	n = min(n, r.limit-pos)
	if cap(r.buf) < int(n) {
		r.buf = make([]byte, max(n, headerReadAhead))
	}
	r.buf = r.buf[:n]
	if _, err := r.f.ReadAt(r.buf, pos); err != nil {
		return nil, err
	}
	r.bufPos = pos
	if n < BatchHeaderSize {
		return nil, io.ErrUnexpectedEOF
	}
	return r.buf[:BatchHeaderSize], nil
}

// checkProducers checks an append's batches against the producer state
// before anything is written, and collects the state changes they make.
// For a leader's append (assign) a batch that repeats one of its
// producer's last five is a duplicate: it is returned, and nothing may be
// appended (Kafka answers the whole append with the original's offsets).
// A follower's verbatim batches are only collected.
func (l *Log) checkProducers(ps *producerState, st *State, batches []byte, assign bool) (dup ProducerBatch, isDup bool, err error) {
	ps.resetWork()
	next := st.LogEndOffset
	for i, p := 0, 0; p < len(batches); i++ {
		h, _ := ParseBatchHeader(batches[p:])
		base := next
		if !assign {
			base = h.BaseOffset
		}
		if h.ProducerID >= 0 {
			u := updateOf(i, &h, base)
			if assign {
				if d, ok := ps.duplicateOf(&h); ok {
					return d, true, nil
				}
				if err := ps.check(l.dir, &h, &u); err != nil {
					return dup, false, err
				}
			}
			ps.pending = append(ps.pending, u)
		}
		next = base + int64(h.LastOffsetDelta) + 1
		p += h.Size()
	}
	return dup, false, nil
}

// applyPending applies the collected changes of the append's batches
// before batch index upTo, from index from of ps.pending on, and returns
// where it stopped.
func (ps *producerState) applyPending(from, upTo int) int {
	for from < len(ps.pending) && ps.pending[from].batch < upTo {
		ps.apply(&ps.pending[from])
		from++
	}
	return from
}

// snapshotLocked writes the state as the snapshot at its mapEnd, unless
// that is the newest one already, and deletes the older snapshots that are
// neither at a segment's base offset (where truncation reloads from) nor
// the newest. Called with the lock held.
func (l *Log) snapshotLocked(ps *producerState) error {
	if ps.mapEnd <= ps.lastSnap {
		return nil
	}
	if err := writeSnapshot(l.dir, ps.mapEnd, ps.producers); err != nil {
		return err
	}
	ps.lastSnap = ps.mapEnd
	bases, err := listSegments(l.dir)
	if err != nil {
		return err
	}
	return removeSnapshots(l.dir, func(o int64) bool {
		_, atBase := slices.BinarySearch(bases, o)
		return o < ps.lastSnap && !atBase
	})
}

// dropSnapshotsAbove deletes the snapshots above offset: called whenever
// the log is cut to end at offset, before anything is appended after it.
func (l *Log) dropSnapshotsAbove(offset int64) error {
	return removeSnapshots(l.dir, func(o int64) bool { return o > offset })
}

// afterCut brings the producer state to a log cut to end at st's log end
// offset (truncation, or damage found): snapshots above it are deleted,
// and a loaded state is loaded again from the snapshots left and the log.
func (l *Log) afterCut(st *State) error {
	if err := l.dropSnapshotsAbove(st.LogEndOffset); err != nil {
		return err
	}
	if l.producers == nil || l.producers.mapEnd <= st.LogEndOffset {
		return nil
	}
	_, err := l.loadProducers(st)
	return err
}

// ProducerStates returns a copy of the state of every producer that has
// written to this replica, as the last append (or recovery) left it.
func (l *Log) ProducerStates() map[int64]ProducerEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int64]ProducerEntry{}
	if l.producers != nil {
		for id, e := range l.producers.producers {
			out[id] = e.clone()
		}
	}
	return out
}

// ExpireProducers forgets the producers whose newest batch is older than
// producer.id.expiration.ms at nowMs, as a Kafka broker does every
// producer.id.expiration.check.interval.ms. It returns how many it forgot.
// A forgotten producer's next batch is accepted at any sequence.
func (l *Log) ExpireProducers(nowMs int64) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.producers == nil {
		return 0
	}
	return l.producers.expire(nowMs, l.cfg.ProducerIDExpirationMs)
}

// snapshotLockWait bounds the wait for the partition lock when a
// checkpoint takes a snapshot: the snapshot can wait for the next
// checkpoint, the broker's timers cannot wait for a stopped process.
const snapshotLockWait = time.Second

// SnapshotProducers writes the producer state as a snapshot at the log end
// offset, as a broker does at each checkpoint and at a clean shutdown, so
// that a restart loads it instead of replaying the log. Nothing is written
// when the state is not loaded or unchanged since the last snapshot, or
// when the partition lock is not free within a second.
func (l *Log) SnapshotProducers() error { return l.snapshotProducers(false) }

// snapshotProducers is SnapshotProducers; onlyIdempotent skips a partition
// whose state, brought up to the log end, has no producer.
func (l *Log) snapshotProducers(onlyIdempotent bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.producers == nil {
		return nil
	}
	saved := l.LockTimeout
	if saved <= 0 || saved > snapshotLockWait {
		l.LockTimeout = snapshotLockWait
	}
	err := l.acquire()
	l.LockTimeout = saved
	if errors.Is(err, ErrLockTimeout) {
		return nil
	}
	if err != nil {
		return err
	}
	defer l.lock.Unlock()
	st, err := l.loadTail()
	if err != nil {
		return err
	}
	ps, err := l.syncProducers(&st)
	if err != nil {
		return err
	}
	if onlyIdempotent && len(ps.producers) == 0 {
		return nil
	}
	return l.snapshotLocked(ps)
}
