package logdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Committed bytes gone from under a running replica (its active segment
// deleted or cut, by hand or by a disk) are never papered over: whoever
// next takes the lock (an appender, the broker's Check, the controller's
// fence) rebuilds the state from the files, and if records that may have
// been committed are gone, the replica stops leading and remembers what it
// lacks, so that it neither serves a shorter log as leader nor makes its
// followers truncate theirs. Bytes above the high watermark of a leader
// were never committed: losing them only shortens the log.
func TestCommittedBytesGoneUnderARunningLog(t *testing.T) {
	tests := []struct {
		name     string
		leader   bool  // else a follower holding the same bytes
		hw       int64 // high watermark (-1: the leader's ISR is itself: all committed)
		damage   func(t *testing.T, dir string, seg string)
		badState bool  // also damage the state file (rebuilt from the checkpoints)
		wantLost int64 // LostCommittedTo afterwards (0: nothing committed lost)
		wantLEO  int64
	}{
		{"leader alone, active segment deleted", true, -1, remove, false, 40, 20},
		{"leader alone, active segment cut", true, -1, cutTo(1), false, 40, 25},
		{"leader with followers, cut above its high watermark", true, 30, cutTo(3), false, 0, 35},
		{"leader with followers, cut below its high watermark", true, 30, cutTo(1), false, 30, 25},
		{"follower, active segment deleted", false, 10, remove, false, 40, 20},
		{"follower, cut above its high watermark", false, 10, cutTo(3), false, 40, 35},
		{"leader alone, state damaged too", true, -1, cutTo(1), true, 40, 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// 40 records in 8 batches of 5; segments of 4 batches: 0..19, 20..39.
			l, dir := newLeader(t, Config{SegmentBytes: 4 * int64(len(makeBatch("r", 5, 0))), IndexIntervalBytes: 100})
			if tt.hw >= 0 {
				if err := l.BecomeLeader(1, false); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < 8; i++ {
				if _, err := l.Append(l.mustState(t).LeaderEpoch, makeBatch("r", 5, int64(i))); err != nil {
					t.Fatal(err)
				}
			}
			if tt.hw >= 0 {
				if _, err := l.SetHighWatermark(tt.hw); err != nil {
					t.Fatal(err)
				}
			}
			if !tt.leader {
				if err := l.BecomeFollower(2); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			st := l.mustState(t)
			if st.ActiveSegment != 20 || st.LogEndOffset != 40 {
				t.Fatalf("setup: %+v", st)
			}
			var mu sync.Mutex
			var logged []string
			l.Logf = func(f string, a ...any) { mu.Lock(); logged = append(logged, fmt.Sprintf(f, a...)); mu.Unlock() }

			// Through Check, as a broker notices on a replica taking no appends.
			tt.damage(t, dir, segmentPath(dir, 20, logSuffix))
			if tt.badState {
				os.WriteFile(filepath.Join(dir, stateFileName), []byte("garbage"), 0o644)
			}
			got, err := l.Check()
			if err != nil {
				t.Fatal(err)
			}
			if got.LogEndOffset != tt.wantLEO || got.LostCommittedTo != tt.wantLost || got.HighWatermark > got.LogEndOffset {
				t.Fatalf("after Check: %+v; want log end %d, lost-committed-to %d", got, tt.wantLEO, tt.wantLost)
			}
			if tt.wantLost == 0 {
				if got.Leader != tt.leader || len(logged) != 0 {
					t.Fatalf("nothing committed was lost, yet: %+v, %q", got, logged)
				}
				return
			}
			if got.Leader {
				t.Fatal("a replica missing committed records is still the leader")
			}
			if len(logged) != 1 || !strings.Contains(logged[0], fmt.Sprintf("ends at %d, below the %d it had, which may have been committed; no longer leader", tt.wantLEO, tt.wantLost)) {
				t.Errorf("reported %q", logged)
			}
			if cp, err := readCheckpoints(dir); err != nil || cp.LostCommittedTo != tt.wantLost {
				t.Errorf("checkpoints %+v %v: the loss must survive a crash", cp, err)
			}
			if _, err := l.Append(got.LeaderEpoch, makeBatch("x", 1, 0)); !errors.Is(err, ErrNotLeader) {
				t.Errorf("append after the loss: %v, want ErrNotLeader", err)
			}
			if err := l.BecomeLeader(got.LeaderEpoch+1, true); !errors.Is(err, ErrMissingRecords) {
				t.Errorf("BecomeLeader after the loss: %v, want ErrMissingRecords", err)
			}
			// A restart keeps knowing it.
			l.Close()
			l2, rep, err := Recover(dir, Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Close()
			if !rep.LostCommitted() || rep.LostCommittedTo != tt.wantLost {
				t.Fatalf("recovery after the loss: %+v", rep)
			}
			// Copying the records back from a leader makes it whole again.
			for off := rep.LogEndOffset; off < 40; off += 5 {
				b := makeBatch("back", 5, 0)
				SetBaseOffset(b, off)
				SetLeaderEpoch(b, 1)
				if _, err := l2.AppendVerbatim(b); err != nil {
					t.Fatal(err)
				}
			}
			if st := l2.mustState(t); st.LostCommittedTo != 0 {
				t.Fatalf("after copying the records back: %+v", st)
			}
		})
	}
}

func remove(t *testing.T, dir, seg string) {
	if err := os.Remove(seg); err != nil {
		t.Fatal(err)
	}
}

// cutTo keeps the first n batches of the segment.
func cutTo(n int) func(t *testing.T, dir, seg string) {
	return func(t *testing.T, dir, seg string) {
		if err := os.Truncate(seg, int64(n*len(makeBatch("r", 5, 0)))); err != nil {
			t.Fatal(err)
		}
	}
}

func (l *Log) mustState(t *testing.T) State {
	t.Helper()
	st, err := l.State()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A leader whose recovery cut records below its high watermark is left a
// follower and reports the loss; one cut only above it stays leader.
func TestRecoverMarksLostCommittedRecords(t *testing.T) {
	for _, hw := range []int64{20, 35} {
		t.Run(fmt.Sprint("high watermark ", hw), func(t *testing.T) {
			l, dir := newLeader(t, Config{})
			if err := l.BecomeLeader(1, false); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 8; i++ {
				if _, err := l.Append(1, makeBatch("r", 5, int64(i))); err != nil {
					t.Fatal(err)
				}
			}
			l.SetHighWatermark(hw)
			l.Close()
			if err := os.Truncate(segmentPath(dir, 0, logSuffix), int64(6*len(makeBatch("r", 5, 0))-1)); err != nil {
				t.Fatal(err)
			}
			l2, rep, err := Recover(dir, Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Close()
			st := l2.mustState(t)
			if rep.LogEndOffset != 25 || st.LogEndOffset != 25 {
				t.Fatalf("recovered to %d", rep.LogEndOffset)
			}
			lost := hw > 25
			if rep.LostCommitted() != lost || st.Leader == lost || (lost && st.LostCommittedTo != hw) {
				t.Fatalf("high watermark %d, cut at 25: report %+v, state %+v", hw, rep, st)
			}
		})
	}
}
