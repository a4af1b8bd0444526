package logdir

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// File names in a partition directory.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	stateFileName   = "state"
	lockFileName    = "lock"
	flushLockName   = "flush.lock"
	checkpointName  = "checkpoints"
	epochFileName   = "leader-epoch-checkpoint"
)

// Index entry sizes, fixed by Kafka's OffsetIndex and TimeIndex.
const (
	indexEntrySize     = 8  // relative offset int32 + position int32
	timeIndexEntrySize = 12 // timestamp int64 + relative offset int32
)

// segmentName is the 20-digit zero-padded base offset Kafka names files by,
// so that a lexical sort of the directory is the offset order.
func segmentName(base int64) string {
	return fmt.Sprintf("%020d", base)
}

func segmentPath(dir string, base int64, suffix string) string {
	return filepath.Join(dir, segmentName(base)+suffix)
}

// sizeOf is the size of f by fstat(2), without the allocation of
// os.File.Stat: appends and reads ask for it every time.
func sizeOf(f *os.File) (int64, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	return st.Size, nil
}

// statOf is the size and link count of f by fstat(2): a link count of 0
// means the file was deleted while open.
func statOf(f *os.File) (size int64, nlink uint64, err error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return 0, 0, fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	return st.Size, uint64(st.Nlink), nil
}

// listSegments returns the base offsets of the .log files in dir, ascending.
func listSegments(dir string) ([]int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var bases []int64
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, logSuffix) || len(name) != 20+len(logSuffix) {
			continue
		}
		base, err := strconv.ParseInt(name[:20], 10, 64)
		if err != nil {
			continue
		}
		bases = append(bases, base)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

// indexEntry is one offset-index entry: the batch whose last offset is
// base+Relative starts at Position in the .log file.
type indexEntry struct {
	Relative int32
	Position int32
}

func putIndexEntry(b []byte, e indexEntry) {
	binary.BigEndian.PutUint32(b[0:], uint32(e.Relative))
	binary.BigEndian.PutUint32(b[4:], uint32(e.Position))
}

func getIndexEntry(b []byte) indexEntry {
	return indexEntry{int32(binary.BigEndian.Uint32(b[0:])), int32(binary.BigEndian.Uint32(b[4:]))}
}

// timeIndexEntry: every record at or below base+Relative has a timestamp
// at most Timestamp.
type timeIndexEntry struct {
	Timestamp int64
	Relative  int32
}

func putTimeIndexEntry(b []byte, e timeIndexEntry) {
	binary.BigEndian.PutUint64(b[0:], uint64(e.Timestamp))
	binary.BigEndian.PutUint32(b[8:], uint32(e.Relative))
}

func getTimeIndexEntry(b []byte) timeIndexEntry {
	return timeIndexEntry{int64(binary.BigEndian.Uint64(b[0:])), int32(binary.BigEndian.Uint32(b[8:]))}
}

// lookupIndex returns the position to start scanning from for target: the
// position of the last entry whose offset is <= target, or 0. idx holds
// whole entries; entries must be increasing (a damaged tail is cut by the
// caller before it gets here).
func lookupIndex(idx []byte, base, target int64) int64 {
	n := len(idx) / indexEntrySize
	rel := target - base
	// first entry with Relative > rel
	i := sort.Search(n, func(i int) bool {
		return int64(getIndexEntry(idx[i*indexEntrySize:]).Relative) > rel
	})
	if i == 0 {
		return 0
	}
	return int64(getIndexEntry(idx[(i-1)*indexEntrySize:]).Position)
}

// readWhole reads a whole small file (an index) into buf, trimming a torn
// trailing partial entry.
func readWhole(path string, buf []byte, entrySize int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return buf[:0], err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return buf[:0], err
	}
	size := fi.Size() - fi.Size()%int64(entrySize)
	if int64(cap(buf)) < size {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	n, err := f.ReadAt(buf, 0)
	if err != nil && int64(n) < size {
		return buf[:0], err
	}
	return buf[:int64(n)-int64(n)%int64(entrySize)], nil
}
