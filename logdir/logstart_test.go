package logdir

import (
	"errors"
	"os"
	"slices"
	"testing"
)

// AdvanceLogStart moves the start, deletes the segments wholly below it,
// forgets the epochs that ended before it, never goes back or past the
// high watermark, and fences a leader's call by epoch.
func TestAdvanceLogStart(t *testing.T) {
	l, dir := newLeader(t, Config{SegmentBytes: 300, IndexIntervalBytes: 64})
	for i := 0; i < 10; i++ {
		if _, err := l.Append(0, makeBatch("a", 3, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.BecomeLeader(2, true); err != nil { // epoch 2 starts at 30
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := l.Append(2, makeBatch("b", 3, 2000)); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := listSegments(dir)
	if len(before) < 4 {
		t.Fatalf("want several segments, got %v", before)
	}

	if _, err := l.AdvanceLogStart(61, 2); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("past the high watermark: %v", err)
	}
	if _, err := l.AdvanceLogStart(40, 1); !errors.Is(err, ErrFenced) {
		t.Fatalf("at an old epoch: %v", err)
	}
	st, err := l.AdvanceLogStart(40, 2)
	if err != nil || st.LogStartOffset != 40 {
		t.Fatalf("advance to 40: %+v %v", st, err)
	}
	after, _ := listSegments(dir)
	for _, b := range before {
		kept := slices.Contains(after, b)
		next := int64(1 << 62)
		if i := slices.Index(before, b); i+1 < len(before) {
			next = before[i+1]
		}
		if kept != (next > 40) {
			t.Fatalf("segment %d (next %d) kept=%v after moving the start to 40: %v -> %v", b, next, kept, before, after)
		}
		if !kept {
			if _, err := os.Stat(segmentPath(dir, b, indexSuffix)); !os.IsNotExist(err) {
				t.Fatalf("index of deleted segment %d: %v", b, err)
			}
		}
	}
	es, err := ReadLeaderEpochs(dir)
	if err != nil || !slices.Equal(es, []EpochEntry{{2, 40}}) {
		t.Fatalf("epochs after the start moved into epoch 2: %v %v", es, err)
	}
	recs := readAll(t, dir, 40)
	if len(recs) == 0 || recs[0].Offset > 40 {
		t.Fatalf("reading from the new start: %v", recs)
	}
	r, _ := OpenReader(dir)
	defer r.Close()
	if _, _, err := r.ReadCommitted(nil, 39, 1000); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the start: %v", err)
	}
	// Never back; a follower's call (-1) skips the fence.
	if st, err := l.AdvanceLogStart(10, -1); err != nil || st.LogStartOffset != 40 {
		t.Fatalf("moving back: %+v %v", st, err)
	}
	cp, err := readCheckpoints(dir)
	if err != nil || cp.LogStartOffset != 40 {
		t.Fatalf("checkpoints: %+v %v", cp, err)
	}
}

func TestTruncateEpochsFromStart(t *testing.T) {
	for _, c := range []struct {
		in    []EpochEntry
		start int64
		want  []EpochEntry
	}{
		{[]EpochEntry{{0, 0}, {2, 30}, {5, 50}}, 10, []EpochEntry{{0, 10}, {2, 30}, {5, 50}}},
		{[]EpochEntry{{0, 0}, {2, 30}, {5, 50}}, 30, []EpochEntry{{2, 30}, {5, 50}}},
		{[]EpochEntry{{0, 0}, {2, 30}, {5, 50}}, 49, []EpochEntry{{2, 49}, {5, 50}}},
		{[]EpochEntry{{0, 0}, {2, 30}, {5, 50}}, 70, []EpochEntry{{5, 70}}},
		{[]EpochEntry{{3, 20}}, 10, []EpochEntry{{3, 20}}},
	} {
		dir := t.TempDir()
		if err := writeLeaderEpochs(dir, c.in); err != nil {
			t.Fatal(err)
		}
		if err := truncateEpochsFromStart(dir, c.start); err != nil {
			t.Fatal(err)
		}
		got, _ := ReadLeaderEpochs(dir)
		if !slices.Equal(got, c.want) {
			t.Fatalf("%v from %d: %v, want %v", c.in, c.start, got, c.want)
		}
	}
}

// FindTimestamp and FindMaxTimestamp, across segments, bounded by the log
// start and the high watermark.
func TestFindTimestamp(t *testing.T) {
	l, dir := newLeader(t, Config{SegmentBytes: 300, IndexIntervalBytes: 64})
	// Batches of 3 records, timestamps 1000+10*i, 1001+10*i, 1002+10*i;
	// batch 4 holds the largest timestamp, 9000.
	for i := 0; i < 10; i++ {
		ts := int64(1000 + 10*i)
		if i == 4 {
			ts = 8998
		}
		if _, err := l.Append(0, makeBatch("a", 3, ts)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, c := range []struct {
		ts     int64
		offset int64
		found  bool
	}{{0, 0, true}, {1001, 1, true}, {1003, 3, true}, {1041, 12, true}, {1051, 12, true}, {9000, 14, true}, {9001, 0, false}} {
		got, ok, err := r.FindTimestamp(c.ts)
		if err != nil || ok != c.found || ok && got.Offset != c.offset {
			t.Fatalf("find %d: %+v %v %v, want offset %d found %v", c.ts, got, ok, err, c.offset, c.found)
		}
		if ok && got.Timestamp < c.ts {
			t.Fatalf("find %d: timestamp %d", c.ts, got.Timestamp)
		}
	}
	got, ok, err := r.FindMaxTimestamp()
	if err != nil || !ok || got.Offset != 14 || got.Timestamp != 9000 || got.LeaderEpoch != 0 {
		t.Fatalf("max timestamp: %+v %v %v", got, ok, err)
	}
	// Below the log start nothing is found.
	if _, err := l.AdvanceLogStart(20, 0); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := r.FindTimestamp(0); err != nil || !ok || got.Offset != 20 {
		t.Fatalf("find 0 after the start moved to 20: %+v %v %v", got, ok, err)
	}
	// The newest record is below the start now: the newest of the rest.
	if got, ok, err := r.FindMaxTimestamp(); err != nil || !ok || got.Offset != 29 || got.Timestamp != 1092 {
		t.Fatalf("max timestamp after the start moved past it: %+v %v %v", got, ok, err)
	}
}
