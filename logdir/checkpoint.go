package logdir

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Checkpoints are the facts about a partition that must survive a crash of
// the whole machine and that change rarely, so they are written atomically
// (temp, fsync, rename, fsync dir) rather than in place like the state:
//
//	log-start-offset 1200     retention moved the start here
//	recovery-point 5000       everything below is fsynced: recovery validates from here
//	high-watermark 4990       committed offset at the last checkpoint
//	leader-epoch 3            the fence and the role, so that a damaged state
//	leader 1                  file can be rebuilt without waiting for the
//	high-watermark-follows-log-end 1   controller to say them again
//	lost-committed-to 0       see State.LostCommittedTo
//
// The first line, "version 1", names the format (a file without it is
// version 0: the same lines, lost-committed-to possibly absent). A reader
// refuses a newer version (ErrNewerFormat) rather than skip lines it does
// not know, as the state file does (see stateVersion); names it does not
// know in its own version or an older one are ignored.
type Checkpoints struct {
	LogStartOffset          int64
	RecoveryPoint           int64
	HighWatermark           int64
	LeaderEpoch             int32
	Leader                  bool
	HighWatermarkFollowsLEO bool
	LostCommittedTo         int64
}

// checkpointsOf takes the durable facts out of a state.
func checkpointsOf(st *State) Checkpoints {
	return Checkpoints{st.LogStartOffset, st.FlushedOffset, st.HighWatermark, st.LeaderEpoch, st.Leader, st.HighWatermarkFollowsLEO, st.LostCommittedTo}
}

// committedEnd is the offset below which the replica st describes had
// every record that may have been committed, as far as it can tell: its
// high watermark, and for a follower its log end as well (its leader may
// have committed anything a follower in its ISR had copied).
func committedEnd(st *State) int64 {
	end := max(st.HighWatermark, st.LostCommittedTo)
	if !st.Leader {
		end = max(end, st.LogEndOffset)
	}
	return end
}

// committedEnd is committedEnd for a replica known only by its
// checkpoints: the recovery point stands for a follower's log end (every
// record below it was written and fsynced).
func (c *Checkpoints) committedEnd() int64 {
	end := max(c.HighWatermark, c.LostCommittedTo)
	if !c.Leader {
		end = max(end, c.RecoveryPoint)
	}
	return end
}

// markLost records in st that its log lacks records below committed, if
// it does: st is no longer a leader (a leader missing committed records
// would make its followers truncate them) and remembers how far the
// records went. It reports whether it marked anything.
func markLost(st *State, committed int64) bool {
	if st.LogEndOffset >= committed {
		if st.LostCommittedTo <= st.LogEndOffset {
			st.LostCommittedTo = 0
		}
		return false
	}
	st.LostCommittedTo = max(st.LostCommittedTo, committed)
	st.Leader, st.HighWatermarkFollowsLEO = false, false
	return true
}

func readCheckpoints(dir string) (Checkpoints, error) {
	var c Checkpoints
	path := filepath.Join(dir, checkpointName)
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	first := true
	for sc.Scan() {
		if first {
			first = false
			if v, ok := strings.CutPrefix(sc.Text(), "version "); ok {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 {
					return c, fmt.Errorf("%w: %s: line %q", ErrBadState, path, sc.Text())
				}
				if n > checkpointsVersion {
					return c, fmt.Errorf("%w: %s is format v%d, this mk reads up to v%d: run the newer mk", ErrNewerFormat, path, n, checkpointsVersion)
				}
				continue
			}
		}
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			return c, fmt.Errorf("%w: %s: line %q", ErrBadState, path, sc.Text())
		}
		v, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return c, fmt.Errorf("%w: %s: line %q", ErrBadState, path, sc.Text())
		}
		switch name {
		case "log-start-offset":
			c.LogStartOffset = v
		case "recovery-point":
			c.RecoveryPoint = v
		case "high-watermark":
			c.HighWatermark = v
		case "leader-epoch":
			c.LeaderEpoch = int32(v)
		case "leader":
			c.Leader = v == 1
		case "high-watermark-follows-log-end":
			c.HighWatermarkFollowsLEO = v == 1
		case "lost-committed-to":
			c.LostCommittedTo = v
		}
	}
	return c, nil
}

// checkpointsVersion is the format version writeCheckpoints writes.
const checkpointsVersion = 1

func writeCheckpoints(dir string, c Checkpoints) error {
	return WriteFileAtomic(filepath.Join(dir, checkpointName), []byte(c.text()), 0o644)
}

// text is the checkpoints file's content.
func (c Checkpoints) text() string {
	return fmt.Sprintf("version %d\nlog-start-offset %d\nrecovery-point %d\nhigh-watermark %d\nleader-epoch %d\nleader %d\nhigh-watermark-follows-log-end %d\nlost-committed-to %d\n",
		checkpointsVersion, c.LogStartOffset, c.RecoveryPoint, c.HighWatermark, c.LeaderEpoch, b2i(c.Leader), b2i(c.HighWatermarkFollowsLEO), c.LostCommittedTo)
}

// EpochEntry says that leader epoch Epoch wrote its first record at
// StartOffset. The list of them is Kafka's leader-epoch-checkpoint; a
// follower uses it to find where its log diverged from a new leader's
// (KIP-101).
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

// ReadLeaderEpochs reads leader-epoch-checkpoint in Kafka's format: a
// version line (0), a count line, then "epoch startOffset" lines, epochs
// growing and start offsets not going back. A file that is not that is
// ErrBadState; it is derived data, rebuilt from the log by whoever next
// needs it under the partition lock (and by Recover).
func ReadLeaderEpochs(dir string) ([]EpochEntry, error) {
	path := filepath.Join(dir, epochFileName)
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	bad := func() error { return fmt.Errorf("%w: %s is not a valid leader-epoch-checkpoint", ErrBadState, path) }
	if len(lines) < 2 || lines[0] != "0" {
		return nil, bad()
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n != len(lines)-2 {
		return nil, bad()
	}
	out := make([]EpochEntry, 0, n)
	for _, l := range lines[2:] {
		e, o, ok := strings.Cut(l, " ")
		ev, err1 := strconv.ParseInt(e, 10, 32)
		ov, err2 := strconv.ParseInt(o, 10, 64)
		if !ok || err1 != nil || err2 != nil || ev < 0 || ov < 0 {
			return nil, bad()
		}
		if k := len(out); k > 0 && (int32(ev) <= out[k-1].Epoch || ov < out[k-1].StartOffset) {
			return nil, bad()
		}
		out = append(out, EpochEntry{int32(ev), ov})
	}
	return out, nil
}

// ScanLeaderEpochs computes the leader-epoch list of the replica in dir
// from its log, without a lock and without writing anything: what
// leader-epoch-checkpoint should hold, for a reader that found it damaged.
func ScanLeaderEpochs(dir string) ([]EpochEntry, error) {
	f, err := os.Open(filepath.Join(dir, stateFileName))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := readStateFile(f, make([]byte, stateFileSize))
	if err != nil {
		return nil, err
	}
	return scanLeaderEpochs(dir, &st)
}

// scanLeaderEpochs rebuilds the leader-epoch list from the
// partitionLeaderEpoch of the batches below st's log end offset (every
// batch carries the epoch of the leader that appended it): an entry where
// the epoch grows. A leader that has appended nothing at its epoch yet
// gets that epoch at its log end, as BecomeLeader records it.
func scanLeaderEpochs(dir string, st *State) ([]EpochEntry, error) {
	bases, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	var es []EpochEntry
	var hdr [BatchHeaderSize]byte
	for _, base := range bases {
		if base >= st.LogEndOffset {
			break
		}
		f, err := os.Open(segmentPath(dir, base, logSuffix))
		if errors.Is(err, os.ErrNotExist) {
			continue // removed by retention since the listing
		}
		if err != nil {
			return nil, err
		}
		for pos := int64(0); ; {
			if n, _ := f.ReadAt(hdr[:], pos); n < BatchHeaderSize {
				break
			}
			h, err := ParseBatchHeader(hdr[:])
			if err != nil || h.BaseOffset >= st.LogEndOffset {
				break
			}
			if e := h.PartitionLeaderEpoch; e >= 0 && (len(es) == 0 || e > es[len(es)-1].Epoch) {
				es = append(es, EpochEntry{e, h.BaseOffset})
			}
			pos += int64(h.Size())
		}
		f.Close()
	}
	if st.Leader && (len(es) == 0 || es[len(es)-1].Epoch < st.LeaderEpoch) {
		es = append(es, EpochEntry{st.LeaderEpoch, st.LogEndOffset})
	}
	return es, nil
}

// leaderEpochsLocked reads leader-epoch-checkpoint with the partition lock
// held and st reconciled with the files. A damaged file is rebuilt from
// the log, written back and reported: it is derived data, and a partition
// must not stay unavailable for want of it.
func (l *Log) leaderEpochsLocked(st *State) ([]EpochEntry, error) {
	es, err := ReadLeaderEpochs(l.dir)
	if !errors.Is(err, ErrBadState) {
		return es, err
	}
	rebuilt, serr := scanLeaderEpochs(l.dir, st)
	if serr != nil {
		return nil, fmt.Errorf("%w (and rebuilding it from the log failed: %v)", err, serr)
	}
	if werr := writeLeaderEpochs(l.dir, rebuilt); werr != nil {
		return nil, werr
	}
	l.logf("%v; rebuilt it from the log: %s", err, FormatEpochs(rebuilt))
	return rebuilt, nil
}

// FormatEpochs renders a leader-epoch list for a log line:
// "epoch 0 from offset 0, epoch 3 from offset 120".
func FormatEpochs(es []EpochEntry) string {
	if len(es) == 0 {
		return "no epochs"
	}
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = fmt.Sprintf("epoch %d from offset %d", e.Epoch, e.StartOffset)
	}
	return strings.Join(parts, ", ")
}

// trimEpochs drops the entries that start past a log cut at end (as Kafka's
// truncateFromEnd): an entry starting at end is kept only if it is the
// first, so that the list is never empty for a log that had epochs.
func trimEpochs(es []EpochEntry, end int64) []EpochEntry {
	kept := es[:0:0]
	for _, e := range es {
		if e.StartOffset < end || len(kept) == 0 && e.StartOffset == end {
			kept = append(kept, e)
		}
	}
	return kept
}

func writeLeaderEpochs(dir string, es []EpochEntry) error {
	var b strings.Builder
	fmt.Fprintf(&b, "0\n%d\n", len(es))
	for _, e := range es {
		fmt.Fprintf(&b, "%d %d\n", e.Epoch, e.StartOffset)
	}
	return WriteFileAtomic(filepath.Join(dir, epochFileName), []byte(b.String()), 0o644)
}

// assignEpoch records that epoch starts at offset in the list es (read
// from dir), dropping entries that the new one supersedes (same or later
// epochs, or starting at or after offset), as Kafka's
// LeaderEpochFileCache.assign does.
func assignEpoch(dir string, es []EpochEntry, epoch int32, offset int64) error {
	if n := len(es); n > 0 && es[n-1].Epoch == epoch {
		return nil
	}
	keep := es[:0]
	for _, e := range es {
		if e.Epoch < epoch && e.StartOffset < offset {
			keep = append(keep, e)
		}
	}
	return writeLeaderEpochs(dir, append(keep, EpochEntry{epoch, offset}))
}
