package logdir

import (
	"bufio"
	"bytes"
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
type Checkpoints struct {
	LogStartOffset          int64
	RecoveryPoint           int64
	HighWatermark           int64
	LeaderEpoch             int32
	Leader                  bool
	HighWatermarkFollowsLEO bool
}

// checkpointsOf takes the durable facts out of a state.
func checkpointsOf(st *State) Checkpoints {
	return Checkpoints{st.LogStartOffset, st.FlushedOffset, st.HighWatermark, st.LeaderEpoch, st.Leader, st.HighWatermarkFollowsLEO}
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
	for sc.Scan() {
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
		}
	}
	return c, nil
}

func writeCheckpoints(dir string, c Checkpoints) error {
	s := fmt.Sprintf("log-start-offset %d\nrecovery-point %d\nhigh-watermark %d\nleader-epoch %d\nleader %d\nhigh-watermark-follows-log-end %d\n",
		c.LogStartOffset, c.RecoveryPoint, c.HighWatermark, c.LeaderEpoch, b2i(c.Leader), b2i(c.HighWatermarkFollowsLEO))
	return WriteFileAtomic(filepath.Join(dir, checkpointName), []byte(s), 0o644)
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
// version line (0), a count line, then "epoch startOffset" lines.
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
	bad := func() error { return fmt.Errorf("%w: %s", ErrBadState, path) }
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
		if !ok || err1 != nil || err2 != nil {
			return nil, bad()
		}
		out = append(out, EpochEntry{int32(ev), ov})
	}
	return out, nil
}

func writeLeaderEpochs(dir string, es []EpochEntry) error {
	var b strings.Builder
	fmt.Fprintf(&b, "0\n%d\n", len(es))
	for _, e := range es {
		fmt.Fprintf(&b, "%d %d\n", e.Epoch, e.StartOffset)
	}
	return WriteFileAtomic(filepath.Join(dir, epochFileName), []byte(b.String()), 0o644)
}

// assignEpoch records that epoch starts at offset, dropping entries that
// the new one supersedes (same or later epochs, or starting at or after
// offset), as Kafka's LeaderEpochFileCache.assign does.
func assignEpoch(dir string, epoch int32, offset int64) error {
	es, err := ReadLeaderEpochs(dir)
	if err != nil {
		return err
	}
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
