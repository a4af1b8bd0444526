package logdir

import (
	"bytes"
	"os"
	"syscall"
	"testing"
)

// blocksOf is the bytes of disk a file has reserved.
func blocksOf(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// hugeBatch is a batch of two records of 100 KiB each.
func hugeBatch(fill byte, ts int64) []byte {
	var b BatchBuilder
	v := bytes.Repeat([]byte{fill}, 100<<10)
	b.Add(ts, nil, v, nil)
	b.Add(ts+1, nil, v, nil)
	return append([]byte(nil), b.Finish()...)
}

// The active segment's blocks are reserved a step ahead of its end once it
// holds a step, invisibly to readers (the size is what was written); a
// roll gives the old segment's reservation back; the log reopens and reads
// the same after a close that left a reservation.
func TestPreallocation(t *testing.T) {
	probe, err := os.Create(t.TempDir() + "/probe")
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Fallocate(int(probe.Fd()), 1, 0, 4096); err != nil {
		t.Skipf("the file system of the test directory cannot preallocate: %v", err)
	}
	probe.Close()

	cfg := Config{SegmentBytes: 5 << 19} // a roll leaves most of a step reserved
	l, dir := newLeader(t, cfg)
	var want int
	appendBig := func(i int) {
		t.Helper()
		if _, err := l.Append(0, hugeBatch(byte('a'+i%26), int64(1000+2*i))); err != nil {
			t.Fatal(err)
		}
		want += 2
	}
	seg0 := segmentPath(dir, 0, logSuffix)
	i := 0
	for ; i < 4; i++ { // 800 KiB: under a step, nothing reserved ahead
		appendBig(i)
	}
	fi, _ := os.Stat(seg0)
	if b := blocksOf(t, seg0); b > fi.Size()+preallocStep/8 {
		t.Fatalf("a segment of %d bytes reserved %d bytes before it held a step", fi.Size(), b)
	}
	for ; i < 8; i++ { // past a step: reserved up to the next step
		appendBig(i)
	}
	fi, _ = os.Stat(seg0)
	st, _ := l.State()
	if fi.Size() != st.ActiveSize {
		t.Fatalf("segment size %d, committed %d: the reservation changed the size", fi.Size(), st.ActiveSize)
	}
	if b := blocksOf(t, seg0); b < (fi.Size()+preallocStep-1)/preallocStep*preallocStep {
		t.Fatalf("segment of %d bytes reserved only %d bytes", fi.Size(), b)
	}
	// Close with the reservation in place and reopen: recovery goes by
	// the size, not the blocks.
	l.Close()
	l2, _, err := Recover(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	l = l2
	t.Cleanup(func() { l.Close() })
	if err := l.BecomeLeader(1, true); err != nil {
		t.Fatal(err)
	}
	// A segment that rolls before anything is written into it again (its
	// segment.bytes lowered, as a segment.ms that passed while the broker
	// was down would) gives back the reservation of the previous life.
	l.SetConfig(Config{SegmentBytes: 1 << 20})
	if _, err := l.Append(1, hugeBatch(byte('a'+i%26), int64(1000+2*i))); err != nil {
		t.Fatal(err)
	}
	want += 2
	i++
	l.SetConfig(cfg)
	fi, _ = os.Stat(seg0)
	if b := blocksOf(t, seg0); b > fi.Size()+preallocStep/8 {
		t.Fatalf("segment 0, rolled after a restart, keeps %d bytes reserved for %d bytes", b, fi.Size())
	}
	for ; i < 20; i++ { // past segment.bytes: a roll
		if _, err := l.Append(1, hugeBatch(byte('a'+i%26), int64(1000+2*i))); err != nil {
			t.Fatal(err)
		}
		want += 2
	}
	segs, _ := listSegments(dir)
	if len(segs) < 2 {
		t.Fatalf("no roll with segment.bytes %d: segments %v", cfg.SegmentBytes, segs)
	}
	for _, base := range segs[:len(segs)-1] {
		p := segmentPath(dir, base, logSuffix)
		fi, _ := os.Stat(p)
		// (The blocks count the extent tree's own too: a few pages.)
		if b := blocksOf(t, p); b > fi.Size()+preallocStep/8 {
			t.Fatalf("rolled segment %d keeps %d bytes reserved for %d bytes", base, b, fi.Size())
		}
	}
	recs := readAll(t, dir, 0)
	if len(recs) != want {
		t.Fatalf("read %d records, want %d", len(recs), want)
	}
	checkDense(t, recs, 0)
	for j, r := range recs {
		if len(r.Value) != 100<<10 || r.Value[0] != byte('a'+(j/2)%26) {
			t.Fatalf("offset %d: %d bytes starting %q", j, len(r.Value), r.Value[:1])
		}
	}
}

// A file system that cannot preallocate is written as before, and asked
// once.
func TestPreallocationUnsupported(t *testing.T) {
	calls := 0
	falloc = func(int, uint32, int64, int64) error { calls++; return syscall.EOPNOTSUPP }
	t.Cleanup(func() { falloc = syscall.Fallocate })
	l, dir := newLeader(t, Config{SegmentBytes: 3 << 20})
	for i := 0; i < 12; i++ {
		if _, err := l.Append(0, hugeBatch('x', int64(1000+2*i))); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 1 {
		t.Fatalf("fallocate called %d times, want once", calls)
	}
	if recs := readAll(t, dir, 0); len(recs) != 24 {
		t.Fatalf("read %d records, want 24", len(recs))
	}
}
