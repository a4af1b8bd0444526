package logdir

// Recovery against damaged files. A valid multi-segment log is built once;
// each case copies it, damages it (segments truncated or overwritten,
// indexes deleted or garbled, the state and checkpoint files damaged),
// and runs Recover. Recover must not panic nor fail on mere damage, must
// keep every batch that lies wholly before the first damaged byte of the
// log (in offset order), and must leave a log that reads back from its
// start and from the middle of every segment without an error, holding
// exactly the original records at their original offsets, and that takes
// appends again.
//
// Log damage is done at or after the recovery point: bytes below it were
// fsynced, and recovery (as Kafka's) trusts them and checks only their
// indexes, which the cases garble anywhere. Run the fuzzer on tmpfs, where
// Recover's fsyncs cost nothing:
//
//	TMPDIR=/dev/shm go test ./logdir -run '^$' -fuzz FuzzRecover -fuzztime 60s

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// recoverTemplate is the undamaged log the cases start from.
type recoverTemplate struct {
	cfg         Config
	files       map[string][]byte // every file of the partition directory
	checkpoints [][]byte          // checkpoints file with the recovery point at bases[k] (k = len(bases): the log end)
	bases       []int64
	segBatches  [][]tmplBatch // per segment, its batches
	records     map[int64]Record
	leo         int64
}

type tmplBatch struct {
	pos, size  int
	base, last int64
}

var (
	recoverTmplOnce sync.Once
	recoverTmpl     *recoverTemplate
	recoverTmplErr  error
)

func getRecoverTemplate(t testing.TB) *recoverTemplate {
	recoverTmplOnce.Do(func() { recoverTmpl, recoverTmplErr = buildRecoverTemplate() })
	if recoverTmplErr != nil {
		t.Fatal(recoverTmplErr)
	}
	return recoverTmpl
}

func buildRecoverTemplate() (*recoverTemplate, error) {
	tmp, err := os.MkdirTemp("", "mk-recover-template-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "t-0")
	cfg := Config{SegmentBytes: 3000, IndexIntervalBytes: 300}
	l, _, err := Recover(dir, cfg)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	if err := l.BecomeLeader(0, true); err != nil {
		return nil, err
	}
	var bb BatchBuilder
	for j := range 36 {
		fillChildBatch(&bb, 3, j)
		if _, err := l.Append(0, bb.Finish()); err != nil {
			return nil, err
		}
	}
	tp := &recoverTemplate{cfg: cfg, files: map[string][]byte{}, records: map[int64]Record{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if tp.files[e.Name()], err = os.ReadFile(filepath.Join(dir, e.Name())); err != nil {
			return nil, err
		}
	}
	if tp.bases, err = listSegments(dir); err != nil {
		return nil, err
	}
	var it RecordIter
	var rec Record
	for _, base := range tp.bases {
		data := tp.files[segmentName(base)+logSuffix]
		var bs []tmplBatch
		for p := 0; p < len(data); {
			b, _, err := NextBatch(data[p:])
			if err != nil {
				return nil, err
			}
			h, _ := ParseBatchHeader(b)
			bs = append(bs, tmplBatch{p, len(b), h.BaseOffset, h.LastOffset()})
			it.Reset(b)
			for it.Next(&rec) {
				tp.records[rec.Offset] = Record{Offset: rec.Offset, Timestamp: rec.Timestamp, Key: bytes.Clone(rec.Key), Value: bytes.Clone(rec.Value)}
			}
			tp.leo = h.LastOffset() + 1
			p += len(b)
		}
		tp.segBatches = append(tp.segBatches, bs)
	}
	for k := 0; k <= len(tp.bases); k++ {
		rp := tp.leo
		if k < len(tp.bases) {
			rp = tp.bases[k]
		}
		cp := Checkpoints{RecoveryPoint: rp, HighWatermark: tp.leo, Leader: true, HighWatermarkFollowsLEO: true}
		if err := writeCheckpoints(dir, cp); err != nil {
			return nil, err
		}
		b, err := os.ReadFile(filepath.Join(dir, checkpointName))
		if err != nil {
			return nil, err
		}
		tp.checkpoints = append(tp.checkpoints, b)
	}
	if len(tp.bases) < 6 {
		return nil, errors.New("the template log has too few segments")
	}
	return tp, nil
}

// Damage operations. An operation is 6 bytes, [kind seg posHi posLo n
// fill], followed by n bytes of data for the kinds that write data. seg
// picks a segment; for log damage it is taken among the segments at or
// after the recovery point. The position is posHi<<8|posLo within the
// file, or, when posHi has its top bit set, (posHi & 0x7f) bytes into the
// batch numbered posLo of the segment (to aim at a header field).
const (
	dmgTruncLog   = iota // cut the .log at pos
	dmgGarbageLog        // overwrite the .log at pos with the data
	dmgZeroLog           // overwrite n bytes of the .log at pos with zeros
	dmgFlipLog           // flip bit fill%8 of the byte at pos
	dmgStrayLog          // append the data to the .log
	dmgDeleteLog         // delete the .log
	dmgDeleteIndex
	dmgDeleteTimeIndex
	dmgIndex     // fill%3: overwrite at pos with the data, cut at pos, append the data
	dmgTimeIndex // same for the .timeindex
	dmgState     // fill%3: delete, cut at pos, overwrite at pos with the data
	dmgCheckpoint
	dmgKinds
)

func dmgOp(kind, seg int, pos uint16, n, fill byte, data ...byte) []byte {
	op := []byte{byte(kind), byte(seg), byte(pos >> 8), byte(pos), n, fill}
	return append(op, data...)
}

// atBatch addresses delta bytes into batch number i of a segment.
func atBatch(i int, delta byte) uint16 { return 0x8000 | uint16(delta&0x7f)<<8 | uint16(i&0xff) }

// damage is where the first damaged byte of the log is: segment index and
// position. No damage is (number of segments, 0).
type damage struct{ seg, pos int }

func (d damage) before(seg, end int) bool { return seg < d.seg || seg == d.seg && end <= d.pos }

// applyDamage writes the template into dir and damages it by ops.
func (tp *recoverTemplate) applyDamage(t testing.TB, dir string, k int, ops []byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range tp.files {
		if name == checkpointName {
			data = tp.checkpoints[k]
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	firstLogSeg := min(k, len(tp.bases)-1) // the segment holding the recovery point
	for n := 0; len(ops) >= 6 && n < 8; n++ {
		kind, segSel, posHi, posLo, cnt, fill := int(ops[0])%dmgKinds, int(ops[1]), ops[2], ops[3], int(ops[4]), ops[5]
		ops = ops[6:]
		var data []byte
		switch kind {
		case dmgGarbageLog, dmgStrayLog, dmgIndex, dmgTimeIndex, dmgState, dmgCheckpoint:
			m := min(cnt, len(ops))
			data, ops = ops[:m], ops[m:]
		}
		si := segSel % len(tp.bases)
		switch kind {
		case dmgTruncLog, dmgGarbageLog, dmgZeroLog, dmgFlipLog, dmgStrayLog, dmgDeleteLog:
			si = firstLogSeg + segSel%(len(tp.bases)-firstLogSeg)
		}
		base := tp.bases[si]
		var path string
		switch kind {
		case dmgIndex, dmgDeleteIndex:
			path = segmentPath(dir, base, indexSuffix)
		case dmgTimeIndex, dmgDeleteTimeIndex:
			path = segmentPath(dir, base, timeIndexSuffix)
		case dmgState:
			path = filepath.Join(dir, stateFileName)
		case dmgCheckpoint:
			path = filepath.Join(dir, checkpointName)
			if fill&4 != 0 {
				path = filepath.Join(dir, epochFileName)
			}
		default:
			path = segmentPath(dir, base, logSuffix)
		}
		cur, _ := os.ReadFile(path)
		pos := int(posHi)<<8 | int(posLo)
		if posHi&0x80 != 0 && kind <= dmgDeleteLog {
			bs := tp.segBatches[si]
			b := bs[int(posLo)%len(bs)]
			pos = b.pos + int(posHi&0x7f)
		}
		at := func(size int) int { return pos % (size + 1) } // a position in (or at the end of) a file
		switch kind {
		case dmgTruncLog:
			cur = cur[:at(len(cur))]
		case dmgGarbageLog:
			cur = overwrite(cur, at(len(cur)), data)
		case dmgZeroLog:
			cur = overwrite(cur, at(len(cur)), make([]byte, cnt+1))
		case dmgFlipLog:
			if len(cur) > 0 {
				cur[pos%len(cur)] ^= 1 << (fill % 8)
			}
		case dmgStrayLog:
			cur = append(cur, data...)
		case dmgDeleteLog, dmgDeleteIndex, dmgDeleteTimeIndex:
			os.Remove(path)
			continue
		case dmgIndex, dmgTimeIndex, dmgCheckpoint:
			switch fill % 3 {
			case 0:
				cur = overwrite(cur, at(len(cur)), data)
			case 1:
				cur = cur[:at(len(cur))]
			case 2:
				cur = append(cur, data...)
			}
		case dmgState:
			switch fill % 3 {
			case 0:
				os.Remove(path)
				continue
			case 1:
				cur = cur[:at(len(cur))]
			case 2:
				cur = overwrite(cur, at(len(cur)), data)
			}
		}
		if err := os.WriteFile(path, cur, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// overwrite writes data at pos, growing b if data runs past its end.
func overwrite(b []byte, pos int, data []byte) []byte {
	if end := pos + len(data); end > len(b) {
		b = append(b, make([]byte, end-len(b))...)
	}
	copy(b[pos:], data)
	return b
}

// firstDamage compares the damaged segments with the template.
func (tp *recoverTemplate) firstDamage(dir string) damage {
	for si, base := range tp.bases {
		orig := tp.files[segmentName(base)+logSuffix]
		cur, err := os.ReadFile(segmentPath(dir, base, logSuffix))
		if err != nil {
			return damage{si, 0}
		}
		n := min(len(orig), len(cur))
		for p := 0; p < n; p++ {
			if orig[p] != cur[p] {
				return damage{si, p}
			}
		}
		if len(cur) != len(orig) {
			return damage{si, n}
		}
	}
	return damage{len(tp.bases), 0}
}

// checkRecoverDamage runs one case: the recovery point at segment k (the
// log end if k is the number of segments), then the damage ops.
func checkRecoverDamage(t *testing.T, k int, ops []byte) {
	tp := getRecoverTemplate(t)
	k %= len(tp.bases) + 1
	dir := filepath.Join(t.TempDir(), "t-0")
	tp.applyDamage(t, dir, k, ops)
	dmg := tp.firstDamage(dir)

	l, rep, err := Recover(dir, tp.cfg)
	if err != nil {
		t.Fatalf("recover after damage at segment %d position %d: %v", dmg.seg, dmg.pos, err)
	}
	defer l.Close()

	// Everything in the log reads back, CRC-checked, dense, as written.
	got, st := readBatches(t, dir, 0)
	if st.LogEndOffset > tp.leo || st.LogStartOffset > st.LogEndOffset || st.HighWatermark > st.LogEndOffset {
		t.Fatalf("state after recovery: %+v (the log ended at %d)", st, tp.leo)
	}
	next := st.LogStartOffset
	for _, b := range got {
		for _, r := range b.recs {
			want, ok := tp.records[r.Offset]
			if r.Offset != next || !ok || !bytes.Equal(r.Key, want.Key) || !bytes.Equal(r.Value, want.Value) || r.Timestamp != want.Timestamp {
				t.Fatalf("offset %d (expected %d) reads %q=%.30q, was %q=%.30q", r.Offset, next, r.Key, r.Value, want.Key, want.Value)
			}
			next++
		}
	}
	if next != st.LogEndOffset || rep.LogEndOffset != st.LogEndOffset {
		t.Fatalf("read to %d, log end %d, report %+v", next, st.LogEndOffset, rep)
	}
	// Every batch wholly before the first damage is kept.
	for si, bs := range tp.segBatches {
		for _, b := range bs {
			if dmg.before(si, b.pos+b.size) && (b.base < st.LogStartOffset || b.last >= st.LogEndOffset) {
				t.Fatalf("batch %d-%d (segment %d, bytes %d-%d) is before the first damage (segment %d byte %d) but was lost: log now %d-%d, report %+v",
					b.base, b.last, si, b.pos, b.pos+b.size, dmg.seg, dmg.pos, st.LogStartOffset, st.LogEndOffset, rep)
			}
		}
	}
	if dmg.seg == len(tp.bases) && rep.Truncated() {
		t.Fatalf("recovery cut an undamaged log: %+v", rep)
	}

	// Lookups through the offset index land right in every segment.
	bases, _ := listSegments(dir)
	for i, base := range bases {
		end := st.LogEndOffset
		if i+1 < len(bases) {
			end = bases[i+1]
		}
		if end <= base {
			continue
		}
		mid := base + (end-base)*2/3
		r, err := OpenReader(dir)
		if err != nil {
			t.Fatal(err)
		}
		buf, _, err := r.Read(nil, mid, -1, 1)
		r.Close()
		if err != nil {
			t.Fatalf("read from offset %d (segment %s): %v", mid, segmentName(base), err)
		}
		if st.HighWatermark > mid {
			h, err := ParseBatchHeader(buf)
			if err != nil || h.BaseOffset > mid || h.LastOffset() < mid {
				t.Fatalf("read from offset %d returned the batch %d-%d (%v)", mid, h.BaseOffset, h.LastOffset(), err)
			}
		}
	}
	// The segments recovery scanned (from the one holding the recovery
	// point on, or all when the checkpoints were lost) have exact indexes.
	strictFrom := tp.bases[min(k, len(tp.bases)-1)]
	checkSegmentsFrom(t, dir, tp.cfg, strictFrom)

	// And the log takes appends again, right after what it kept.
	var bb BatchBuilder
	fillChildBatch(&bb, 4, 0)
	batch := bytes.Clone(bb.Finish())
	SetBaseOffset(batch, st.LogEndOffset)
	res, err := l.AppendVerbatim(batch)
	if err != nil || res.BaseOffset != st.LogEndOffset {
		t.Fatalf("append after recovery: %+v %v", res, err)
	}
	if after, _ := readBatches(t, dir, st.LogEndOffset); len(after) != 1 || after[0].h.BaseOffset != st.LogEndOffset {
		t.Fatalf("appended batch reads back as %d batches", len(after))
	}
}

// recoverDamageCases are fixed cases of the fuzz target, for CI (and its
// seed corpus). k is the segment holding the recovery point.
var recoverDamageCases = []struct {
	name string
	k    int
	ops  []byte
}{
	{"undamaged", 0, nil},
	{"undamaged, recovery point at the end", 99, nil},
	{"last segment torn mid-batch", 0, dmgOp(dmgTruncLog, 99, atBatch(1, 30), 0, 0)},
	{"middle segment cut at a batch boundary", 0, dmgOp(dmgTruncLog, 2, atBatch(2, 0), 0, 0)},
	{"middle segment cut in a header", 2, dmgOp(dmgTruncLog, 1, atBatch(1, 20), 0, 0)},
	{"garbage inside a record", 0, dmgOp(dmgGarbageLog, 1, atBatch(1, 100), 4, 0, 1, 2, 3, 4)},
	{"zeros over a batch header", 3, dmgOp(dmgZeroLog, 0, atBatch(0, 0), 60, 0)},
	{"flipped bit in a crc", 0, dmgOp(dmgFlipLog, 3, atBatch(2, 18), 0, 5)},
	{"flipped bit in a base offset", 0, dmgOp(dmgFlipLog, 2, atBatch(1, 7), 0, 0)},
	{"flipped bit in a batch length", 0, dmgOp(dmgFlipLog, 2, atBatch(1, 11), 0, 1)},
	{"flipped bit in a leader epoch (outside the crc)", 0, dmgOp(dmgFlipLog, 2, atBatch(1, 15), 0, 2)},
	{"flipped bit in the magic", 0, dmgOp(dmgFlipLog, 2, atBatch(0, 16), 0, 0)},
	{"stray bytes after the last segment", 0, dmgOp(dmgStrayLog, 99, 0, 5, 0, 0, 0, 0, 9, 9)},
	{"stray bytes after a closed segment", 0, dmgOp(dmgStrayLog, 1, 0, 3, 0, 7, 7, 7)},
	{"a whole batch of zeros after a segment", 0, dmgOp(dmgZeroLog, 1, 0xffff, 120, 0)},
	{"middle segment deleted", 0, dmgOp(dmgDeleteLog, 3, 0, 0, 0)},
	{"first segment deleted", 0, dmgOp(dmgDeleteLog, 0, 0, 0, 0)},
	{"indexes deleted below the recovery point", 4, append(dmgOp(dmgDeleteIndex, 1, 0, 0, 0), dmgOp(dmgDeleteTimeIndex, 2, 0, 0, 0)...)},
	{"index entry pointing inside a batch, below the recovery point", 5, dmgOp(dmgIndex, 1, 7, 1, 0, 0x11)},
	{"index entry pointing at another batch, below the recovery point", 5, dmgOp(dmgIndex, 2, 6, 2, 0, 0, 0)},
	{"index entry garbled below the recovery point (found by FuzzRecover)", 41, []byte("8801000")},
	{"index cut mid-entry below the recovery point", 5, dmgOp(dmgIndex, 0, 5, 0, 1)},
	{"junk appended to an index", 5, dmgOp(dmgIndex, 2, 0, 8, 2, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1)},
	{"time index garbled below the recovery point", 5, dmgOp(dmgTimeIndex, 1, 3, 4, 0, 0xff, 0xff, 0xff, 0xff)},
	{"index and time index garbled after the recovery point", 0, append(dmgOp(dmgIndex, 3, 4, 4, 0, 9, 9, 9, 9), dmgOp(dmgTimeIndex, 99, 0, 4, 0, 1, 1, 1, 1)...)},
	{"state deleted", 3, dmgOp(dmgState, 0, 0, 0, 0)},
	{"state cut", 3, dmgOp(dmgState, 0, 100, 0, 1)},
	{"state overwritten", 3, dmgOp(dmgState, 0, 60, 3, 2, 'x', 'y', 'z')},
	{"checkpoints garbled", 3, dmgOp(dmgCheckpoint, 0, 2, 5, 0, 'j', 'u', 'n', 'k', '\n')},
	{"checkpoints cut", 3, dmgOp(dmgCheckpoint, 0, 9, 0, 1)},
	{"leader-epoch-checkpoint garbled", 3, dmgOp(dmgCheckpoint, 0, 0, 2, 4, 'x', '\n')},
	{"state and checkpoints damaged, log torn", 2, append(append(dmgOp(dmgState, 0, 0, 0, 0), dmgOp(dmgCheckpoint, 0, 0, 3, 0, 'z', 'z', 'z')...), dmgOp(dmgTruncLog, 3, atBatch(1, 40), 0, 0)...)},
	{"everything at once", 1, append(append(append(dmgOp(dmgGarbageLog, 4, atBatch(0, 70), 3, 0, 1, 2, 3), dmgOp(dmgDeleteIndex, 0, 0, 0, 0)...), dmgOp(dmgState, 0, 200, 0, 1)...), dmgOp(dmgStrayLog, 99, 0, 2, 0, 1, 1)...)},
}

func TestRecoverDamage(t *testing.T) {
	for _, c := range recoverDamageCases {
		t.Run(c.name, func(t *testing.T) { checkRecoverDamage(t, c.k, c.ops) })
	}
}

func FuzzRecover(f *testing.F) {
	for _, c := range recoverDamageCases {
		f.Add(uint8(c.k), c.ops)
	}
	f.Fuzz(func(t *testing.T, k uint8, ops []byte) {
		checkRecoverDamage(t, int(k), ops)
	})
}
