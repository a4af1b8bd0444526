package logdir

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

// The producer state machine through the Log, with the cases of Kafka's
// ProducerStateManagerTest (and UnifiedLogTest's idempotence cases) that
// apply to a broker without transactions.

// idemBatch encodes n records of producer pid at epoch, sequence seq on.
func idemBatch(pid int64, epoch int16, seq int32, n int, ts int64) []byte {
	var b BatchBuilder
	for i := 0; i < n; i++ {
		b.Add(ts+int64(i), nil, []byte(fmt.Sprintf("p%d-e%d-s%d", pid, epoch, int64(seq)+int64(i))), nil)
	}
	return append([]byte(nil), b.FinishIdempotent(pid, epoch, seq)...)
}

func nowTs() int64 { return time.Now().UnixMilli() }

// appendIdem appends one idempotent batch as a client does and returns the
// result.
func appendIdem(t testing.TB, l *Log, pid int64, epoch int16, seq int32, n int) (AppendResult, error) {
	t.Helper()
	return l.Append(0, idemBatch(pid, epoch, seq, n, nowTs()))
}

func mustAppendIdem(t testing.TB, l *Log, pid int64, epoch int16, seq int32, n int) AppendResult {
	t.Helper()
	res, err := appendIdem(t, l, pid, epoch, seq, n)
	if err != nil {
		t.Fatalf("append producer %d epoch %d seq %d: %v", pid, epoch, seq, err)
	}
	if res.Duplicate {
		t.Fatalf("append producer %d epoch %d seq %d: taken for a duplicate of %d..%d", pid, epoch, seq, res.BaseOffset, res.LastOffset)
	}
	return res
}

func logEnd(t testing.TB, l *Log) int64 {
	t.Helper()
	st, err := l.State()
	if err != nil {
		t.Fatal(err)
	}
	return st.LogEndOffset
}

func TestProducerBasicIDMapping(t *testing.T) {
	l, _ := newLeader(t, Config{})
	mustAppendIdem(t, l, 1, 0, 0, 1)
	second := mustAppendIdem(t, l, 1, 0, 1, 1)
	// The same batch again is a duplicate, answered with its offsets.
	res, err := appendIdem(t, l, 1, 0, 1, 1)
	if err != nil || !res.Duplicate || res.BaseOffset != second.BaseOffset || res.LastOffset != second.LastOffset {
		t.Fatalf("retry of seq 1: %+v, %v; want a duplicate at %d", res, err, second.BaseOffset)
	}
	// A gap: sequence 5 after 1.
	if _, err := appendIdem(t, l, 1, 0, 5, 1); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("seq 5 after 1: %v, want ErrOutOfOrderSequence", err)
	}
	// A new epoch starts at 0.
	mustAppendIdem(t, l, 1, 1, 0, 1)
	// The old epoch is fenced.
	if _, err := appendIdem(t, l, 1, 0, 2, 1); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("old epoch: %v, want ErrInvalidProducerEpoch", err)
	}
	if end := logEnd(t, l); end != 3 {
		t.Fatalf("log end %d after 3 appended batches, a duplicate and two refusals", end)
	}
}

func TestProducerDuplicatesOfTheLastFiveBatches(t *testing.T) {
	l, dir := newLeader(t, Config{})
	var orig []AppendResult
	seq := int32(0)
	for i := 0; i < 7; i++ {
		orig = append(orig, mustAppendIdem(t, l, 7, 0, seq, i+1))
		seq += int32(i + 1)
	}
	end := logEnd(t, l)
	// The last five batches (2..6) are duplicates, whatever the order of
	// the retries, and answered with their original offsets.
	for _, i := range []int{4, 2, 6, 3, 5} {
		first := int32(i * (i + 1) / 2)
		res, err := appendIdem(t, l, 7, 0, first, i+1)
		if err != nil || !res.Duplicate || res.BaseOffset != orig[i].BaseOffset || res.LastOffset != orig[i].LastOffset {
			t.Fatalf("retry of batch %d: %+v, %v; want a duplicate of %+v", i, res, err, orig[i])
		}
	}
	// The sixth from the end is forgotten: its retry is out of order
	// (Kafka keeps five), and nothing is appended.
	if _, err := appendIdem(t, l, 7, 0, 1, 2); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("retry of batch 1: %v, want ErrOutOfOrderSequence", err)
	}
	// A batch overlapping a kept one without the same range is no
	// duplicate either.
	if _, err := appendIdem(t, l, 7, 0, 15, 3); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("overlapping range: %v, want ErrOutOfOrderSequence", err)
	}
	if got := logEnd(t, l); got != end {
		t.Fatalf("log end moved from %d to %d on retries", end, got)
	}
	if recs := readAll(t, dir, 0); int64(len(recs)) != end {
		t.Fatalf("%d records in the log, want %d", len(recs), end)
	}
	// The same sequence under another producer id is not a duplicate.
	mustAppendIdem(t, l, 8, 0, 21, 7)
}

func TestProducerDuplicateAnswersTheOriginalTimestamp(t *testing.T) {
	l, _ := newLeader(t, Config{})
	b := idemBatch(3, 0, 0, 2, 1_700_000_000_000)
	if _, err := l.Append(0, b); err != nil {
		t.Fatal(err)
	}
	res, err := l.Append(0, idemBatch(3, 0, 0, 2, 1_700_000_000_000))
	if err != nil || !res.Duplicate || res.Timestamp != 1_700_000_000_001 {
		t.Fatalf("duplicate: %+v, %v; want the original max timestamp", res, err)
	}
}

func TestProducerSequenceWrapAround(t *testing.T) {
	l, _ := newLeader(t, Config{})
	// Kafka's testProducerSequenceWithWrapAroundBatchRecord: a batch
	// whose sequences pass the largest int32 ends at 9.
	mustAppendIdem(t, l, 1, 15, math.MaxInt32-10, 21)
	e := l.ProducerStates()[1]
	if b := e.Batches[0]; b.FirstSequence() != math.MaxInt32-10 || b.LastSequence != 9 || b.FirstOffset() != 0 || b.LastOffset != 20 {
		t.Fatalf("wrapped batch: first seq %d last seq %d offsets %d..%d", b.FirstSequence(), b.LastSequence, b.FirstOffset(), b.LastOffset)
	}
	mustAppendIdem(t, l, 1, 15, 10, 1)

	// testProducerSequenceWrapAround: after MaxInt32 comes 0, not 1.
	mustAppendIdem(t, l, 2, 15, math.MaxInt32, 1)
	if _, err := appendIdem(t, l, 2, 15, 1, 1); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("seq 1 after MaxInt32: %v, want ErrOutOfOrderSequence", err)
	}
	mustAppendIdem(t, l, 2, 15, 0, 1)
}

func TestProducerUnknownIDIsAcceptedAtAnySequence(t *testing.T) {
	// Since KIP-360 (Kafka 2.5) a producer the partition has no state for
	// (its records removed, or expired) is accepted at any sequence:
	// UNKNOWN_PRODUCER_ID is not an answer to produce.
	l, _ := newLeader(t, Config{})
	mustAppendIdem(t, l, 9, 3, 42, 2)
	mustAppendIdem(t, l, 9, 3, 44, 1)
}

func TestProducerNewEpochMustStartAtZero(t *testing.T) {
	// testRejectNonZeroSequenceForDirectEpochBump.
	l, _ := newLeader(t, Config{})
	for s := int32(0); s < 3; s++ {
		mustAppendIdem(t, l, 1, 0, s, 1)
	}
	if _, err := appendIdem(t, l, 1, 1, 5, 1); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("epoch bump at seq 5: %v, want ErrOutOfOrderSequence", err)
	}
	mustAppendIdem(t, l, 1, 1, 0, 1)
	// The new epoch's batches replace the old ones: a retry of the old
	// epoch's last batch is fenced, not a duplicate.
	if _, err := appendIdem(t, l, 1, 0, 2, 1); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("retry at the old epoch: %v, want ErrInvalidProducerEpoch", err)
	}
}

func TestProducerBatchesOfOneAppendAreCheckedInOrder(t *testing.T) {
	l, _ := newLeader(t, Config{})
	two := append(idemBatch(4, 0, 0, 2, nowTs()), idemBatch(4, 0, 2, 3, nowTs())...)
	res, err := l.Append(0, two)
	if err != nil || res.BaseOffset != 0 || res.LastOffset != 4 {
		t.Fatalf("two batches: %+v, %v", res, err)
	}
	// A gap between the batches of one append refuses the whole append.
	gap := append(idemBatch(4, 0, 5, 1, nowTs()), idemBatch(4, 0, 7, 1, nowTs())...)
	if _, err := l.Append(0, gap); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap inside an append: %v, want ErrOutOfOrderSequence", err)
	}
	// A duplicate anywhere in an append is the answer to the whole append,
	// as in Kafka, and nothing of it is written.
	dup := append(idemBatch(4, 0, 5, 1, nowTs()), idemBatch(4, 0, 2, 3, nowTs())...)
	res, err = l.Append(0, dup)
	if err != nil || !res.Duplicate || res.BaseOffset != 2 || res.LastOffset != 4 {
		t.Fatalf("append holding a duplicate: %+v, %v", res, err)
	}
	if end := logEnd(t, l); end != 5 {
		t.Fatalf("log end %d, want 5", end)
	}
}

func TestProducerTransactionalBatchIsRefused(t *testing.T) {
	l, _ := newLeader(t, Config{})
	b := idemBatch(1, 0, 0, 1, nowTs())
	binary.BigEndian.PutUint16(b[offAttributes:], attrTransactional)
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], crcTable))
	if _, err := l.Append(0, b); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("transactional batch: %v, want ErrInvalidTxnState", err)
	}
}

// verbatim returns batch as a leader stored it: at base, leader epoch 0.
func verbatim(batch []byte, base int64) []byte {
	SetBaseOffset(batch, base)
	SetLeaderEpoch(batch, 0)
	return batch
}

func newFollower(t testing.TB, cfg Config) (*Log, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "orders-0")
	l, _, err := Recover(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.BecomeFollower(0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, dir
}

func TestProducerFollowerAppliesWithoutChecking(t *testing.T) {
	// testNoValidationOnFirstEntryWhenLoadingLog and
	// testAcceptAppendWithSequenceGapsOnReplica: the leader checked.
	l, _ := newFollower(t, Config{})
	if _, err := l.AppendVerbatim(verbatim(idemBatch(1, 5, 16, 1, nowTs()), 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendVerbatim(verbatim(idemBatch(1, 5, 30, 2, nowTs()), 1)); err != nil {
		t.Fatalf("a gap copied from the leader: %v", err)
	}
	e := l.ProducerStates()[1]
	if e.Epoch != 5 || e.LastSequence() != 31 || len(e.Batches) != 2 || e.Batches[1].LastOffset != 2 {
		t.Fatalf("follower state %+v", e)
	}
}

func TestProducerFailoverDeduplicatesWhatTheOldLeaderAppended(t *testing.T) {
	leader, leaderDir := newLeader(t, Config{SegmentBytes: 600})
	follower, _ := newFollower(t, Config{SegmentBytes: 600})
	var orig []AppendResult
	for s := int32(0); s < 12; s++ {
		orig = append(orig, mustAppendIdem(t, leader, 5, 0, s*3, 3))
	}
	// The follower copies the leader's bytes, as replica.follow does.
	rd, err := OpenReader(leaderDir)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	buf, _, err := rd.Read(nil, 0, 36, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for len(buf) > 0 {
		res, err := follower.AppendVerbatim(buf)
		if err != nil {
			t.Fatal(err)
		}
		buf, _, err = rd.Read(buf[:0], res.LogEndOffset, 36, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := follower.BecomeLeader(1, true); err != nil {
		t.Fatal(err)
	}
	// The producer retries its last five batches on the new leader: each
	// is answered with the offsets the old leader gave it.
	for i := 7; i < 12; i++ {
		res, err := follower.Append(1, idemBatch(5, 0, int32(i)*3, 3, nowTs()))
		if err != nil || !res.Duplicate || res.BaseOffset != orig[i].BaseOffset {
			t.Fatalf("retry of batch %d on the new leader: %+v, %v; want a duplicate at %d", i, res, err, orig[i].BaseOffset)
		}
	}
	if _, err := follower.Append(1, idemBatch(5, 0, 36, 1, nowTs())); err != nil {
		t.Fatalf("the next batch on the new leader: %v", err)
	}
}

func TestProducerExpiry(t *testing.T) {
	// testPidExpirationTimeout.
	l, _ := newLeader(t, Config{ProducerIDExpirationMs: 60_000})
	mustAppendIdem(t, l, 1, 5, 0, 1)
	if n := l.ExpireProducers(nowTs() + 30_000); n != 0 {
		t.Fatalf("expired %d producers after 30 s of 60", n)
	}
	if n := l.ExpireProducers(nowTs() + 60_001); n != 1 {
		t.Fatalf("expired %d producers after 60 s, want 1", n)
	}
	// Forgotten: any sequence is accepted again.
	mustAppendIdem(t, l, 1, 5, 17, 1)
	if e := l.ProducerStates()[1]; e.LastSequence() != 17 || len(l.ProducerStates()) != 1 {
		t.Fatalf("state after expiry: %+v", l.ProducerStates())
	}
}

func TestProducerExpiredOnLoad(t *testing.T) {
	// testRemoveExpiredPidsOnReload: a snapshot's expired producers are
	// not loaded.
	cfg := Config{ProducerIDExpirationMs: 60_000}
	l, dir := newLeader(t, cfg)
	mustAppendIdem(t, l, 1, 0, 0, 1)
	mustAppendIdem(t, l, 2, 0, 0, 1)
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	// Open loads the state at the first idempotent append, with its clock
	// two minutes on.
	l2, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	l2.Now = func() int64 { return nowTs() + 120_000 }
	// Both expired: producer 1 is accepted at any sequence, and producer
	// 2 is not known.
	mustAppendIdem(t, l2, 1, 0, 5, 1)
	if ps := l2.ProducerStates(); len(ps) != 1 || ps[1].LastSequence() != 5 {
		t.Fatalf("state %+v: want producer 1 alone, loaded without its expired past", ps)
	}
}

// reopen recovers dir as a restarted broker does.
func reopen(t testing.TB, dir string, cfg Config) *Log {
	t.Helper()
	l, _, err := Recover(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// normState is a state with nil and empty batch lists alike, for
// comparisons.
func normState(m map[int64]ProducerEntry) map[int64]ProducerEntry {
	out := map[int64]ProducerEntry{}
	for id, e := range m {
		if len(e.Batches) == 0 {
			e.Batches = nil
		}
		out[id] = e
	}
	return out
}

func sameState(t testing.TB, what string, got, want map[int64]ProducerEntry) {
	t.Helper()
	if g, w := normState(got), normState(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s: producer state\n got  %+v\n want %+v", what, g, w)
	}
}

// replayedState is the state rebuilt from the whole log, nothing else.
func replayedState(t testing.TB, dir string) map[int64]ProducerEntry {
	t.Helper()
	copyDir := filepath.Join(t.TempDir(), "copy")
	if err := os.MkdirAll(copyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if filepath.Ext(e.Name()) == snapshotSuffix || e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(copyDir, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l, rep, err := Recover(copyDir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if rep.ProducerSnapshot != -1 {
		t.Fatalf("the copy without snapshots loaded snapshot %d", rep.ProducerSnapshot)
	}
	return l.ProducerStates()
}

func TestProducerRestartKeepsTheLastFiveBatches(t *testing.T) {
	l, dir := newLeader(t, Config{})
	var orig []AppendResult
	for s := int32(0); s < 8; s++ {
		orig = append(orig, mustAppendIdem(t, l, 11, 2, s*2, 2))
	}
	mustAppendIdem(t, l, 12, 0, 0, 1)
	before := l.ProducerStates()
	if err := l.Checkpoint(); err != nil { // a clean shutdown
		t.Fatal(err)
	}
	l.Close()
	if _, err := os.Stat(snapshotPath(dir, 17)); err != nil {
		t.Fatalf("no snapshot at the log end after a clean shutdown: %v", err)
	}
	l2, rep, err := Recover(dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if rep.ProducerSnapshot != 17 || rep.ReplayedFrom != 17 || rep.Producers != 2 {
		t.Fatalf("recovery report %+v: want the snapshot at 17 loaded, 2 producers", rep)
	}
	sameState(t, "after restart", l2.ProducerStates(), before)
	for i := 3; i < 8; i++ {
		res, err := l2.Append(0, idemBatch(11, 2, int32(i)*2, 2, nowTs()))
		if err != nil || !res.Duplicate || res.BaseOffset != orig[i].BaseOffset {
			t.Fatalf("retry of batch %d after restart: %+v, %v", i, res, err)
		}
	}
}

func TestProducerStateRebuiltWhenSnapshotsAreBad(t *testing.T) {
	damages := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"deleted", func(t *testing.T, path string) { os.Remove(path) }},
		{"empty", func(t *testing.T, path string) { os.Truncate(path, 0) }},
		{"cut in half", func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			os.Truncate(path, fi.Size()/2)
		}},
		{"garbage", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt(make([]byte, 37), 12)
			f.Close()
		}},
		{"one bit", func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			b[len(b)-3] ^= 0x10
			os.WriteFile(path, b, 0o644)
		}},
		{"other version", func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			binary.BigEndian.PutUint16(b, 2)
			os.WriteFile(path, b, 0o644)
		}},
		{"trailing bytes", func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			os.WriteFile(path, append(b, 0, 0, 0), 0o644)
		}},
	}
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			cfg := Config{SegmentBytes: 700}
			l, dir := newLeader(t, cfg)
			for s := int32(0); s < 30; s++ {
				mustAppendIdem(t, l, int64(s%3), 0, s/3*2, 2)
			}
			before := l.ProducerStates()
			if err := l.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			l.Close()
			offs, _ := listSnapshots(dir)
			if len(offs) < 3 {
				t.Fatalf("snapshots %v: want one per roll and one at the end", offs)
			}
			// Damage every snapshot: the state must come from the log.
			for _, o := range offs {
				d.damage(t, snapshotPath(dir, o))
			}
			l2, rep, err := Recover(dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Close()
			if rep.ProducerSnapshot != -1 || rep.ReplayedFrom != 0 {
				t.Fatalf("report %+v: a damaged snapshot was used", rep)
			}
			if d.name != "deleted" && len(rep.BadSnapshots) != len(offs) {
				t.Fatalf("report names %d bad snapshots, want %d: %v", len(rep.BadSnapshots), len(offs), rep.BadSnapshots)
			}
			sameState(t, "rebuilt", l2.ProducerStates(), before)
			// Only the newest damaged; the one before it is used.
			l2.Close()
			l3 := reopen(t, dir, cfg)
			sameState(t, "reloaded from the new snapshot", l3.ProducerStates(), before)
		})
	}
}

func TestProducerStateFallsBackToAnOlderSnapshot(t *testing.T) {
	cfg := Config{SegmentBytes: 700}
	l, dir := newLeader(t, cfg)
	for s := int32(0); s < 30; s++ {
		mustAppendIdem(t, l, int64(s%4), 1, s/4*2, 2)
	}
	before := l.ProducerStates()
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	offs, _ := listSnapshots(dir)
	newest := offs[len(offs)-1]
	os.WriteFile(snapshotPath(dir, newest), []byte("not a snapshot"), 0o644)
	l2, rep, err := Recover(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if rep.ProducerSnapshot != offs[len(offs)-2] || len(rep.BadSnapshots) != 1 {
		t.Fatalf("report %+v, snapshots were %v: want the one before the damaged newest", rep, offs)
	}
	sameState(t, "from the older snapshot and the log", l2.ProducerStates(), before)
}

func TestProducerSnapshotAboveTheLogEndIsNeverUsed(t *testing.T) {
	// The log lost its tail (a power loss with flushing off) after a
	// snapshot of it was written: the snapshot describes batches that
	// are gone and must not be loaded, even once the log grows past it.
	cfg := Config{}
	l, dir := newLeader(t, cfg)
	for s := int32(0); s < 6; s++ {
		mustAppendIdem(t, l, 1, 0, s, 1)
	}
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	// Cut the segment after the third batch.
	seg := segmentPath(dir, 0, logSuffix)
	data, _ := os.ReadFile(seg)
	cut := 0
	for i := 0; i < 3; i++ {
		h, _ := ParseBatchHeader(data[cut:])
		cut += h.Size()
	}
	os.Truncate(seg, int64(cut))
	os.Remove(filepath.Join(dir, checkpointName)) // no recovery point: validate all
	l2 := reopen(t, dir, cfg)
	if _, err := os.Stat(snapshotPath(dir, 6)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("snapshot at 6 kept after the log was cut to 3: %v", err)
	}
	// The lost records were committed: the replica may lead again once
	// the loss is accepted.
	if err := l2.ClearLostCommitted(); err != nil {
		t.Fatal(err)
	}
	if err := l2.BecomeLeader(0, true); err != nil {
		t.Fatal(err)
	}
	// The producer resends 3..5 (they were lost): they are appended, not
	// taken for duplicates or gaps.
	for s := int32(3); s < 6; s++ {
		mustAppendIdem(t, l2, 1, 0, s, 1)
	}
	sameState(t, "after the lost tail was sent again", l2.ProducerStates(), replayedState(t, dir))
}

func TestProducerTruncation(t *testing.T) {
	// A follower cuts a divergent suffix (KIP-101): the state is the
	// state of the cut log, snapshots above the cut are gone.
	cfg := Config{SegmentBytes: 500}
	l, dir := newLeader(t, cfg)
	var orig []AppendResult
	for s := int32(0); s < 20; s++ {
		orig = append(orig, mustAppendIdem(t, l, 1, 0, s*2, 2))
	}
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if err := l.BecomeFollower(1); err != nil {
		t.Fatal(err)
	}
	if _, err := l.TruncateTo(orig[12].BaseOffset); err != nil {
		t.Fatal(err)
	}
	end := logEnd(t, l)
	offs, _ := listSnapshots(dir)
	for _, o := range offs {
		if o > end {
			t.Fatalf("snapshot %d above the truncated log end %d", o, end)
		}
	}
	sameState(t, "after truncation", l.ProducerStates(), replayedState(t, dir))
	if err := l.BecomeLeader(2, true); err != nil {
		t.Fatal(err)
	}
	// Batch 12 was cut: its retry is appended. Batch 11 is kept: its
	// retry is a duplicate.
	res, err := l.Append(2, idemBatch(1, 0, 22, 2, nowTs()))
	if err != nil || !res.Duplicate || res.BaseOffset != orig[11].BaseOffset {
		t.Fatalf("retry of a kept batch: %+v, %v", res, err)
	}
	res = mustAppendIdem2(t, l, 2, 1, 0, 24, 2)
	if res.BaseOffset != end {
		t.Fatalf("retry of a truncated batch appended at %d, want %d", res.BaseOffset, end)
	}
}

func mustAppendIdem2(t testing.TB, l *Log, leaderEpoch int32, pid int64, epoch int16, seq int32, n int) AppendResult {
	t.Helper()
	res, err := l.Append(leaderEpoch, idemBatch(pid, epoch, seq, n, nowTs()))
	if err != nil || res.Duplicate {
		t.Fatalf("append seq %d: %+v, %v", seq, res, err)
	}
	return res
}

func TestProducerReset(t *testing.T) {
	// truncateFullyAndStartAt: a follower starting over at its leader's
	// log start knows no producer.
	l, dir := newFollower(t, Config{})
	if _, err := l.AppendVerbatim(verbatim(idemBatch(1, 0, 0, 2, nowTs()), 0)); err != nil {
		t.Fatal(err)
	}
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if err := l.Reset(100); err != nil {
		t.Fatal(err)
	}
	if offs, _ := listSnapshots(dir); len(offs) != 0 {
		t.Fatalf("snapshots %v after reset", offs)
	}
	if n := len(l.ProducerStates()); n != 0 {
		t.Fatalf("%d producers after reset", n)
	}
	if _, err := l.AppendVerbatim(verbatim(idemBatch(1, 0, 9, 1, nowTs()), 100)); err != nil {
		t.Fatal(err)
	}
}

func TestProducerRetention(t *testing.T) {
	// Retention deletes the snapshots below the new log start; the
	// producers whose batches it removed stay known until they expire
	// (Kafka's KAFKA-7190 behaviour), in memory and across a restart
	// through the snapshot at the new log start.
	cfg := Config{SegmentBytes: 400, RetentionBytes: 1, RetentionMs: -1}
	l, dir := newLeader(t, cfg)
	for s := int32(0); s < 4; s++ {
		mustAppendIdem(t, l, 1, 0, s*2, 2) // producer 1 only in the first segments
	}
	for s := int32(0); s < 12; s++ {
		mustAppendIdem(t, l, 2, 0, s*2, 2)
	}
	res, err := l.DeleteRetained(nowTs())
	if err != nil || len(res.Segments) == 0 {
		t.Fatalf("retention: %+v, %v", res, err)
	}
	offs, _ := listSnapshots(dir)
	for _, o := range offs {
		if o < res.LogStartOffset {
			t.Fatalf("snapshot %d below the log start %d after retention", o, res.LogStartOffset)
		}
	}
	if _, ok := l.ProducerStates()[1]; !ok {
		t.Fatal("producer 1 forgotten by retention")
	}
	if _, err := appendIdem(t, l, 1, 0, 9, 1); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("producer 1 with a gap after retention: %v, want ErrOutOfOrderSequence", err)
	}
	before := l.ProducerStates()
	l.Close()
	l2 := reopen(t, dir, cfg)
	sameState(t, "after retention and restart", l2.ProducerStates(), before)
}

func TestProducerSnapshotsAtRollAndNotWhenUnchanged(t *testing.T) {
	// testSkipSnapshotIfOffsetUnchanged, and Kafka's snapshot at roll.
	l, dir := newLeader(t, Config{SegmentBytes: 400})
	for s := int32(0); s < 10; s++ {
		mustAppendIdem(t, l, 1, 0, s, 1)
	}
	segs, _ := listSegments(dir)
	offs, _ := listSnapshots(dir)
	if !slices.Equal(offs, segs[1:]) {
		t.Fatalf("snapshots %v, want one at each rolled segment's base %v", offs, segs[1:])
	}
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	after, _ := listSnapshots(dir)
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	again, _ := listSnapshots(dir)
	if !slices.Equal(after, again) || after[len(after)-1] != 10 {
		t.Fatalf("snapshots %v after a checkpoint, %v after another one with no append", after, again)
	}
	// A later checkpoint replaces the earlier one that is not at a
	// segment base.
	mustAppendIdem(t, l, 1, 0, 10, 1)
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	last, _ := listSnapshots(dir)
	segs, _ = listSegments(dir)
	if want := append(slices.Clone(segs[1:]), 11); !slices.Equal(last, want) {
		t.Fatalf("snapshots %v, want %v: one at each segment base and the newest", last, want)
	}
}

func TestProducerStateFollowsAnotherWriter(t *testing.T) {
	// Two Logs on one directory (the older design's producer processes,
	// or a test): each catches up with what the other appended before it
	// checks a batch.
	l, dir := newLeader(t, Config{})
	other, err := Open(dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	mustAppendIdem(t, l, 1, 0, 0, 1)
	first := mustAppendIdem(t, other, 1, 0, 1, 1)
	res, err := appendIdem(t, l, 1, 0, 1, 1)
	if err != nil || !res.Duplicate || res.BaseOffset != first.BaseOffset {
		t.Fatalf("retry through the other Log: %+v, %v", res, err)
	}
	mustAppendIdem(t, l, 1, 0, 2, 1)
	if _, err := appendIdem(t, other, 1, 0, 2, 1); err != nil {
		t.Fatal(err)
	}
}

func TestSnapshotFormatIsKafkas(t *testing.T) {
	// testReadWriteSnapshot, and compatibility both ways: a file as
	// Kafka's writeSnapshot makes it (one entry per producer, one with no
	// batch) reads back; mk's file (one entry per kept batch) reads in
	// Kafka's way (last entry of an id wins) as what Kafka would write.
	be := binary.BigEndian
	kafkaEntry := func(b []byte, id int64, epoch int16, seq int32, off int64, delta int32, ts int64) []byte {
		b = be.AppendUint64(b, uint64(id))
		b = be.AppendUint16(b, uint16(epoch))
		b = be.AppendUint32(b, uint32(seq))
		b = be.AppendUint64(b, uint64(off))
		b = be.AppendUint32(b, uint32(delta))
		b = be.AppendUint64(b, uint64(ts))
		b = be.AppendUint32(b, 3)   // coordinator epoch
		b = be.AppendUint64(b, 100) // current txn first offset
		return b
	}
	file := []byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 2}
	file = kafkaEntry(file, 1, 2, 1, 2, 3, -1)
	file = kafkaEntry(file, 11, 12, -1, -1, 0, 123456)
	be.PutUint32(file[2:], crc32.Checksum(file[6:], crcTable))
	m, err := decodeSnapshot(file)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]ProducerEntry{
		1:  {Epoch: 2, Batches: []ProducerBatch{{LastSequence: 1, LastOffset: 2, OffsetDelta: 3, Timestamp: -1}}, LastTimestamp: -1},
		11: {Epoch: 12, LastTimestamp: 123456},
	}
	got := map[int64]ProducerEntry{}
	for id, e := range m {
		got[id] = *e
	}
	sameState(t, "Kafka's file", got, want)

	// mk's file, read as Kafka reads it.
	state := map[int64]*ProducerEntry{
		5: {Epoch: 1, LastTimestamp: 50},
		7: {Epoch: 0, LastTimestamp: 0},
	}
	for i := int32(0); i < 5; i++ {
		state[5].addBatch(1, ProducerBatch{LastSequence: i*2 + 1, LastOffset: int64(i)*2 + 1, OffsetDelta: 1, Timestamp: int64(i) * 10})
	}
	b := encodeSnapshot(state)
	if len(b) != snapshotHeaderSize+6*snapshotEntrySize {
		t.Fatalf("%d bytes for 6 entries", len(b))
	}
	kafkaView := map[int64][2]int64{} // id -> (last sequence, last offset), last entry wins
	for p := snapshotHeaderSize; p < len(b); p += snapshotEntrySize {
		kafkaView[int64(be.Uint64(b[p:]))] = [2]int64{int64(int32(be.Uint32(b[p+10:]))), int64(be.Uint64(b[p+14:]))}
	}
	if kafkaView[5] != [2]int64{9, 9} || kafkaView[7] != [2]int64{-1, -1} {
		t.Fatalf("Kafka's reader would see %v", kafkaView)
	}
	back, err := decodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	if e := back[5]; len(e.Batches) != 5 || e.Batches[0].LastSequence != 1 || e.Batches[4].LastOffset != 9 || e.LastTimestamp != 40 {
		t.Fatalf("mk's reader: %+v", e)
	}
}

// TestProducerStateNeverWrong drives a leader through random appends of
// several producers (new batches, retries of old ones, gaps, epoch bumps),
// checkpoints, truncations, crashes and restarts with snapshots deleted,
// cut or overwritten, and checks after every restart and truncation that
// the state equals the one rebuilt from the log alone, and after every
// append that the answer is what a Kafka broker gives: a retry of one of
// the last five batches its original offsets, a gap an error, a new batch
// the next offsets.
func TestProducerStateNeverWrong(t *testing.T) {
	for seed := int64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(uint64(seed), 7))
			cfg := Config{SegmentBytes: 600, IndexIntervalBytes: 150}
			dir := filepath.Join(t.TempDir(), "p-0")
			l, _, err := Recover(dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { l.Close() }()
			leaderEpoch := int32(0)
			if err := l.BecomeLeader(leaderEpoch, true); err != nil {
				t.Fatal(err)
			}
			type sent struct {
				epoch      int16
				seq        int32
				n          int
				base, last int64
			}
			type producer struct {
				epoch   int16
				nextSeq int32
				acked   []sent // appended batches of the current epoch, oldest first
			}
			prods := map[int64]*producer{}
			for id := int64(0); id < 4; id++ {
				prods[id] = &producer{}
			}
			// resync sets the model from the log after a truncation or
			// a lost tail: what the log holds is what was acknowledged.
			resync := func() {
				st := l.ProducerStates()
				for id, p := range prods {
					e, ok := st[id]
					p.acked = p.acked[:0]
					if !ok {
						p.nextSeq = 0
						continue
					}
					p.epoch = e.Epoch
					p.nextSeq = incrementSequence(e.LastSequence(), 1)
					for _, b := range e.Batches {
						p.acked = append(p.acked, sent{e.Epoch, b.FirstSequence(), int(b.OffsetDelta) + 1, b.FirstOffset(), b.LastOffset})
					}
				}
			}
			check := func(what string) {
				t.Helper()
				sameState(t, what, l.ProducerStates(), replayedState(t, dir))
			}
			for op := 0; op < 250; op++ {
				id := int64(rnd.IntN(len(prods)))
				p := prods[id]
				switch r := rnd.IntN(100); {
				case r < 55: // a new batch
					n := 1 + rnd.IntN(4)
					res, err := l.Append(leaderEpoch, idemBatch(id, p.epoch, p.nextSeq, n, nowTs()))
					if err != nil || res.Duplicate {
						t.Fatalf("op %d: new batch of %d at seq %d: %+v, %v", op, id, p.nextSeq, res, err)
					}
					p.acked = append(p.acked, sent{p.epoch, p.nextSeq, n, res.BaseOffset, res.LastOffset})
					p.nextSeq = incrementSequence(p.nextSeq, int32(n))
				case r < 75: // a retry of an acknowledged batch
					if len(p.acked) == 0 {
						continue
					}
					k := rnd.IntN(len(p.acked))
					b := p.acked[k]
					res, err := l.Append(leaderEpoch, idemBatch(id, b.epoch, b.seq, b.n, nowTs()))
					if len(p.acked)-k <= ProducerBatchesKept {
						if err != nil || !res.Duplicate || res.BaseOffset != b.base || res.LastOffset != b.last {
							t.Fatalf("op %d: retry %d from the end of producer %d: %+v, %v; want %d..%d", op, len(p.acked)-k, id, res, err, b.base, b.last)
						}
					} else if !errors.Is(err, ErrOutOfOrderSequence) {
						t.Fatalf("op %d: retry of a forgotten batch: %+v, %v", op, res, err)
					}
				case r < 80: // a gap (a producer the state does not know may start anywhere)
					if _, known := l.ProducerStates()[id]; !known {
						continue
					}
					if res, err := l.Append(leaderEpoch, idemBatch(id, p.epoch, p.nextSeq+1+int32(rnd.IntN(3)), 1, nowTs())); !errors.Is(err, ErrOutOfOrderSequence) {
						t.Fatalf("op %d: gap: %+v, %v", op, res, err)
					}
				case r < 84: // a new epoch (an idempotent producer's local bump)
					p.epoch++
					p.nextSeq = 0
					p.acked = p.acked[:0]
				case r < 88:
					if err := l.Checkpoint(); err != nil {
						t.Fatal(err)
					}
				case r < 93: // a follower's truncation, then leading again
					end := logEnd(t, l)
					to := end - int64(rnd.IntN(12))
					leaderEpoch++
					if err := l.BecomeFollower(leaderEpoch); err != nil {
						t.Fatal(err)
					}
					if _, err := l.TruncateTo(max(to, 0)); err != nil {
						t.Fatal(err)
					}
					check(fmt.Sprintf("op %d: truncated to %d", op, to))
					if err := l.BecomeLeader(leaderEpoch, true); err != nil {
						t.Fatal(err)
					}
					resync()
				default: // a crash, damage to snapshots, a restart
					if rnd.IntN(2) == 0 {
						if err := l.Checkpoint(); err != nil { // or not: SIGKILL
							t.Fatal(err)
						}
					}
					l.Close()
					offs, _ := listSnapshots(dir)
					for _, o := range offs {
						path := snapshotPath(dir, o)
						switch rnd.IntN(5) {
						case 0:
							os.Remove(path)
						case 1:
							fi, _ := os.Stat(path)
							os.Truncate(path, fi.Size()*int64(rnd.IntN(4))/4)
						case 2:
							if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
								b[rnd.IntN(len(b))] ^= byte(1 + rnd.IntN(255))
								os.WriteFile(path, b, 0o644)
							}
						}
					}
					if l, _, err = Recover(dir, cfg); err != nil {
						t.Fatal(err)
					}
					check(fmt.Sprintf("op %d: restart", op))
					if err := l.BecomeLeader(leaderEpoch, true); err != nil {
						t.Fatal(err)
					}
				}
			}
			check("end")
		})
	}
}

func TestProducerLogStartMovedByDeleteRecords(t *testing.T) {
	// DeleteRecords moves the log start into a segment: the snapshots
	// below it go, the producers stay known, and a restart loads none of
	// the old snapshots (it replays from the log start).
	cfg := Config{SegmentBytes: 400}
	l, dir := newLeader(t, cfg)
	for s := int32(0); s < 12; s++ {
		mustAppendIdem(t, l, 1, 0, s*2, 2)
	}
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	segs, _ := listSegments(dir)
	start := segs[len(segs)-1] + 1 // inside the last segment
	if _, err := l.AdvanceLogStart(start, 0); err != nil {
		t.Fatal(err)
	}
	offs, _ := listSnapshots(dir)
	for _, o := range offs {
		if o < start {
			t.Fatalf("snapshot %d below the log start %d", o, start)
		}
	}
	if e, ok := l.ProducerStates()[1]; !ok || e.LastSequence() != 23 {
		t.Fatalf("producer 1 after DeleteRecords: %+v, %v", e, ok)
	}
	mustAppendIdem(t, l, 1, 0, 24, 1)
}

func TestProducerSnapshotsOfALogWithoutIdempotentProducers(t *testing.T) {
	// Periodic checkpoints snapshot only partitions idempotent producers
	// write to; a clean shutdown (SnapshotProducers) snapshots any, so the
	// next start replays nothing.
	l, dir := newLeader(t, Config{})
	for i := 0; i < 3; i++ {
		if _, err := l.Append(0, makeBatch("plain", 2, nowTs())); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if offs, _ := listSnapshots(dir); len(offs) != 0 {
		t.Fatalf("snapshots %v after a checkpoint of a log without idempotent producers", offs)
	}
	if err := l.SnapshotProducers(); err != nil {
		t.Fatal(err)
	}
	if offs, _ := listSnapshots(dir); !slices.Equal(offs, []int64{6}) {
		t.Fatalf("snapshots %v after a shutdown snapshot, want [6]", offs)
	}
	l.Close()
	l2, rep, err := Recover(dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if rep.ProducerSnapshot != 6 || rep.ReplayedFrom != 6 {
		t.Fatalf("report %+v: the restart should load the snapshot at 6 and replay nothing", rep)
	}
}
