package logdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Reader reads a partition replica without taking any lock. It reads the
// state to learn what is committed, never returns bytes past the committed
// end of a segment, and checks every batch's CRC. A Reader is for one
// goroutine; open one per consumer of a partition.
type Reader struct {
	dir      string
	stateF   *os.File
	stateBuf []byte
	bases    []int64 // segment list, re-listed when it no longer fits

	segBase int64 // the open segment
	seg     *os.File
	idxBuf  []byte

	// unchecked: the read in progress leaves the CRCs to its caller
	// (ReadForCopy).
	unchecked bool

	// Where the last read stopped, so a sequential reader skips the index.
	cursorBase, cursorOffset, cursorPos int64
}

// OpenReader opens the partition directory dir for reading.
func OpenReader(dir string) (*Reader, error) {
	f, err := os.Open(filepath.Join(dir, stateFileName))
	if err != nil {
		return nil, fmt.Errorf("open partition %s: %w", dir, err)
	}
	return &Reader{dir: dir, stateF: f, stateBuf: make([]byte, stateFileSize), segBase: -1, cursorBase: -1}, nil
}

// StatePath is the file to watch (fsnotify) to learn of new commits.
func (r *Reader) StatePath() string { return filepath.Join(r.dir, stateFileName) }

// Dir is the partition directory.
func (r *Reader) Dir() string { return r.dir }

// State reads the committed state.
func (r *Reader) State() (State, error) { return readStateFile(r.stateF, r.stateBuf) }

// Close releases the files.
func (r *Reader) Close() error {
	if r.seg != nil {
		r.seg.Close()
	}
	return r.stateF.Close()
}

// ReadCommitted is Read up to the high watermark: what a consumer may see.
func (r *Reader) ReadCommitted(dst []byte, offset int64, maxBytes int) ([]byte, State, error) {
	return r.Read(dst, offset, -1, maxBytes)
}

// Read appends to dst whole, CRC-checked batches holding the records from
// offset on, stopping before any batch that starts at or above limit (-1:
// the high watermark) and once about maxBytes are read (at least one batch
// is returned whatever its size). The first batch may start before offset
// and the last may end past limit: callers skip those records. An offset
// below the log start or above the log end is ErrOffsetOutOfRange.
func (r *Reader) Read(dst []byte, offset, limit int64, maxBytes int) ([]byte, State, error) {
	st, err := r.State()
	if err != nil {
		return dst, st, err
	}
	if limit < 0 {
		limit = st.HighWatermark
	}
	limit = min(limit, st.LogEndOffset)
	if offset < st.LogStartOffset || offset > st.LogEndOffset {
		return dst, st, fmt.Errorf("%w: offset %d, the log holds %d to %d", ErrOffsetOutOfRange, offset, st.LogStartOffset, st.LogEndOffset)
	}
	start := len(dst)
	relisted := false
	for offset < limit && len(dst)-start < maxBytes {
		base, err := r.segmentFor(offset, &st)
		if err != nil {
			return dst, st, err
		}
		end, err := r.committedEnd(base, &st)
		if err != nil {
			return dst, st, err
		}
		pos, err := r.position(base, offset, end)
		if err != nil {
			return dst, st, err
		}
		before := len(dst)
		dst, offset, pos, err = r.readSegment(dst, pos, end, offset, limit, maxBytes-(len(dst)-start))
		if err != nil {
			return dst, st, err
		}
		r.cursorBase, r.cursorOffset, r.cursorPos = base, offset, pos
		if len(dst) == before {
			if base == st.ActiveSegment {
				break // caught up with what is committed
			}
			// The rest of this segment is below offset: go on in the next,
			// which starts where this one ends (offsets are dense). If the
			// listing says otherwise it may be stale, or incomplete: a
			// readdir racing with appenders that create segments can
			// return a new segment and miss older ones. List again rather
			// than skip offsets.
			next := r.nextBase(base)
			if (next < 0 || next > offset) && !relisted {
				relisted = true
				r.bases = r.bases[:0]
				continue
			}
			if next < 0 || next >= limit {
				break
			}
			if next > offset {
				return dst, st, fmt.Errorf("%w: offsets %d to %d are in no segment of %s", ErrCorrupt, offset, next-1, r.dir)
			}
			offset = max(offset, next)
		}
	}
	return dst, st, nil
}

// readSegment reads batches from pos (below end) into dst.
func (r *Reader) readSegment(dst []byte, pos, end, offset, limit int64, want int) ([]byte, int64, int64, error) {
	want = max(want, BatchHeaderSize)
	for pos < end {
		n := int(min(int64(want), end-pos))
		start := len(dst)
		dst = grow(dst, n)
		buf := dst[start : start+n]
		if _, err := r.seg.ReadAt(buf, pos); err != nil {
			return dst[:start], offset, pos, fmt.Errorf("read %s at position %d: %w", r.seg.Name(), pos, err)
		}
		keepFrom, p := -1, 0
		for p+BatchHeaderSize <= n {
			h, err := ParseBatchHeader(buf[p:])
			if err != nil {
				return dst[:start], offset, pos, fmt.Errorf("%w in file %s at position %d", err, r.seg.Name(), pos+int64(p))
			}
			size := h.Size()
			if h.BaseOffset >= limit {
				break
			}
			if p+size > n {
				if keepFrom < 0 && p == 0 {
					// A batch larger than what we asked for: read it whole.
					want = size
				}
				break
			}
			if !r.unchecked {
				if err := VerifyBatch(buf[p : p+size]); err != nil {
					return dst[:start], offset, pos, fmt.Errorf("%w in file %s at position %d", err, r.seg.Name(), pos+int64(p))
				}
			}
			last := h.LastOffset()
			if last >= offset {
				if keepFrom < 0 {
					keepFrom = p
				}
				offset = last + 1
			}
			p += size
		}
		pos += int64(p)
		if keepFrom < 0 {
			dst = dst[:start]
			if p == 0 && want > n && pos+int64(want) <= end {
				continue // re-read the big batch whole
			}
			if p == 0 || offset >= limit {
				return dst, offset, pos, nil
			}
			continue // skipped batches below offset; read on
		}
		if keepFrom > 0 {
			copy(buf, buf[keepFrom:p])
		}
		return dst[:start+p-keepFrom], offset, pos, nil
	}
	return dst, offset, pos, nil
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

// segmentFor returns the base of the segment holding offset, re-listing
// the directory when the cached list does not cover it.
func (r *Reader) segmentFor(offset int64, st *State) (int64, error) {
	for attempt := 0; attempt < 2; attempt++ {
		if attempt > 0 || len(r.bases) == 0 || r.bases[len(r.bases)-1] < st.ActiveSegment || r.bases[0] > offset {
			bases, err := listSegments(r.dir)
			if err != nil {
				return 0, err
			}
			r.bases = bases
		}
		i := sort.Search(len(r.bases), func(i int) bool { return r.bases[i] > offset }) - 1
		if i < 0 {
			continue
		}
		base := r.bases[i]
		if err := r.openSegment(base); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // deleted by retention under us: re-list
			}
			return 0, err
		}
		return base, nil
	}
	fresh, err := r.State()
	if err == nil && offset < fresh.LogStartOffset {
		return 0, fmt.Errorf("%w: offset %d, the log starts at %d", ErrOffsetOutOfRange, offset, fresh.LogStartOffset)
	}
	return 0, fmt.Errorf("%w: no segment holds offset %d in %s", ErrOffsetOutOfRange, offset, r.dir)
}

func (r *Reader) nextBase(base int64) int64 {
	i := sort.Search(len(r.bases), func(i int) bool { return r.bases[i] > base })
	if i < len(r.bases) {
		return r.bases[i]
	}
	return -1
}

func (r *Reader) openSegment(base int64) error {
	if r.segBase == base && r.seg != nil {
		return nil
	}
	f, err := os.Open(segmentPath(r.dir, base, logSuffix))
	if err != nil {
		return err
	}
	if r.seg != nil {
		r.seg.Close()
	}
	r.seg, r.segBase = f, base
	return nil
}

// committedEnd is how far the segment may be read: the committed size for
// the active segment, the file's size for a closed one (whole by the time
// it was closed).
func (r *Reader) committedEnd(base int64, st *State) (int64, error) {
	if base == st.ActiveSegment {
		return st.ActiveSize, nil
	}
	return sizeOf(r.seg)
}

// position finds where to start scanning for offset in segment base (open
// in r.seg, committed up to end): the cursor when reading on from where the
// last read stopped, else the offset index. The index is only a hint: the
// entry used must point, below end, at the start of the batch whose last
// offset it names, else an earlier entry is tried, and finally the start of
// the segment. A damaged index (Recover trusts those of segments below the
// recovery point, as Kafka does) slows a lookup; it never misleads it.
func (r *Reader) position(base, offset, end int64) (int64, error) {
	if r.cursorBase == base && r.cursorOffset == offset {
		return r.cursorPos, nil
	}
	idx, err := readWhole(segmentPath(r.dir, base, indexSuffix), r.idxBuf, indexEntrySize)
	r.idxBuf = idx
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	rel := offset - base
	// The first entry past rel; the one before it is the candidate.
	i := sort.Search(len(idx)/indexEntrySize, func(i int) bool {
		return int64(getIndexEntry(idx[i*indexEntrySize:]).Relative) > rel
	})
	var hdr [BatchHeaderSize]byte
	for i--; i >= 0; i-- {
		e := getIndexEntry(idx[i*indexEntrySize:])
		pos := int64(e.Position)
		if int64(e.Relative) > rel || pos < 0 || pos+BatchHeaderSize > end {
			continue
		}
		if _, err := r.seg.ReadAt(hdr[:], pos); err != nil {
			continue
		}
		if h, err := ParseBatchHeader(hdr[:]); err == nil && h.LastOffset() == base+int64(e.Relative) {
			return pos, nil
		}
	}
	return 0, nil
}

// NextBatch splits the first batch off batches (as Read returns them).
func NextBatch(batches []byte) (batch, rest []byte, err error) {
	if len(batches) < BatchHeaderSize {
		return nil, nil, fmt.Errorf("%w: %d bytes, not a batch", ErrCorrupt, len(batches))
	}
	h, err := ParseBatchHeader(batches)
	if err != nil {
		return nil, nil, err
	}
	n := h.Size()
	if n > len(batches) {
		return nil, nil, fmt.Errorf("%w: batch of %d bytes, %d given", ErrCorrupt, n, len(batches))
	}
	return batches[:n], batches[n:], nil
}

// OffsetForTimestamp returns the first offset whose record has a timestamp
// at or after ts, below the high watermark, as Kafka's ListOffsets does.
// found is false when no committed record is that new; offset is then the
// high watermark (where a consumer would wait).
func (r *Reader) OffsetForTimestamp(ts int64) (offset int64, found bool, err error) {
	st, err := r.State()
	if err != nil {
		return 0, false, err
	}
	at, found, err := r.findTimestamp(st, ts)
	if err != nil {
		return 0, false, err
	}
	if !found {
		return st.HighWatermark, false, nil
	}
	return at.Offset, true, nil
}
