package logdir

import (
	"fmt"
	"testing"
)

func TestTruncateTo(t *testing.T) {
	cfg := Config{SegmentBytes: 1200, IndexIntervalBytes: 100}
	l, dir := newLeader(t, cfg)
	appendN(t, l, 30, 5) // 150 records over several segments, epoch 0
	if err := l.BecomeLeader(1, true); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := l.Append(1, makeBatch("e1", 5, 100)); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := listSegments(dir)
	// Cut inside a batch in an early segment: the cut is at that batch's start.
	end, err := l.TruncateTo(52)
	if err != nil {
		t.Fatal(err)
	}
	if end != 50 {
		t.Fatalf("log end after truncating to 52: %d, want 50 (the batch holding 52 starts at 50)", end)
	}
	after, _ := listSegments(dir)
	if len(after) >= len(before) || after[len(after)-1] > 50 {
		t.Fatalf("segments %v -> %v", before, after)
	}
	st, _ := l.State()
	if st.LogEndOffset != 50 || st.HighWatermark != 50 || st.ActiveSegment != after[len(after)-1] {
		t.Fatalf("state after truncation: %+v", st)
	}
	es, _ := ReadLeaderEpochs(dir)
	if len(es) != 1 || es[0].Epoch != 0 {
		t.Fatalf("epochs after truncating below epoch 1's start: %+v", es)
	}
	recs := readAll(t, dir, 0)
	checkDense(t, recs, 0)
	if len(recs) != 50 {
		t.Fatalf("%d records after truncation", len(recs))
	}
	// The log goes on from the cut, and the indexes agree with it.
	res, err := l.Append(1, makeBatch("after", 3, 200))
	if err != nil || res.BaseOffset != 50 {
		t.Fatalf("append after truncation: %+v %v", res, err)
	}
	for _, base := range after {
		if !indexesSane(dir, base) {
			t.Fatalf("segment %d: bad index after truncation", base)
		}
	}
	// Truncating at or past the end does nothing.
	if end, err := l.TruncateTo(1000); err != nil || end != 53 {
		t.Fatalf("truncate past the end: %d %v", end, err)
	}
}

func TestEndOffsetForEpoch(t *testing.T) {
	epochs := []EpochEntry{{0, 0}, {2, 100}, {5, 250}}
	for _, c := range []struct {
		epoch     int32
		wantEpoch int32
		wantEnd   int64
	}{
		{0, 0, 100},  // epoch 0 ended where 2 began
		{1, 0, 100},  // epoch 1 never led here: the largest below it is 0
		{2, 2, 250},  // epoch 2 ended where 5 began
		{4, 2, 250},  //
		{5, 5, 300},  // the latest epoch ends at the log end
		{9, 5, 300},  //
		{-1, -1, -1}, // older than every epoch: unknown
	} {
		e, end := EndOffsetForEpoch(epochs, 300, c.epoch)
		if e != c.wantEpoch || end != c.wantEnd {
			t.Errorf("epoch %d: (%d, %d), want (%d, %d)", c.epoch, e, end, c.wantEpoch, c.wantEnd)
		}
	}
	if e, end := EndOffsetForEpoch(nil, 10, 3); e != -1 || end != -1 {
		t.Errorf("no epochs: (%d, %d)", e, end)
	}
}

func TestResetStartsOver(t *testing.T) {
	l, dir := newLeader(t, Config{SegmentBytes: 1000})
	appendN(t, l, 20, 5)
	if err := l.Reset(500); err != nil {
		t.Fatal(err)
	}
	st, _ := l.State()
	if st.LogStartOffset != 500 || st.LogEndOffset != 500 || st.HighWatermark != 500 {
		t.Fatalf("state after reset: %+v", st)
	}
	segs, _ := listSegments(dir)
	if fmt.Sprint(segs) != "[500]" {
		t.Fatalf("segments after reset: %v", segs)
	}
	if res, err := l.Append(0, makeBatch("x", 2, 1)); err != nil || res.BaseOffset != 500 {
		t.Fatalf("append after reset: %+v %v", res, err)
	}
}
