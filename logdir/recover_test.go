package logdir

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func appendN(t testing.TB, l *Log, n, per int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := l.Append(0, makeBatch("r", per, int64(i))); err != nil {
			t.Fatal(err)
		}
	}
}

// A writer that died mid-write leaves part of a batch after the committed
// end; the next appender cuts it and continues the log.
func TestAppendCutsTornTail(t *testing.T) {
	l, dir := newLeader(t, Config{})
	appendN(t, l, 3, 4)
	seg := segmentPath(dir, 0, logSuffix)
	torn := makeBatch("torn", 4, 9)
	SetBaseOffset(torn, 12)
	f, _ := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(torn[:len(torn)/2])
	f.Close()
	res, err := l.Append(0, makeBatch("after", 2, 10))
	if err != nil {
		t.Fatal(err)
	}
	if res.BaseOffset != 12 {
		t.Fatalf("append after a torn tail at offset %d, want 12", res.BaseOffset)
	}
	recs := readAll(t, dir, 0)
	checkDense(t, recs, 0)
	if len(recs) != 14 || string(recs[12].Value) != "after-0" {
		t.Fatalf("got %d records, [12]=%q", len(recs), recs[12].Value)
	}
}

// A writer that died after writing whole batches but before committing
// them: the batches are valid and continue the log, so they are kept.
func TestAppendAdoptsWholeUncommittedBatch(t *testing.T) {
	l, dir := newLeader(t, Config{})
	appendN(t, l, 2, 3)
	whole := makeBatch("orphan", 3, 5)
	SetBaseOffset(whole, 6)
	f, _ := os.OpenFile(segmentPath(dir, 0, logSuffix), os.O_WRONLY|os.O_APPEND, 0)
	f.Write(whole)
	f.Write([]byte{1, 2, 3}) // and a few torn bytes after it
	f.Close()
	res, err := l.Append(0, makeBatch("next", 1, 6))
	if err != nil {
		t.Fatal(err)
	}
	if res.BaseOffset != 9 {
		t.Fatalf("base offset %d, want 9", res.BaseOffset)
	}
	recs := readAll(t, dir, 0)
	if len(recs) != 10 || string(recs[6].Value) != "orphan-0" || string(recs[9].Value) != "next-0" {
		t.Fatalf("records: %d", len(recs))
	}
}

// Recovery keeps every valid batch before damage, cuts at the damage,
// removes later segments, and reports it.
func TestRecoverTruncatesAtCorruption(t *testing.T) {
	cfg := Config{SegmentBytes: 2000, IndexIntervalBytes: 100}
	l, dir := newLeader(t, cfg)
	appendN(t, l, 60, 5)
	l.Close()
	segs, _ := listSegments(dir)
	if len(segs) < 4 {
		t.Fatalf("want several segments, got %d", len(segs))
	}
	// Force a full scan: recovery point 0.
	writeCheckpoints(dir, Checkpoints{Leader: true, HighWatermarkFollowsLEO: true})
	victim := segs[1]
	path := segmentPath(dir, victim, logSuffix)
	size := fileSize(t, path)
	data, _ := os.ReadFile(path)
	// Damage a byte inside the third batch of the segment.
	p := int64(0)
	for i := 0; i < 2; i++ {
		h, _ := ParseBatchHeader(data[p:])
		p += int64(h.Size())
	}
	data[p+BatchHeaderSize+3] ^= 0x55
	os.WriteFile(path, data, 0o644)

	l2, rep, err := Recover(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if rep.TruncatedBytes != size-p || len(rep.DeletedSegments) != len(segs)-2 || rep.Damage == "" {
		t.Fatalf("report %+v (size %d, damage at %d)", rep, size, p)
	}
	recs := readAll(t, dir, 0)
	checkDense(t, recs, 0)
	// two whole batches of the damaged segment survive
	h, _ := ParseBatchHeader(data)
	if want := victim + 2*int64(h.RecordCount); int64(len(recs)) != want {
		t.Fatalf("%d records after recovery, want %d", len(recs), want)
	}
	// The cut records were committed (the leader's high watermark was at
	// its end): the replica is no longer leader, remembers what it lacks,
	// and may not lead again until the loss is accepted.
	if !rep.LostCommitted() || rep.LostCommittedTo != 300 || rep.LogEndOffset != int64(len(recs)) {
		t.Fatalf("report %+v: want committed records %d..299 reported lost", rep, len(recs))
	}
	st, _ := l2.State()
	if st.Leader || st.LostCommittedTo != 300 || st.HighWatermark != int64(len(recs)) {
		t.Fatalf("state after recovery: %+v", st)
	}
	if _, err := l2.Append(0, makeBatch("new", 1, 1)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("append after recovery: %v, want ErrNotLeader", err)
	}
	if err := l2.BecomeLeader(1, true); !errors.Is(err, ErrMissingRecords) {
		t.Fatalf("BecomeLeader after losing committed records: %v, want ErrMissingRecords", err)
	}
	// An unclean election accepts the loss: the log takes appends again,
	// after the last good batch.
	if err := l2.ClearLostCommitted(); err != nil {
		t.Fatal(err)
	}
	if err := l2.BecomeLeader(1, true); err != nil {
		t.Fatal(err)
	}
	res, err := l2.Append(1, makeBatch("new", 1, 1))
	if err != nil || res.BaseOffset != int64(len(recs)) {
		t.Fatalf("append after recovery: %+v %v", res, err)
	}
}

func TestRecoverRebuildsIndexesAndState(t *testing.T) {
	cfg := Config{SegmentBytes: 3000, IndexIntervalBytes: 200}
	l, dir := newLeader(t, cfg)
	appendN(t, l, 50, 5)
	l.Close()
	segs, _ := listSegments(dir)
	wantIdx, _ := os.ReadFile(segmentPath(dir, segs[0], indexSuffix))
	os.Remove(segmentPath(dir, segs[0], indexSuffix))
	os.WriteFile(segmentPath(dir, segs[1], timeIndexSuffix), []byte("junk"), 0o644)
	os.WriteFile(filepath.Join(dir, stateFileName), []byte("garbage"), 0o644)
	l2, rep, err := Recover(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if rep.Truncated() || rep.RebuiltIndexes < 2 {
		t.Fatalf("report %+v", rep)
	}
	got, _ := os.ReadFile(segmentPath(dir, segs[0], indexSuffix))
	if string(got) != string(wantIdx) {
		t.Fatalf("rebuilt index differs from the original")
	}
	st, _ := l2.State()
	if st.LogEndOffset != 250 || st.ActiveSegment != segs[len(segs)-1] {
		t.Fatalf("state after rebuild: %+v", st)
	}
	if recs := readAll(t, dir, 0); len(recs) != 250 {
		t.Fatalf("%d records", len(recs))
	}
}

// An appender that finds the state file damaged rebuilds it from the log.
func TestAppendRebuildsDamagedState(t *testing.T) {
	l, dir := newLeader(t, Config{})
	appendN(t, l, 4, 2)
	f, _ := os.OpenFile(filepath.Join(dir, stateFileName), os.O_WRONLY, 0)
	f.WriteAt([]byte("XX"), 40)
	f.Close()
	res, err := l.Append(0, makeBatch("x", 1, 1))
	if err != nil || res.BaseOffset != 8 {
		t.Fatalf("append over a damaged state: %+v %v", res, err)
	}
}

func TestRetentionBySizeAndTime(t *testing.T) {
	cfg := Config{SegmentBytes: 1000, RetentionBytes: 2500, RetentionMs: -1}
	l, dir := newLeader(t, cfg)
	appendN(t, l, 40, 5)
	before, _ := listSegments(dir)
	res, err := l.DeleteRetained(nowMs())
	if err != nil {
		t.Fatal(err)
	}
	after, _ := listSegments(dir)
	if len(res.Segments) == 0 || len(after) != len(before)-len(res.Segments) || res.LogStartOffset != after[0] {
		t.Fatalf("size retention: %+v, %d -> %d segments", res, len(before), len(after))
	}
	var total int64
	for _, b := range after {
		total += fileSize(t, segmentPath(dir, b, logSuffix))
	}
	if total > 2500+1000 {
		t.Fatalf("%d bytes left, retention.bytes 2500", total)
	}
	r, _ := OpenReader(dir)
	defer r.Close()
	if _, _, err := r.ReadCommitted(nil, 0, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the log start: %v", err)
	}
	if recs := readAll(t, dir, res.LogStartOffset); len(recs) != 200-int(res.LogStartOffset) {
		t.Fatalf("%d records from the new start", len(recs))
	}
	cp, _ := readCheckpoints(dir)
	if cp.LogStartOffset != res.LogStartOffset {
		t.Fatalf("checkpointed log start %d, want %d", cp.LogStartOffset, res.LogStartOffset)
	}

	// By time: records stamped at 0..40 ms since the epoch are all old.
	l.SetConfig(Config{SegmentBytes: 1000, RetentionMs: 1000, RetentionBytes: -1})
	res, err = l.DeleteRetained(nowMs())
	if err != nil {
		t.Fatal(err)
	}
	left, _ := listSegments(dir)
	st, _ := l.State()
	if len(left) != 1 || left[0] != st.ActiveSegment || st.LogStartOffset != st.ActiveSegment {
		t.Fatalf("time retention left %v, state %+v", left, st)
	}
}

// Retention never deletes what consumers cannot yet read.
func TestRetentionStopsAtHighWatermark(t *testing.T) {
	cfg := Config{SegmentBytes: 1000, RetentionMs: 1}
	dir := filepath.Join(t.TempDir(), "p-0")
	l, _, err := Recover(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.BecomeLeader(0, false) // followers in the ISR: the high watermark stays at 0
	appendN(t, l, 30, 5)
	res, err := l.DeleteRetained(nowMs())
	if err != nil || len(res.Segments) != 0 {
		t.Fatalf("deleted %v above the high watermark (%v)", res.Segments, err)
	}
	if _, err := l.SetHighWatermark(60); err != nil {
		t.Fatal(err)
	}
	res, _ = l.DeleteRetained(nowMs())
	if res.LogStartOffset > 60 || len(res.Segments) == 0 {
		t.Fatalf("after hw 60: %+v", res)
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	l, dir := newLeader(t, Config{SegmentBytes: 1500, IndexIntervalBytes: 100})
	for i := 0; i < 40; i++ {
		if _, err := l.Append(0, makeBatch("t", 5, int64(10000+i*10))); err != nil {
			t.Fatal(err)
		}
	}
	r, _ := OpenReader(dir)
	defer r.Close()
	for _, c := range []struct {
		ts    int64
		want  int64
		found bool
	}{{0, 0, true}, {10000, 0, true}, {10004, 4, true}, {10005, 5, true}, {10013, 8, true}, {10390, 195, true}, {10394, 199, true}, {10395, 200, false}} {
		got, found, err := r.OffsetForTimestamp(c.ts)
		if err != nil || got != c.want || found != c.found {
			t.Errorf("ts %d: %d %v %v, want %d %v", c.ts, got, found, err, c.want, c.found)
		}
	}
}

// A reader that catches a rewrite of the state half-way waits for it to
// end, even when the writer is descheduled mid-pwrite for a while (a
// loaded machine): the half-written image stays the same for
// milliseconds, and is not damage. Under the lock a bad image is damage
// at once (TestAppendRebuildsDamagedState).
func TestReaderWaitsForStalledStateWrite(t *testing.T) {
	l, dir := newLeader(t, Config{})
	appendN(t, l, 4, 2)
	good, err := os.ReadFile(filepath.Join(dir, stateFileName))
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, err := os.OpenFile(filepath.Join(dir, stateFileName), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The writer got as far as the first lines of a new image, then stalls.
	torn := bytes.Replace(good, []byte("log-end-offset 8\n"), []byte("log-end-offset 9\n"), 1)
	if bytes.Equal(torn, good) {
		t.Fatal("no log-end-offset 8 line in the state")
	}
	f.WriteAt(torn, 0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(50 * time.Millisecond) // the stall
		f.WriteAt(good, 0)
	}()
	st, err := r.State()
	<-done
	if err != nil || st.LogEndOffset != 8 {
		t.Fatalf("state read during a stalled rewrite: %+v, %v", st, err)
	}
}
