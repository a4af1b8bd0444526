package logdir

import (
	"bytes"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// stateImage renders a state file image with the given first line and
// name value lines, checksummed and padded as encodeState does: what an
// older or a newer mk would have written.
func stateImage(magic string, lines []string) []byte {
	b := []byte(magic + "\n" + strings.Join(lines, "\n") + "\n")
	crc := crc32.Checksum(b, castagnoli)
	b = append(b, "crc32c "...)
	b = appendHex32(b, crc)
	b = append(b, '\n')
	b = append(b, statePadding[len(b):]...)
	b[stateFileSize-1] = '\n'
	return b
}

// The lines every version has (v1 as first written).
var stateLinesV1 = []string{
	"leader-epoch 3", "leader 0", "log-start-offset 0", "log-end-offset 10",
	"high-watermark 10", "high-watermark-follows-log-end 0", "flushed-offset 10",
	"last-flush-ms 0", "active-segment 0", "active-size 0", "active-first-timestamp -1",
	"active-max-timestamp -1", "active-max-timestamp-offset 0", "bytes-since-index 0",
	"index-entries 0", "timeindex-entries 0", "last-timeindex-timestamp -1", "seq 7",
}

func withLines(extra ...string) []string {
	return append(append([]string{}, stateLinesV1...), extra...)
}

// The state file names its format version: v1 files (with or without the
// two lines added to v1 later) are read, with what a missing line means;
// v2 requires those lines; a newer version is refused as such, never
// called damage.
func TestStateFileVersions(t *testing.T) {
	tests := []struct {
		name       string
		image      []byte
		err        error
		followsEp  int32
		lostCommit int64
	}{
		{"v1 as first written", stateImage("mk-partition-state v1", stateLinesV1), nil, -1, 0},
		{"v1 with the later lines", stateImage("mk-partition-state v1", withLines("lost-committed-to 20", "follows-epoch 3")), nil, 3, 20},
		{"v2", stateImage("mk-partition-state v2", withLines("lost-committed-to 0", "follows-epoch 2")), nil, 2, 0},
		{"v2 without follows-epoch", stateImage("mk-partition-state v2", withLines("lost-committed-to 0")), ErrBadState, 0, 0},
		{"v2 with a line twice", stateImage("mk-partition-state v2", withLines("lost-committed-to 0", "lost-committed-to 0")), ErrBadState, 0, 0},
		{"v2 with an unknown line", stateImage("mk-partition-state v2", withLines("lost-committed-to 0", "follows-epoch 2", "new-thing 1")), ErrBadState, 0, 0},
		{"v3", stateImage("mk-partition-state v3", withLines("lost-committed-to 0", "follows-epoch 2", "new-thing 1")), ErrNewerFormat, 0, 0},
		{"v3 whatever its checksum", append([]byte("mk-partition-state v3\n"), bytes.Repeat([]byte{'x'}, stateFileSize-22)...), ErrNewerFormat, 0, 0},
		{"v0", stateImage("mk-partition-state v0", withLines("lost-committed-to 0", "follows-epoch 2")), ErrBadState, 0, 0},
		{"no version", stateImage("mk-partition-state v", withLines("lost-committed-to 0", "follows-epoch 2")), ErrBadState, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := decodeState(tt.image)
			if !errors.Is(err, tt.err) {
				t.Fatalf("decode: error %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if s.FollowsEpoch != tt.followsEp || s.LostCommittedTo != tt.lostCommit || s.LogEndOffset != 10 || s.LeaderEpoch != 3 || s.Seq != 7 {
				t.Fatalf("decoded %+v", s)
			}
		})
	}
	// What mk writes is the current version, and reads back the same.
	st := State{LeaderEpoch: 4, LogEndOffset: 9, LostCommittedTo: 12, FollowsEpoch: 4, Seq: 3}
	img := encodeState(make([]byte, stateFileSize), &st)
	if !bytes.HasPrefix(img, []byte("mk-partition-state v2\n")) {
		t.Fatalf("encoded state starts %q", img[:30])
	}
	if got, err := decodeState(img); err != nil || got != st {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, st)
	}
}

// A replica whose state or checkpoints file a newer mk wrote is refused
// with one line that says so, at once (not after the patience for a torn
// rewrite), and its files are left as they are: an older mk never rebuilds
// them in its own format.
func TestNewerReplicaFilesRefused(t *testing.T) {
	newer := map[string][]byte{
		"state":       stateImage("mk-partition-state v3", withLines("lost-committed-to 0", "follows-epoch 2", "new-thing 1")),
		"checkpoints": []byte("version 2\nlog-start-offset 0\nrecovery-point 0\nhigh-watermark 0\nleader-epoch 0\nleader 1\nhigh-watermark-follows-log-end 1\nlost-committed-to 0\nnew-thing 1\n"),
	}
	for name, content := range newer {
		t.Run(name, func(t *testing.T) {
			l, dir := newLeader(t, Config{})
			if _, err := l.Append(0, makeBatch("r", 5, 0)); err != nil {
				t.Fatal(err)
			}
			if err := l.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			l.Close()
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, content, 0o644); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, _, err := Recover(dir, Config{})
			if !errors.Is(err, ErrNewerFormat) {
				t.Fatalf("recover: %v, want ErrNewerFormat", err)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "format v") || !strings.Contains(msg, "run the newer mk") {
				t.Fatalf("error %q: want one line naming the format", msg)
			}
			if name == "state" {
				if time.Since(start) >= stateTornPatience {
					t.Fatalf("refused after %v: a newer format is not a torn rewrite", time.Since(start))
				}
				rd, err := OpenReader(dir)
				if err != nil {
					t.Fatal(err)
				}
				_, err = rd.State()
				rd.Close()
				if !errors.Is(err, ErrNewerFormat) {
					t.Fatalf("reader: %v, want ErrNewerFormat", err)
				}
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, content) {
				t.Fatalf("%s rewritten by the refusing mk:\n%s", name, got)
			}
		})
	}
}

// A checkpoints file without a version line (written before it had one)
// is read as it always was; one with it too.
func TestCheckpointsVersions(t *testing.T) {
	dir := t.TempDir()
	old := "log-start-offset 5\nrecovery-point 9\nhigh-watermark 8\nleader-epoch 2\nleader 1\nhigh-watermark-follows-log-end 0\n"
	want := Checkpoints{LogStartOffset: 5, RecoveryPoint: 9, HighWatermark: 8, LeaderEpoch: 2, Leader: true}
	if err := os.WriteFile(filepath.Join(dir, checkpointName), []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err := readCheckpoints(dir); err != nil || c != want {
		t.Fatalf("version 0: %+v, %v; want %+v", c, err, want)
	}
	want.LostCommittedTo = 11
	if err := writeCheckpoints(dir, want); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, checkpointName))
	if !strings.HasPrefix(string(data), "version 1\n") {
		t.Fatalf("written checkpoints start %q", data)
	}
	if c, err := readCheckpoints(dir); err != nil || c != want {
		t.Fatalf("version 1: %+v, %v; want %+v", c, err, want)
	}
}
