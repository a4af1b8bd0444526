package logdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// epochLog makes a leader log with batches at epochs 0 (offsets 0..5),
// 2 (6..9) and 5 (10, 11) over several segments.
func epochLog(t *testing.T) (*Log, string, []EpochEntry) {
	t.Helper()
	l, dir := newLeader(t, Config{SegmentBytes: 200, IndexIntervalBytes: 50})
	for _, step := range []struct {
		epoch   int32
		batches int
	}{{0, 3}, {2, 2}, {5, 1}} {
		if step.epoch > 0 {
			if err := l.BecomeLeader(step.epoch, true); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < step.batches; i++ {
			if _, err := l.Append(step.epoch, makeBatch(fmt.Sprint("e", step.epoch), 2, 100)); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := []EpochEntry{{0, 0}, {2, 6}, {5, 10}}
	if es, err := ReadLeaderEpochs(dir); err != nil || !slices.Equal(es, want) {
		t.Fatalf("epochs as written: %+v %v, want %+v", es, err, want)
	}
	return l, dir, want
}

// Every damage to leader-epoch-checkpoint that a reader can tell.
var badEpochFiles = []struct{ name, content string }{
	{"empty", ""},
	{"garbage", "\x00\x01 garbage\n"},
	{"wrong version", "1\n1\n0 0\n"},
	{"count too large", "0\n3\n0 0\n2 6\n"},
	{"count not a number", "0\nx\n0 0\n"},
	{"line cut", "0\n2\n0 0\n2\n"},
	{"epochs going back", "0\n2\n2 0\n0 6\n"},
	{"offsets going back", "0\n2\n0 6\n2 0\n"},
	{"negative", "0\n1\n-1 0\n"},
}

func TestReadLeaderEpochsRejectsDamage(t *testing.T) {
	for _, tt := range badEpochFiles {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, epochFileName), []byte(tt.content), 0o644); err != nil {
			t.Fatal(err)
		}
		if es, err := ReadLeaderEpochs(dir); !errors.Is(err, ErrBadState) {
			t.Errorf("%s: %+v, %v; want ErrBadState", tt.name, es, err)
		}
	}
}

// A damaged leader-epoch-checkpoint is derived data: recovery rebuilds it
// from the batches' partitionLeaderEpoch and says so; so does the first
// user of it under the lock (a new leader epoch, a follower's append of a
// new epoch, a truncation) while the replica runs, and a lock-free reader
// can compute it. The partition never stays unavailable for want of it.
func TestDamagedLeaderEpochCheckpointIsRebuilt(t *testing.T) {
	for _, tt := range badEpochFiles {
		t.Run(tt.name, func(t *testing.T) {
			l, dir, want := epochLog(t)
			damage := func() {
				t.Helper()
				if err := os.WriteFile(filepath.Join(dir, epochFileName), []byte(tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			damage()
			if es, err := ScanLeaderEpochs(dir); err != nil || !slices.Equal(es, want) {
				t.Errorf("ScanLeaderEpochs: %+v %v, want %+v", es, err, want)
			}

			// While the replica runs: becoming leader at a new epoch.
			var mu sync.Mutex
			var logged []string
			l.Logf = func(f string, a ...any) { mu.Lock(); logged = append(logged, fmt.Sprintf(f, a...)); mu.Unlock() }
			if err := l.BecomeLeader(7, true); err != nil {
				t.Fatalf("BecomeLeader with a damaged leader-epoch-checkpoint: %v", err)
			}
			st, _ := l.State()
			if es, err := ReadLeaderEpochs(dir); err != nil || !slices.Equal(es, append(slices.Clone(want), EpochEntry{7, st.LogEndOffset})) {
				t.Errorf("after BecomeLeader(7): %+v %v", es, err)
			}
			if len(logged) != 1 || !strings.Contains(logged[0], dir+": bad partition state file: "+filepath.Join(dir, epochFileName)+" is not a valid leader-epoch-checkpoint; rebuilt it from the log: epoch 0 from offset 0, epoch 2 from offset 6, epoch 5 from offset 10") {
				t.Errorf("reported %q", logged)
			}

			// A follower appending a batch of a new epoch.
			damage()
			if err := l.BecomeFollower(8); err != nil {
				t.Fatal(err)
			}
			b := makeBatch("e8", 1, 100)
			SetBaseOffset(b, st.LogEndOffset)
			SetLeaderEpoch(b, 8)
			if _, err := l.AppendVerbatim(b); err != nil {
				t.Fatalf("AppendVerbatim with a damaged leader-epoch-checkpoint: %v", err)
			}
			if es, _ := ReadLeaderEpochs(dir); !slices.Equal(es, append(slices.Clone(want), EpochEntry{8, st.LogEndOffset})) {
				t.Errorf("after a follower's append at epoch 8: %+v", es)
			}

			// A truncation.
			damage()
			if _, err := l.TruncateTo(8); err != nil {
				t.Fatalf("TruncateTo with a damaged leader-epoch-checkpoint: %v", err)
			}
			if es, _ := ReadLeaderEpochs(dir); !slices.Equal(es, want[:2]) {
				t.Errorf("after truncating to 8: %+v", es)
			}

			// Recovery at a broker's start.
			damage()
			l.Close()
			l2, rep, err := Recover(dir, Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Close()
			if !strings.Contains(rep.LeaderEpochs, "rebuilt it from the log: epoch 0 from offset 0, epoch 2 from offset 6") {
				t.Errorf("recovery report: %q", rep.LeaderEpochs)
			}
			if es, _ := ReadLeaderEpochs(dir); !slices.Equal(es, want[:2]) {
				t.Errorf("after recovery: %+v", es)
			}
		})
	}
}
