package logdir

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// newLeader makes a fresh partition directory led at epoch 0 with the ISR
// being the leader alone.
func newLeader(t testing.TB, cfg Config) (*Log, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "orders-0")
	l, _, err := Recover(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.BecomeLeader(0, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, dir
}

// makeBatch encodes n records "prefix-i" with timestamps ts, ts+1, ...
func makeBatch(prefix string, n int, ts int64) []byte {
	var b BatchBuilder
	for i := 0; i < n; i++ {
		b.Add(ts+int64(i), []byte(fmt.Sprintf("k%d", i)), []byte(fmt.Sprintf("%s-%d", prefix, i)), nil)
	}
	return append([]byte(nil), b.Finish()...)
}

// readAll reads every committed record from offset on.
func readAll(t testing.TB, dir string, from int64) []Record {
	t.Helper()
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []Record
	var buf []byte
	var it RecordIter
	for {
		var st State
		buf, st, err = r.ReadCommitted(buf[:0], from, 64<<10)
		if err != nil {
			t.Fatal(err)
		}
		if len(buf) == 0 {
			if from != st.HighWatermark {
				t.Fatalf("read stopped at %d, high watermark %d", from, st.HighWatermark)
			}
			return out
		}
		for rest := buf; len(rest) > 0; {
			var b []byte
			if b, rest, err = NextBatch(rest); err != nil {
				t.Fatal(err)
			}
			if err := it.Reset(b); err != nil {
				t.Fatal(err)
			}
			var rec Record
			for it.Next(&rec) {
				if rec.Offset < from {
					continue
				}
				if rec.Offset >= st.HighWatermark {
					t.Fatalf("record %d above high watermark %d", rec.Offset, st.HighWatermark)
				}
				c := rec
				c.Key = append([]byte(nil), rec.Key...)
				c.Value = append([]byte(nil), rec.Value...)
				c.Headers = nil
				out = append(out, c)
				from = rec.Offset + 1
			}
			if err := it.Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func checkDense(t testing.TB, recs []Record, from int64) {
	t.Helper()
	for i, r := range recs {
		if r.Offset != from+int64(i) {
			t.Fatalf("record %d has offset %d, want %d", i, r.Offset, from+int64(i))
		}
	}
}

func TestAppendReadAcrossSegments(t *testing.T) {
	cfg := Config{SegmentBytes: 4000, IndexIntervalBytes: 300}
	l, dir := newLeader(t, cfg)
	const batches, per = 200, 7
	for i := 0; i < batches; i++ {
		res, err := l.Append(0, makeBatch(fmt.Sprintf("b%d", i), per, int64(1000+i*per)))
		if err != nil {
			t.Fatal(err)
		}
		if res.BaseOffset != int64(i*per) || res.LastOffset != int64(i*per+per-1) || res.HighWatermark != int64((i+1)*per) {
			t.Fatalf("append %d: %+v", i, res)
		}
	}
	segs, _ := listSegments(dir)
	if len(segs) < 5 {
		t.Fatalf("expected many segments with segment.bytes=4000, got %d", len(segs))
	}
	recs := readAll(t, dir, 0)
	if len(recs) != batches*per {
		t.Fatalf("read %d records, want %d", len(recs), batches*per)
	}
	checkDense(t, recs, 0)
	for i, r := range recs {
		want := fmt.Sprintf("b%d-%d", i/per, i%per)
		if string(r.Value) != want || r.Timestamp != int64(1000+i) {
			t.Fatalf("offset %d: %q ts %d, want %q ts %d", i, r.Value, r.Timestamp, want, 1000+i)
		}
	}
	// Every start offset, including ones in the middle of batches and on
	// segment boundaries, reads the right suffix through the index.
	for _, from := range []int64{1, 6, 7, 500, 699, 1399} {
		got := readAll(t, dir, from)
		if len(got) != batches*per-int(from) || got[0].Offset != from {
			t.Fatalf("from %d: %d records starting at %d", from, len(got), got[0].Offset)
		}
	}
	// Indexes are sane and time indexes monotonic in every segment.
	for _, base := range segs {
		if !indexesSane(dir, base) {
			t.Fatalf("segment %d: bad index", base)
		}
		tidx, _ := readWhole(segmentPath(dir, base, timeIndexSuffix), nil, timeIndexEntrySize)
		prev := int64(-1)
		for p := 0; p < len(tidx); p += timeIndexEntrySize {
			e := getTimeIndexEntry(tidx[p:])
			if e.Timestamp <= prev {
				t.Fatalf("segment %d: time index not increasing", base)
			}
			prev = e.Timestamp
		}
	}
}

func TestOffsetOutOfRange(t *testing.T) {
	l, dir := newLeader(t, Config{})
	if _, err := l.Append(0, makeBatch("a", 3, 1)); err != nil {
		t.Fatal(err)
	}
	r, _ := OpenReader(dir)
	defer r.Close()
	if _, _, err := r.ReadCommitted(nil, 4, 1024); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("offset past the end: %v", err)
	}
	if b, _, err := r.ReadCommitted(nil, 3, 1024); err != nil || len(b) != 0 {
		t.Fatalf("offset at the end: %d bytes, %v", len(b), err)
	}
}

func TestFencing(t *testing.T) {
	l, dir := newLeader(t, Config{})
	if _, err := l.Append(1, makeBatch("a", 1, 1)); !errors.Is(err, ErrFenced) {
		t.Fatalf("wrong epoch: %v", err)
	}
	// The controller fences this replica at epoch 1 (a new leader elsewhere).
	other, err := Open(dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.BecomeFollower(1); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(0, makeBatch("a", 1, 1)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("append to a fenced follower: %v", err)
	}
	if err := other.BecomeLeader(0, true); !errors.Is(err, ErrFenced) {
		t.Fatalf("leading at an older epoch: %v", err)
	}
	if err := other.BecomeLeader(2, true); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(0, makeBatch("a", 1, 1)); !errors.Is(err, ErrFenced) {
		t.Fatalf("old epoch after re-election: %v", err)
	}
	res, err := l.Append(2, makeBatch("a", 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	es, _ := ReadLeaderEpochs(dir)
	if len(es) == 0 || es[len(es)-1] != (EpochEntry{2, 0}) {
		t.Fatalf("leader-epoch-checkpoint: %+v", es)
	}
	r, _ := OpenReader(dir)
	defer r.Close()
	b, _, _ := r.ReadCommitted(nil, res.BaseOffset, 1024)
	if h, _ := ParseBatchHeader(b); h.PartitionLeaderEpoch != 2 {
		t.Fatalf("batch stamped with epoch %d", h.PartitionLeaderEpoch)
	}
}

func TestRecordTooLargeAndBadInput(t *testing.T) {
	l, dir := newLeader(t, Config{MaxMessageBytes: 200})
	big := makeBatch(string(bytes.Repeat([]byte("x"), 300)), 1, 1)
	if _, err := l.Append(0, big); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("big batch: %v", err)
	}
	bad := makeBatch("a", 1, 1)
	bad[len(bad)-1] ^= 0xff
	if _, err := l.AppendVerbatim(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt verbatim batch: %v", err)
	}
	if _, err := l.Append(0, []byte("garbage")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("garbage: %v", err)
	}
	if recs := readAll(t, dir, 0); len(recs) != 0 {
		t.Fatalf("rejected appends left %d records", len(recs))
	}
}

// A follower copies the leader's bytes verbatim: its segments end up byte
// for byte the same.
func TestAppendVerbatimCopiesBytes(t *testing.T) {
	cfg := Config{SegmentBytes: 3000}
	leader, ldir := newLeader(t, cfg)
	for i := 0; i < 50; i++ {
		if _, err := leader.Append(0, makeBatch("v", 5, int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	fdir := filepath.Join(t.TempDir(), "orders-0")
	follower, _, err := Recover(fdir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()
	r, _ := OpenReader(ldir)
	defer r.Close()
	var buf []byte
	for off := int64(0); ; {
		buf, _, err = r.Read(buf[:0], off, -1, 2000)
		if err != nil {
			t.Fatal(err)
		}
		if len(buf) == 0 {
			break
		}
		res, err := follower.AppendVerbatim(buf)
		if err != nil {
			t.Fatal(err)
		}
		off = res.LogEndOffset
	}
	if _, err := follower.AppendVerbatim(makeBatch("x", 1, 1)); !errors.Is(err, ErrOffsetMismatch) {
		t.Fatalf("batch at offset 0 after 250: %v", err)
	}
	ls, _ := listSegments(ldir)
	fs, _ := listSegments(fdir)
	if fmt.Sprint(ls) != fmt.Sprint(fs) {
		t.Fatalf("segments differ: leader %v follower %v", ls, fs)
	}
	for _, base := range ls {
		a, _ := os.ReadFile(segmentPath(ldir, base, logSuffix))
		b, _ := os.ReadFile(segmentPath(fdir, base, logSuffix))
		if !bytes.Equal(a, b) {
			t.Fatalf("segment %d differs", base)
		}
	}
}

// AppendVerbatimHW takes the leader's high watermark with the records in
// one commit, never past the new log end, and never moves it back.
func TestAppendVerbatimHW(t *testing.T) {
	cfg := Config{SegmentBytes: 1 << 20}
	leader, ldir := newLeader(t, cfg)
	for i := 0; i < 3; i++ {
		if _, err := leader.Append(0, makeBatch("v", 5, int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	follower, _, err := Recover(filepath.Join(t.TempDir(), "orders-0"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()
	r, _ := OpenReader(ldir)
	defer r.Close()
	// One batch (offsets 0-4) with a leader high watermark of 12: the
	// follower's stops at its own log end.
	buf, _, err := r.Read(nil, 0, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := follower.State()
	res, err := follower.AppendVerbatimHW(buf, 12)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := follower.State()
	if res.HighWatermark != 5 || st.HighWatermark != 5 || st.Seq != before.Seq+1 {
		t.Fatalf("high watermark %d (result %d), seq %d after %d: want 5 in one commit", st.HighWatermark, res.HighWatermark, st.Seq, before.Seq)
	}
	// The next batch with an older high watermark leaves it where it is.
	buf, _, err = r.Read(buf[:0], 5, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	if res, err = follower.AppendVerbatimHW(buf, 3); err != nil {
		t.Fatal(err)
	}
	if res.HighWatermark != 5 || res.LogEndOffset != 10 {
		t.Fatalf("after a high watermark of 3: %+v, want it kept at 5 with the log end at 10", res)
	}
}
