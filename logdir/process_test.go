package logdir

// Tests with real OS processes: the test binary re-executes itself as child
// appenders (TestMain in main_test.go dispatches on MK_LOGDIR_CHILD), so
// the flock, the state file, torn tails and group commit are exercised
// across processes the way brokers and one-shot producers share a
// partition, and a SIGKILL can land in the middle of an append.
//
// Knobs (environment, so that `go test` needs no extra flags):
//
//	MK_SOAK=1          many more SIGKILL rounds (the soak)
//	MK_LOGDIR_SEED=N   replay the random kill delays of a failed run

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	childEnv     = "MK_LOGDIR_CHILD"      // "append" or "appendloop": run as a child appender
	childArgsEnv = "MK_LOGDIR_CHILD_ARGS" // the childArgs, as JSON
	soakEnv      = "MK_SOAK"              // "1": long SIGKILL soak
	seedEnv      = "MK_LOGDIR_SEED"       // seed of the random kill delays
)

// childArgs tells a child appender what to do.
type childArgs struct {
	Dir     string
	ID      int    // names the child's records; unique within a test
	Batches int    // "append": how many batches to append (0: until killed)
	Config  Config // the topic config the child appends with
}

// runChild is the child process: it opens the partition, appends batches
// whose records encode (child id, batch number, record number), and prints
// "ack <batch> <base offset> <last offset>" for every acknowledged batch.
// "append" first prints "ready" and waits for a line on stdin, so that the
// parent can start all children at once; "appendloop" appends until killed
// and writes each ack with its own write(2), so that what the parent reads
// is exactly what was acknowledged before the kill.
func runChild(mode string) int {
	var a childArgs
	if err := json.Unmarshal([]byte(os.Getenv(childArgsEnv)), &a); err != nil {
		fmt.Fprintln(os.Stderr, "child: bad", childArgsEnv, err)
		return 2
	}
	l, err := Open(a.Dir, a.Config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	defer l.Close()
	var out io.Writer = os.Stdout
	var bw *bufio.Writer
	switch mode {
	case "append":
		bw = bufio.NewWriter(os.Stdout)
		out = bw
		fmt.Println("ready")
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			fmt.Fprintln(os.Stderr, "child: waiting for go:", err)
			return 1
		}
	case "appendloop":
	default:
		fmt.Fprintln(os.Stderr, "child: unknown mode", mode)
		return 2
	}
	var bb BatchBuilder
	var line []byte
	for j := 0; a.Batches == 0 || j < a.Batches; j++ {
		fillChildBatch(&bb, a.ID, j)
		res, err := l.Append(0, bb.Finish())
		if err != nil {
			fmt.Fprintf(os.Stderr, "child %d: append batch %d: %v\n", a.ID, j, err)
			return 1
		}
		line = fmt.Appendf(line[:0], "ack %d %d %d\n", j, res.BaseOffset, res.LastOffset)
		if _, err := out.Write(line); err != nil {
			return 1
		}
	}
	if bw != nil {
		if err := bw.Flush(); err != nil {
			return 1
		}
	}
	return 0
}

// The records of child id's batch j: childBatchLen(id, j) records, keyed
// "c<id>-b<j>", with values and timestamps derived from (id, j, i). Sizes
// vary, and now and then a batch is large, so that segments roll at
// different points; a child with an even id of bigKillID or more writes
// one 1 MB batch, its batch bigAt(id), for the parent to aim a SIGKILL at:
// a kill inside that long write leaves a torn batch behind.
func childBatchLen(id, j int) int {
	if j%64 == 63 || bigBatch(id, j) {
		return 1
	}
	return 1 + (id*3+j*5)%7
}

const bigKillID = 1000

func bigBatch(id, j int) bool { return id >= bigKillID && id%2 == 0 && j == bigAt(id) }

func bigAt(id int) int { return 1 + (id/2)%13 }

func childKey(id, j int) []byte { return fmt.Appendf(nil, "c%05d-b%07d", id, j) }

func childValue(id, j, i int) []byte {
	v := fmt.Appendf(nil, "c%05d-b%07d-r%02d-", id, j, i)
	n := 10 + (id*31+j*17+i*13)%250
	if j%64 == 63 {
		n = 9000
	}
	if bigBatch(id, j) {
		n = 1 << 20
	}
	return append(v, bytes.Repeat([]byte{byte('a' + (id+j+i)%26)}, n)...)
}

// childTs: timestamps of different children interleave and go back and
// forth, which the time index has to keep monotonic.
func childTs(id, j, i int) int64 { return 1_700_000_000_000 + int64(j*10+i) + int64(id%3)*5 }

func fillChildBatch(bb *BatchBuilder, id, j int) {
	bb.Reset()
	key := childKey(id, j)
	for i := range childBatchLen(id, j) {
		bb.Add(childTs(id, j, i), key, childValue(id, j, i), nil)
	}
}

// parseChildKey is the inverse of childKey.
func parseChildKey(key []byte) (id, j int, ok bool) {
	s := string(key)
	if len(s) != 15 || s[0] != 'c' || s[6:8] != "-b" {
		return 0, 0, false
	}
	id, err1 := strconv.Atoi(s[1:6])
	j, err2 := strconv.Atoi(s[8:])
	return id, j, err1 == nil && err2 == nil
}

// ack is one acknowledged batch as a child printed it.
type ack struct {
	id, batch  int
	base, last int64
}

// child is a running child appender.
type child struct {
	id     int
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	acks   chan ack // closed at EOF of the child's stdout
	ready  chan struct{}
	stderr bytes.Buffer
}

func startChild(t testing.TB, mode string, a childArgs) *child {
	t.Helper()
	args, _ := json.Marshal(a)
	c := &child{id: a.ID, acks: make(chan ack, 1<<16), ready: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^$")
	c.cmd.Env = append(os.Environ(), childEnv+"="+mode, childArgsEnv+"="+string(args))
	c.cmd.Stderr = &c.stderr
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.acks)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 1 && f[0] == "ready" {
				close(c.ready)
				continue
			}
			if len(f) != 4 || f[0] != "ack" {
				continue // reported as missing acks by the checks
			}
			j, _ := strconv.Atoi(f[1])
			base, _ := strconv.ParseInt(f[2], 10, 64)
			last, _ := strconv.ParseInt(f[3], 10, 64)
			c.acks <- ack{a.ID, j, base, last}
		}
	}()
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			c.cmd.Process.Kill()
			for range c.acks {
			}
			c.cmd.Wait()
		}
	})
	return c
}

// finish reads the child's acks to the end and waits for it to exit.
func (c *child) finish() ([]ack, error) {
	var acks []ack
	for a := range c.acks {
		acks = append(acks, a)
	}
	err := c.cmd.Wait()
	return acks, err
}

// loggedBatch is one batch read back from the log, records copied.
type loggedBatch struct {
	h    BatchHeader
	recs []Record
}

// readBatches reads every batch from offset from to the log end with a
// fresh Reader: CRCs are checked by Read, records decoded by RecordIter.
func readBatches(t testing.TB, dir string, from int64) ([]loggedBatch, State) {
	t.Helper()
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	st, err := r.State()
	if err != nil {
		t.Fatal(err)
	}
	from = max(from, st.LogStartOffset)
	var out []loggedBatch
	var buf []byte
	var it RecordIter
	for from < st.LogEndOffset {
		buf, _, err = r.Read(buf[:0], from, st.LogEndOffset, 256<<10)
		if err != nil {
			t.Fatalf("read from %d: %v", from, err)
		}
		if len(buf) == 0 {
			t.Fatalf("read from %d returned nothing, log end %d", from, st.LogEndOffset)
		}
		for rest := buf; len(rest) > 0; {
			var b []byte
			if b, rest, err = NextBatch(rest); err != nil {
				t.Fatal(err)
			}
			if err := it.Reset(b); err != nil {
				t.Fatal(err)
			}
			lb := loggedBatch{h: it.Header()}
			var rec Record
			for it.Next(&rec) {
				lb.recs = append(lb.recs, Record{Offset: rec.Offset, Timestamp: rec.Timestamp,
					Key: bytes.Clone(rec.Key), Value: bytes.Clone(rec.Value)})
			}
			if err := it.Err(); err != nil {
				t.Fatal(err)
			}
			if lb.h.LastOffset() < from {
				continue
			}
			out = append(out, lb)
			from = lb.h.LastOffset() + 1
		}
	}
	return out, st
}

// checkChildBatches checks the log (its batches from LogStartOffset 0 to
// the end) against what the children acknowledged: offsets dense from 0;
// every batch whole and one child's, records in the child's order with the
// contents it wrote; each child's batches present once each and in order,
// 0, 1, ... without a hole (a batch is appended only after the previous
// one was acknowledged); every acknowledged batch present at the offsets
// the child was told. A killed child's last batch may be there without an
// ack: it was written whole and adopted by the next appender. It returns
// how many batches each child has in the log.
func checkChildBatches(t testing.TB, batches []loggedBatch, acks []ack) map[int]int {
	t.Helper()
	type key struct{ id, j int }
	where := map[key]BatchHeader{}
	count := map[int]int{}
	next := int64(0)
	for _, b := range batches {
		if b.h.BaseOffset != next {
			t.Fatalf("batch at offset %d, want %d: offsets not dense", b.h.BaseOffset, next)
		}
		if len(b.recs) == 0 || int(b.h.RecordCount) != len(b.recs) || b.h.LastOffset() != next+int64(len(b.recs))-1 {
			t.Fatalf("batch at %d: %d records, header %+v", next, len(b.recs), b.h)
		}
		id, j, ok := parseChildKey(b.recs[0].Key)
		if !ok {
			t.Fatalf("offset %d: key %q is no child's", next, b.recs[0].Key)
		}
		if n := childBatchLen(id, j); n != len(b.recs) {
			t.Fatalf("offset %d: child %d batch %d has %d records, wrote %d", next, id, j, len(b.recs), n)
		}
		for i, r := range b.recs {
			if r.Offset != next+int64(i) {
				t.Fatalf("record %d of the batch at %d has offset %d", i, next, r.Offset)
			}
			if !bytes.Equal(r.Key, childKey(id, j)) || !bytes.Equal(r.Value, childValue(id, j, i)) || r.Timestamp != childTs(id, j, i) {
				t.Fatalf("offset %d: record %q=%.40q ts %d is not child %d batch %d record %d (interleaved or damaged)",
					r.Offset, r.Key, r.Value, r.Timestamp, id, j, i)
			}
		}
		if _, dup := where[key{id, j}]; dup {
			t.Fatalf("child %d batch %d is in the log twice (second at %d)", id, j, next)
		}
		if j != count[id] {
			t.Fatalf("child %d: batch %d at offset %d follows its batch %d: out of order or a hole", id, j, next, count[id]-1)
		}
		where[key{id, j}] = b.h
		count[id]++
		next = b.h.LastOffset() + 1
	}
	for _, a := range acks {
		h, ok := where[key{a.id, a.batch}]
		if !ok {
			t.Fatalf("child %d batch %d was acknowledged at offsets %d-%d but is not in the log", a.id, a.batch, a.base, a.last)
		}
		if h.BaseOffset != a.base || h.LastOffset() != a.last {
			t.Fatalf("child %d batch %d was acknowledged at %d-%d but is at %d-%d", a.id, a.batch, a.base, a.last, h.BaseOffset, h.LastOffset())
		}
	}
	return count
}

// checkSegments checks every segment file of a quiescent log, not through
// the Reader but by parsing the files: batches back to back and valid,
// each segment starting where the previous one ended; offset-index entries
// increasing, each pointing at the start of the batch whose last offset it
// names, no more than index.interval.bytes plus a batch apart; time-index
// entries increasing, each an upper bound of the timestamps up to its
// offset, and a closed segment's last entry its largest timestamp (what
// retention reads); and the state agreeing with the files.
func checkSegments(t testing.TB, dir string, cfg Config) {
	t.Helper()
	checkSegmentsFrom(t, dir, cfg, math.MinInt64)
}

// checkSegmentsFrom is checkSegments with the index checks only for the
// segments from strictFrom on and the active one (those Recover rebuilt).
func checkSegmentsFrom(t testing.TB, dir string, cfg Config, strictFrom int64) {
	t.Helper()
	cfg = cfg.withDefaults()
	bases, err := listSegments(dir)
	if err != nil || len(bases) == 0 {
		t.Fatalf("segments of %s: %v %v", dir, bases, err)
	}
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := r.State()
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if bases[len(bases)-1] != st.ActiveSegment || bases[0] != st.LogStartOffset {
		t.Fatalf("segments %v, state says active %d, log start %d", bases, st.ActiveSegment, st.LogStartOffset)
	}
	next := bases[0]
	for si, base := range bases {
		active := si == len(bases)-1
		name := segmentName(base)
		data, err := os.ReadFile(segmentPath(dir, base, logSuffix))
		if err != nil {
			t.Fatal(err)
		}
		if base != next {
			t.Fatalf("segment %s starts at %d, the log before it ends at %d", name, base, next)
		}
		lastAt := map[int64]int64{} // batch position -> last offset
		var positions []int64
		maxBatch := 0
		var maxTs, maxTsOff, firstMaxTs int64 = -1, -1, -1
		type tsAt struct{ off, ts int64 }
		var recTs []tsAt
		var it RecordIter
		var rec Record
		for p := 0; p < len(data); {
			b, _, err := NextBatch(data[p:])
			if err == nil {
				err = VerifyBatch(b)
			}
			if err != nil {
				t.Fatalf("segment %s at %d: %v", name, p, err)
			}
			h, _ := ParseBatchHeader(b)
			if h.BaseOffset != next {
				t.Fatalf("segment %s at %d: batch at offset %d, want %d", name, p, h.BaseOffset, next)
			}
			it.Reset(b)
			for it.Next(&rec) {
				recTs = append(recTs, tsAt{rec.Offset, rec.Timestamp})
			}
			if firstMaxTs < 0 {
				firstMaxTs = h.MaxTimestamp
			}
			if h.MaxTimestamp > maxTs {
				maxTs, maxTsOff = h.MaxTimestamp, h.LastOffset()
			}
			lastAt[int64(p)] = h.LastOffset()
			positions = append(positions, int64(p))
			maxBatch = max(maxBatch, len(b))
			next = h.LastOffset() + 1
			p += len(b)
		}
		if len(data) == 0 && !active {
			t.Fatalf("closed segment %s is empty", name)
		}
		if !active && int64(len(data)) > cfg.SegmentBytes && len(positions) > 1 {
			t.Fatalf("closed segment %s is %d bytes, segment.bytes %d", name, len(data), cfg.SegmentBytes)
		}

		if base < strictFrom && !active {
			continue
		}
		idx, err := os.ReadFile(segmentPath(dir, base, indexSuffix))
		if err != nil || len(idx)%indexEntrySize != 0 {
			t.Fatalf("index of %s: %d bytes, %v", name, len(idx), err)
		}
		prevRel, prevPos := int32(-1), int64(0)
		for p := 0; p < len(idx); p += indexEntrySize {
			e := getIndexEntry(idx[p:])
			last, ok := lastAt[int64(e.Position)]
			if e.Relative <= prevRel || !ok || last != base+int64(e.Relative) {
				t.Fatalf("index of %s, entry %d (%d, %d): not the position of the batch ending at that offset", name, p/indexEntrySize, e.Relative, e.Position)
			}
			prevRel = e.Relative
			if int64(e.Position)-prevPos > cfg.IndexIntervalBytes+int64(maxBatch) {
				t.Fatalf("index of %s: %d bytes between entries, index.interval.bytes %d", name, int64(e.Position)-prevPos, cfg.IndexIntervalBytes)
			}
			prevPos = int64(e.Position)
		}
		if int64(len(data))-prevPos > cfg.IndexIntervalBytes+2*int64(maxBatch) {
			t.Fatalf("index of %s: its last entry is %d bytes before the end", name, int64(len(data))-prevPos)
		}

		tidx, err := os.ReadFile(segmentPath(dir, base, timeIndexSuffix))
		if err != nil || len(tidx)%timeIndexEntrySize != 0 {
			t.Fatalf("time index of %s: %d bytes, %v", name, len(tidx), err)
		}
		var lastTs int64 = -1
		var lastRel int32 = -1
		for p := 0; p < len(tidx); p += timeIndexEntrySize {
			e := getTimeIndexEntry(tidx[p:])
			if e.Timestamp <= lastTs || e.Relative < lastRel || base+int64(e.Relative) >= next {
				t.Fatalf("time index of %s, entry %d (%d, %d): not increasing or outside the segment", name, p/timeIndexEntrySize, e.Timestamp, e.Relative)
			}
			for _, r := range recTs {
				if r.off <= base+int64(e.Relative) && r.ts > e.Timestamp {
					t.Fatalf("time index of %s: entry (%d, %d), but offset %d has timestamp %d", name, e.Timestamp, e.Relative, r.off, r.ts)
				}
			}
			lastTs, lastRel = e.Timestamp, e.Relative
		}
		if !active && lastTs != maxTs {
			t.Fatalf("time index of closed segment %s ends at timestamp %d, its largest is %d", name, lastTs, maxTs)
		}
		if active {
			got := fmt.Sprint(st.ActiveSize, st.IndexEntries, st.TimeIndexEntries, st.LastTimeIndexTs, st.ActiveMaxTimestamp, st.ActiveMaxTsOffset, st.ActiveFirstTimestamp, st.LogEndOffset)
			want := fmt.Sprint(len(data), len(idx)/indexEntrySize, len(tidx)/timeIndexEntrySize, lastTs, maxTs, maxTsOff, firstMaxTs, next)
			if got != want {
				t.Fatalf("state of the active segment %s: (size, index entries, time index entries, last time index ts, max ts, its offset, first ts, log end) = %s, files say %s", name, got, want)
			}
		}
	}
}

// TestProcessesAppendConcurrently: several processes append to one
// partition at once, with segments small enough to roll under contention.
func TestProcessesAppendConcurrently(t *testing.T) {
	cfg := Config{SegmentBytes: 8 << 10, IndexIntervalBytes: 1024}
	testProcessesAppend(t, cfg, 4, 150)
}

// TestProcessesGroupCommit: with flush.messages=1 every append waits for
// an fsync, and concurrent appenders in different processes share them.
func TestProcessesGroupCommit(t *testing.T) {
	cfg := Config{SegmentBytes: 16 << 10, IndexIntervalBytes: 1024, FlushMessages: 1}
	testProcessesAppend(t, cfg, 4, 40)
}

func testProcessesAppend(t *testing.T, cfg Config, children, batches int) {
	l, dir := newLeader(t, cfg)
	st0, err := l.State()
	if err != nil {
		t.Fatal(err)
	}
	kids := make([]*child, children)
	for i := range kids {
		kids[i] = startChild(t, "append", childArgs{Dir: dir, ID: i + 1, Batches: batches, Config: cfg})
	}
	for _, c := range kids {
		select {
		case <-c.ready:
		case <-time.After(time.Minute):
			t.Fatalf("child %d never said ready: %s", c.id, c.stderr.String())
		}
	}
	for _, c := range kids {
		io.WriteString(c.stdin, "go\n")
	}
	var acks []ack
	appends := 0
	for _, c := range kids {
		a, err := c.finish()
		if err != nil {
			t.Fatalf("child %d: %v: %s", c.id, err, c.stderr.String())
		}
		if len(a) != batches {
			t.Fatalf("child %d acknowledged %d batches, want %d", c.id, len(a), batches)
		}
		acks = append(acks, a...)
		appends += len(a)
	}
	got, st := readBatches(t, dir, 0)
	count := checkChildBatches(t, got, acks)
	for _, c := range kids {
		if count[c.id] != batches {
			t.Fatalf("child %d has %d batches in the log, appended %d", c.id, count[c.id], batches)
		}
	}
	checkSegments(t, dir, cfg)
	if st.HighWatermark != st.LogEndOffset {
		t.Fatalf("high watermark %d, log end %d", st.HighWatermark, st.LogEndOffset)
	}
	segs, _ := listSegments(dir)
	if len(segs) < children*2 {
		t.Fatalf("only %d segments: rolls did not happen under contention", len(segs))
	}
	// Appends interleaved: some batch follows one of another child.
	switches := 0
	for i := 1; i < len(got); i++ {
		a, _, _ := parseChildKey(got[i-1].recs[0].Key)
		b, _, _ := parseChildKey(got[i].recs[0].Key)
		if a != b {
			switches++
		}
	}
	t.Logf("%d processes, %d batches, %d records, %d segments, %d switches between processes", children, appends, st.LogEndOffset, len(segs), switches)

	if full := cfg.withDefaults(); full.flushEnabled() {
		if st.FlushedOffset != st.LogEndOffset {
			t.Fatalf("flushed offset %d, log end %d: not every acknowledged record was fsynced", st.FlushedOffset, st.LogEndOffset)
		}
		// Every commit bumps seq: one per append, one per roll, one per
		// flush that ran an fsync (a flush covered by someone else's fsync
		// returns without a commit). So the fsyncs are what is left.
		flushes := int(st.Seq-st0.Seq) - appends - (len(segs) - 1)
		t.Logf("group commit: %d appends with flush.messages=1 took %d fsync rounds", appends, flushes)
		if flushes < 1 || flushes >= appends {
			t.Fatalf("%d fsync rounds for %d appends: appenders did not share fsyncs", flushes, appends)
		}
	}
}

// killRounds is how many SIGKILL rounds TestKillAppender runs.
func killRounds() int {
	switch {
	case os.Getenv(soakEnv) == "1":
		return 300
	case testing.Short():
		return 8
	}
	return 30
}

// tailer reads the committed log while it is written, as a consumer does,
// and remembers what every offset held, to check later that no offset
// ever held two records.
type tailer struct {
	dir  string
	stop chan struct{}
	done chan struct{}
	err  error
	seen map[int64]string // offset -> key/value/timestamp
}

func startTailer(dir string) *tailer {
	tl := &tailer{dir: dir, stop: make(chan struct{}), done: make(chan struct{}), seen: map[int64]string{}}
	go tl.run()
	return tl
}

func (tl *tailer) run() {
	defer close(tl.done)
	r, err := OpenReader(tl.dir)
	if err != nil {
		tl.err = err
		return
	}
	defer r.Close()
	var buf []byte
	var it RecordIter
	var rec Record
	next := int64(0)
	for {
		var st State
		buf, st, err = r.ReadCommitted(buf[:0], next, 1<<20)
		if err != nil {
			tl.err = fmt.Errorf("tailing reader at offset %d: %w", next, err)
			return
		}
		for rest := buf; len(rest) > 0; {
			var b []byte
			if b, rest, err = NextBatch(rest); err == nil {
				err = it.Reset(b)
			}
			if err != nil {
				tl.err = err
				return
			}
			for it.Next(&rec) {
				if rec.Offset < next {
					continue
				}
				if rec.Offset != next || rec.Offset >= st.HighWatermark {
					var got []string
					for rest := buf; len(rest) > 0; {
						var b []byte
						b, rest, _ = NextBatch(rest)
						got = append(got, fmt.Sprintf("%d-%d", BatchBaseOffset(b), BatchLastOffset(b)))
					}
					var segs []string
					bases, _ := listSegments(tl.dir)
					for _, b := range bases {
						fi, _ := os.Stat(segmentPath(tl.dir, b, logSuffix))
						if fi != nil {
							segs = append(segs, fmt.Sprintf("%d:%d", b, fi.Size()))
						}
					}
					tl.err = fmt.Errorf("tailing reader: record at offset %d, expected %d; read %v from a state %+v; reader bases %v cursor %d %d %d seg %d; now %v", rec.Offset, next, got, st, r.bases, r.cursorBase, r.cursorOffset, r.cursorPos, r.segBase, segs)
					return
				}
				tl.seen[next] = fmt.Sprintf("%s=%s@%d", rec.Key, rec.Value, rec.Timestamp)
				next++
			}
			if err := it.Err(); err != nil {
				tl.err = err
				return
			}
		}
		if len(buf) == 0 {
			select {
			case <-tl.stop:
				return
			default:
			}
			// Caught up: poll again shortly, as a consumer without
			// fsnotify would.
			time.Sleep(200 * time.Microsecond)
		}
	}
}

func (tl *tailer) finish(t testing.TB, batches []loggedBatch) {
	t.Helper()
	close(tl.stop)
	<-tl.done
	if tl.err != nil {
		t.Fatal(tl.err)
	}
	for _, b := range batches {
		for _, r := range b.recs {
			if s, ok := tl.seen[r.Offset]; ok && s != fmt.Sprintf("%s=%s@%d", r.Key, r.Value, r.Timestamp) {
				t.Fatalf("offset %d held %.60q for the tailing reader, now holds %.60q", r.Offset, s, r.Value)
			}
		}
	}
	t.Logf("the tailing reader read %d records while appenders were killed", len(tl.seen))
}

// TestKillAppender SIGKILLs appending processes at random moments, two at
// a time, while a reader tails the log. After each round the next appender
// must succeed and land after everything acknowledged, every acknowledged
// batch must be in the log whole, at the offsets it was acknowledged at,
// and the log dense; every few rounds a broker-style Recover runs first.
// At the end Recover must find nothing to cut and lose nothing.
func TestKillAppender(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(seedEnv); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("%s=%d", seedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	cfg := Config{SegmentBytes: 16 << 10, IndexIntervalBytes: 1024, MaxMessageBytes: 2 << 20}
	l, dir := newLeader(t, cfg)
	tl := startTailer(dir)
	defer func() {
		select {
		case <-tl.stop:
		default:
			close(tl.stop)
			<-tl.done
		}
	}()

	var acks []ack
	rounds := killRounds()
	const parentID = 99999 // the parent's own batches: its j-th is appended after round j
	recovers, tornTails, adopted, uncommitted := 0, 0, 0, 0
	for round := 0; round < rounds; round++ {
		kids := []*child{
			startChild(t, "appendloop", childArgs{Dir: dir, ID: bigKillID + 1 + round*2, Config: cfg}),
			startChild(t, "appendloop", childArgs{Dir: dir, ID: bigKillID + round*2, Config: cfg}),
		}
		// Even rounds: kill each child at its own random moment after it
		// acknowledged its first batch (read from its output: it is really
		// appending); the survivor repairs what the first one left. Odd
		// rounds: kill both at once, aiming at the big batch that kids[1]
		// writes after its ack of the batch before, so that the kill often
		// tears a write and the parent's append or Recover must repair it.
		var wg sync.WaitGroup
		roundAcks := make([][]ack, len(kids))
		errs := make([]error, len(kids))
		delays := []time.Duration{time.Duration(rng.IntN(8000)) * time.Microsecond, time.Duration(rng.IntN(8000)) * time.Microsecond}
		aimed := round%2 == 1
		aimAfter := bigAt(kids[1].id) - 1                            // the ack to wait for
		aimDelay := time.Duration(rng.IntN(1500)) * time.Microsecond // then a random moment
		killBoth := make(chan struct{})
		for i, c := range kids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if aimed && i == 1 {
					defer close(killBoth)
				}
				first, ok := <-c.acks
				if !ok {
					c.cmd.Wait()
					errs[i] = fmt.Errorf("child %d exited before its first ack: %s", c.id, c.stderr.String())
					return
				}
				got := []ack{first}
				switch {
				case !aimed:
					time.Sleep(delays[i]) // a random moment to kill at
				case i == 1:
					for a := first; a.batch < aimAfter; {
						if a, ok = <-c.acks; !ok {
							break
						}
						got = append(got, a)
					}
					time.Sleep(aimDelay)
				default:
					<-killBoth
				}
				c.cmd.Process.Signal(syscall.SIGKILL)
				rest, err := c.finish()
				roundAcks[i] = append(got, rest...)
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
					errs[i] = fmt.Errorf("child %d: %v (want killed): %s", c.id, err, c.stderr.String())
				}
			}()
		}
		wg.Wait()
		for i := range kids {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			acks = append(acks, roundAcks[i]...)
		}
		var lastAcked int64 = -1
		for _, a := range acks {
			lastAcked = max(lastAcked, a.last)
		}

		// Did a kill land inside an append, after its write and before
		// its commit? Then the active segment holds more than the state.
		if st, err := l.State(); err == nil {
			if fi, err := os.Stat(segmentPath(dir, st.ActiveSegment, logSuffix)); err == nil && fi.Size() > st.ActiveSize {
				uncommitted++
			}
		}
		if round%5 == 4 {
			// A broker restarts on the partition.
			rl, rep, err := Recover(dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			rl.Close()
			if rep.Truncated() {
				tornTails++ // a child died mid-write
			}
			recovers++
		}
		// The next appender (the parent) goes on after the dead ones.
		var bb BatchBuilder
		fillChildBatch(&bb, parentID, round)
		res, err := l.Append(0, bb.Finish())
		if err != nil {
			t.Fatalf("round %d: append after the kill: %v", round, err)
		}
		if res.BaseOffset <= lastAcked {
			t.Fatalf("round %d: the parent's append landed at %d, at or below acknowledged offset %d", round, res.BaseOffset, lastAcked)
		}
		acks = append(acks, ack{parentID, round, res.BaseOffset, res.LastOffset})

		got, st := readBatches(t, dir, 0)
		count := checkChildBatches(t, got, acks)
		if st.LogEndOffset != res.LogEndOffset || st.HighWatermark != st.LogEndOffset {
			t.Fatalf("round %d: state %+v after the parent's append %+v", round, st, res)
		}
		for i, c := range kids {
			if n := count[c.id]; n < len(roundAcks[i]) || n > len(roundAcks[i])+1 {
				t.Fatalf("child %d: %d batches in the log, %d acknowledged", c.id, n, len(roundAcks[i]))
			} else if n > len(roundAcks[i]) {
				adopted++ // written whole, killed before the ack
			}
		}
	}
	got, _ := readBatches(t, dir, 0)
	tl.finish(t, got)
	checkSegments(t, dir, cfg)

	// A broker restart after all that: nothing to cut, nothing lost.
	rl, rep, err := Recover(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	if rep.Truncated() || rep.Damage != "" {
		t.Fatalf("recovery of a log whose tail the last appender had repaired: %+v", rep)
	}
	after, st := readBatches(t, dir, 0)
	checkChildBatches(t, after, acks)
	if len(after) != len(got) || st.HighWatermark != st.LogEndOffset {
		t.Fatalf("recovery changed the log: %d batches, now %d; state %+v", len(got), len(after), st)
	}
	checkSegments(t, dir, cfg)
	segs, _ := listSegments(dir)
	t.Logf("%d rounds, %d processes killed, %d acknowledged batches, %d records, %d segments, %d recoveries (%d cut a torn tail), %d rounds left uncommitted bytes, %d unacknowledged batches in the log",
		rounds, 2*rounds, len(acks), st.LogEndOffset, len(segs), recovers, tornTails, uncommitted, adopted)
}

// TestInProcessAppendersGroupCommit: goroutines sharing one Log and a
// second Log on the same directory (as two processes would) append with
// flush.messages=1. The partition lock and the flush lock exclude the
// goroutines of one process too, and every append returns fsynced.
func TestInProcessAppendersGroupCommit(t *testing.T) {
	cfg := Config{SegmentBytes: 16 << 10, IndexIntervalBytes: 1024, FlushMessages: 1}
	l, dir := newLeader(t, cfg)
	other, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	const goroutines, batches = 4, 25
	var wg sync.WaitGroup
	acks := make([][]ack, goroutines)
	errs := make([]error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lg := l
			if g%2 == 1 {
				lg = other
			}
			var bb BatchBuilder
			for j := range batches {
				fillChildBatch(&bb, g+1, j)
				res, err := lg.Append(0, bb.Finish())
				if err != nil {
					errs[g] = err
					return
				}
				if st, _ := lg.State(); st.FlushedOffset < res.LogEndOffset {
					errs[g] = fmt.Errorf("append to %d returned, flushed only to %d", res.LogEndOffset, st.FlushedOffset)
					return
				}
				acks[g] = append(acks[g], ack{g + 1, j, res.BaseOffset, res.LastOffset})
			}
		}()
	}
	wg.Wait()
	var all []ack
	for g := range goroutines {
		if errs[g] != nil {
			t.Fatal(errs[g])
		}
		all = append(all, acks[g]...)
	}
	got, st := readBatches(t, dir, 0)
	count := checkChildBatches(t, got, all)
	for g := range goroutines {
		if count[g+1] != batches {
			t.Fatalf("appender %d: %d batches in the log", g+1, count[g+1])
		}
	}
	if st.FlushedOffset != st.LogEndOffset {
		t.Fatalf("flushed offset %d, log end %d", st.FlushedOffset, st.LogEndOffset)
	}
	checkSegments(t, dir, cfg)
}

// TestVerbatimEpochsWithTwoAppenders: a follower's Log remembers the last
// epoch of leader-epoch-checkpoint between appends, so that it does not
// read the file for every batch; when another appender changed the file in
// between (a newer epoch, or a truncation that dropped one), it must read
// it again and record the epochs right.
func TestVerbatimEpochsWithTwoAppenders(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "f-0")
	a, _, err := Recover(dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	leo := int64(0)
	appendAt := func(l *Log, epoch int32) {
		t.Helper()
		batch := makeBatch("e", 2, 1)
		SetBaseOffset(batch, leo)
		SetLeaderEpoch(batch, epoch)
		res, err := l.AppendVerbatim(batch)
		if err != nil {
			t.Fatal(err)
		}
		leo = res.LogEndOffset
	}
	want := func(es ...EpochEntry) {
		t.Helper()
		got, err := ReadLeaderEpochs(dir)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(es) {
			t.Fatalf("leader-epoch-checkpoint %v (%v), want %v", got, err, es)
		}
	}
	appendAt(a, 0)
	appendAt(a, 0)
	want(EpochEntry{0, 0})
	appendAt(b, 1) // at 4
	appendAt(a, 1)
	appendAt(a, 1)
	want(EpochEntry{0, 0}, EpochEntry{1, 4})
	// b truncates back into epoch 0: the epoch 1 entry goes.
	if leo, err = b.TruncateTo(4); err != nil || leo != 4 {
		t.Fatalf("truncate: %d %v", leo, err)
	}
	want(EpochEntry{0, 0})
	appendAt(a, 1) // a knew epoch 1 was recorded, but it no longer is
	want(EpochEntry{0, 0}, EpochEntry{1, 4})
	appendAt(a, 2)
	appendAt(b, 2)
	appendAt(a, 2)
	want(EpochEntry{0, 0}, EpochEntry{1, 4}, EpochEntry{2, 6})
}

// TestReaderRelistsIncompleteListing: a directory listing taken while
// appenders create segments can miss a segment yet include a newer one
// (readdir is not atomic; ext4 returns names in hash order). TestKillAppender
// caught a tailing reader that trusted such a listing and skipped the
// offsets of the missing segments. A reader must list again instead.
func TestReaderRelistsIncompleteListing(t *testing.T) {
	l, dir := newLeader(t, Config{SegmentBytes: 1000})
	appendN(t, l, 40, 5)
	bases, _ := listSegments(dir)
	if len(bases) < 5 {
		t.Fatalf("%d segments", len(bases))
	}
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Read the first segment, then pretend the listing missed the two
	// segments after it.
	buf, _, err := r.Read(nil, 0, bases[1], 1<<20)
	if err != nil || len(buf) == 0 {
		t.Fatal(len(buf), err)
	}
	next := bases[1]
	r.bases = append(append([]int64(nil), bases[0]), bases[3:]...)
	for next < bases[3] {
		buf, _, err = r.ReadCommitted(buf[:0], next, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(buf) == 0 {
			t.Fatalf("read from %d returned nothing", next)
		}
		if b := BatchBaseOffset(buf); b > next {
			t.Fatalf("read from %d returned a batch at %d: offsets skipped", next, b)
		}
		next = BatchLastOffset(buf) + 1
	}
}
