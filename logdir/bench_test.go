package logdir

// Benchmarks of the log against plain file I/O on the same machine, in the
// same run: each benchmark interleaves chunks of the plain-file version of
// the same work (the same bytes written with os.File.Write, or read with
// os.File.ReadAt) with chunks of the mk version, and reports
//
//	ratio-vs-plain-write / ratio-vs-plain-read  mk bytes/s over plain bytes/s
//	MB/s, records/s                             of the mk version
//	allocs/record                               heap allocations per record
//
// Interleaving keeps the ratio honest on a shared, noisy machine: a burst
// of load hits both sides. Targets (the logdir issue): verbatim appends at
// least 0.8 of plain writes; encode+append of 100-byte records at least 0.4
// and 2,000,000 records/s; reading from the beginning (CRC and decode of
// every record) at least 0.5 of plain reads; no allocation per record.
//
//	go test ./logdir -run '^$' -bench . -benchtime 2s

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const (
	benchBatchBytes = 16 << 10 // a producer's batch.size
	benchChunk      = 256      // ops per interleaved chunk
	benchSegment    = 64 << 20 // segment.bytes; older segments are deleted as the benchmark goes
)

// benchRecords16K encodes 100-byte records into one 16 KiB batch.
func benchRecords16K(bb *BatchBuilder, value []byte, ts int64) int {
	bb.Reset()
	n := 0
	for bb.Size()+RecordSize(int64(n), int32(n), nil, value, nil) <= benchBatchBytes {
		bb.Add(ts+int64(n), nil, value, nil)
		n++
	}
	return n
}

// plainWriter writes to plain files the way the log does, rolling to a new
// file every benchSegment bytes and deleting the one before the previous,
// so that both sides create, fill and unlink files alike.
type plainWriter struct {
	dir      string
	f        *os.File
	n, size  int64
	previous []string
}

func (w *plainWriter) write(b []byte) error {
	if w.f == nil || w.size+int64(len(b)) > benchSegment {
		if w.f != nil {
			w.f.Close()
		}
		name := filepath.Join(w.dir, fmt.Sprintf("%020d.plain", w.n))
		w.n++
		f, err := os.Create(name)
		if err != nil {
			return err
		}
		w.f, w.size = f, 0
		w.previous = append(w.previous, name)
		if len(w.previous) > 2 {
			os.Remove(w.previous[0])
			w.previous = w.previous[1:]
		}
	}
	_, err := w.f.Write(b)
	w.size += int64(len(b))
	return err
}

func (w *plainWriter) close() {
	if w.f != nil {
		w.f.Close()
	}
}

// benchLog is a leader whose old segments are deleted as it grows.
func benchLog(b *testing.B) *Log {
	l, _ := newLeader(b, Config{SegmentBytes: benchSegment, RetentionBytes: 2 * benchSegment, RetentionMs: -1})
	return l
}

// trim deletes old segments when the log rolled.
func trimLog(b *testing.B, l *Log, active *int64) {
	st, err := l.State()
	if err != nil {
		b.Fatal(err)
	}
	if st.ActiveSegment != *active {
		*active = st.ActiveSegment
		if _, err := l.DeleteRetained(nowMs()); err != nil {
			b.Fatal(err)
		}
	}
}

// reportRatio reports the metrics of a benchmark whose mk side (the
// benchmark timer) and plain side (plain) each did ops ops of opBytes bytes
// and records records.
func reportRatio(b *testing.B, name string, plain time.Duration, ops int, opBytes int64, records int) {
	mk := b.Elapsed()
	if mk <= 0 || plain <= 0 {
		return
	}
	b.ReportMetric(plain.Seconds()/mk.Seconds(), name)
	b.ReportMetric(float64(ops)*float64(opBytes)/plain.Seconds()/1e6, "plain-MB/s")
	b.ReportMetric(float64(ops)*float64(records)/mk.Seconds(), "records/s")
}

// BenchmarkAppendVerbatim appends already-encoded 16 KiB batches, as a
// follower copies its leader's: one op is one batch. With batches=1 each
// AppendVerbatim call takes one batch (and the baseline writes 16 KiB per
// write call); with batches=64 a call takes 1 MiB of batches, what one
// fetch brings a follower (replica.fetch.max.bytes), and the baseline
// writes 1 MiB per call.
func BenchmarkAppendVerbatim(b *testing.B) {
	for _, perCall := range []int{1, 64} {
		b.Run(fmt.Sprintf("batches=%d", perCall), func(b *testing.B) { benchAppendVerbatim(b, perCall) })
	}
}

func benchAppendVerbatim(b *testing.B, perCall int) {
	value := bytes.Repeat([]byte("v"), 100)
	var bb BatchBuilder
	records := benchRecords16K(&bb, value, 1_700_000_000_000)
	one := bytes.Clone(bb.Finish())
	SetLeaderEpoch(one, 0)
	chunk := bytes.Repeat(one, perCall)
	l := benchLog(b)
	pw := &plainWriter{dir: b.TempDir()}
	defer pw.close()
	var leo, active int64
	appendChunk := func() {
		for i, off := 0, leo; i < perCall; i++ {
			SetBaseOffset(chunk[i*len(one):], off)
			off += int64(records)
		}
		res, err := l.AppendVerbatim(chunk)
		if err != nil {
			b.Fatal(err)
		}
		leo = res.LogEndOffset
	}
	calls := (b.N + perCall - 1) / perCall // b.N batches, rounded up to whole calls
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	b.ResetTimer()
	var plain time.Duration
	for done := 0; done < calls; {
		n := min(max(benchChunk/perCall, 1), calls-done)
		b.StopTimer()
		trimLog(b, l, &active)
		start := time.Now()
		for range n {
			if err := pw.write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		plain += time.Since(start)
		b.StartTimer()
		for range n {
			appendChunk()
		}
		done += n
	}
	b.StopTimer()
	reportRatio(b, "ratio-vs-plain-write", plain, calls*perCall, int64(len(one)), records)
	b.ReportMetric(testing.AllocsPerRun(100, appendChunk)/float64(records*perCall), "allocs/record")
}

// BenchmarkEncodeAndAppend100B encodes 100-byte records into 16 KiB
// batches with BatchBuilder and appends them as a producer does: one op
// is one batch. The baseline writes the same bytes to a plain file.
func BenchmarkEncodeAndAppend100B(b *testing.B) {
	value := bytes.Repeat([]byte("p"), 100)
	var bb BatchBuilder
	records := benchRecords16K(&bb, value, 1_700_000_000_000)
	batchBytes := int64(len(bb.Finish()))
	plainBatch := bytes.Clone(bb.Finish())
	l := benchLog(b)
	pw := &plainWriter{dir: b.TempDir()}
	defer pw.close()
	var active int64
	ts := int64(1_700_000_000_000)
	encodeAppend := func() {
		benchRecords16K(&bb, value, ts)
		ts += int64(records)
		if _, err := l.Append(0, bb.Finish()); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(batchBytes)
	b.ReportAllocs()
	b.ResetTimer()
	var plain time.Duration
	for done := 0; done < b.N; {
		n := min(benchChunk, b.N-done)
		b.StopTimer()
		trimLog(b, l, &active)
		start := time.Now()
		for range n {
			if err := pw.write(plainBatch); err != nil {
				b.Fatal(err)
			}
		}
		plain += time.Since(start)
		b.StartTimer()
		for range n {
			encodeAppend()
		}
		done += n
	}
	b.StopTimer()
	reportRatio(b, "ratio-vs-plain-write", plain, b.N, batchBytes, records)
	b.ReportMetric(testing.AllocsPerRun(100, encodeAppend)/float64(records), "allocs/record")
}

// BenchmarkReadFromBeginning reads a 64 MiB log from offset 0 as a
// consumer does: ReadCommitted (which checks every batch's CRC) and, in
// records, RecordIter over every record; batches stops at the CRC-checked
// batches, to tell the log's share of the cost from the decoder's. One op
// is the whole log. The baseline reads the same segment files with ReadAt
// into a buffer of the same size (1 MiB, a fetch's max bytes).
func BenchmarkReadFromBeginning(b *testing.B) {
	b.Run("records", func(b *testing.B) { benchReadFromBeginning(b, true) })
	b.Run("batches", func(b *testing.B) { benchReadFromBeginning(b, false) })
}

func benchReadFromBeginning(b *testing.B, decode bool) {
	const logBytes = 64 << 20
	const readBytes = 1 << 20 // a fetch's max bytes
	value := bytes.Repeat([]byte("r"), 100)
	l, dir := newLeader(b, Config{SegmentBytes: 16 << 20})
	var bb BatchBuilder
	total, records := int64(0), 0
	for total < logBytes {
		n := benchRecords16K(&bb, value, 1_700_000_000_000+int64(records))
		batch := bb.Finish()
		if _, err := l.Append(0, batch); err != nil {
			b.Fatal(err)
		}
		total += int64(len(batch))
		records += n
	}
	bases, _ := listSegments(dir)
	var files []*os.File
	for _, base := range bases {
		f, err := os.Open(segmentPath(dir, base, logSuffix))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
	}
	plainBuf := make([]byte, readBytes)
	plainRead := func() {
		n := int64(0)
		for _, f := range files {
			for pos := int64(0); ; {
				k, err := f.ReadAt(plainBuf, pos)
				pos += int64(k)
				n += int64(k)
				if err != nil {
					break
				}
			}
		}
		if n != total {
			b.Fatalf("plain read %d bytes of %d", n, total)
		}
	}
	r, err := OpenReader(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 0, readBytes+benchBatchBytes)
	var it RecordIter
	var rec Record
	mkRead := func() {
		got := 0
		for off := int64(0); ; {
			var err error
			buf, _, err = r.ReadCommitted(buf[:0], off, readBytes)
			if err != nil {
				b.Fatal(err)
			}
			if len(buf) == 0 {
				break
			}
			for rest := buf; len(rest) > 0; {
				var batch []byte
				if batch, rest, err = NextBatch(rest); err != nil {
					b.Fatal(err)
				}
				if !decode {
					got += int(BatchLastOffset(batch) - max(off, BatchBaseOffset(batch)) + 1)
					off = BatchLastOffset(batch) + 1
					continue
				}
				if err := it.Reset(batch); err != nil {
					b.Fatal(err)
				}
				for it.Next(&rec) {
					if rec.Offset >= off {
						got++
						off = rec.Offset + 1
					}
				}
				if err := it.Err(); err != nil {
					b.Fatal(err)
				}
			}
		}
		if got != records {
			b.Fatalf("read %d records of %d", got, records)
		}
	}
	plainRead() // warm the page cache and both paths
	mkRead()
	b.SetBytes(total)
	b.ReportAllocs()
	b.ResetTimer()
	var plain time.Duration
	for range b.N {
		b.StopTimer()
		start := time.Now()
		plainRead()
		plain += time.Since(start)
		b.StartTimer()
		mkRead()
	}
	b.StopTimer()
	reportRatio(b, "ratio-vs-plain-read", plain, b.N, total, records)
	b.ReportMetric(testing.AllocsPerRun(3, mkRead)/float64(records), "allocs/record")
}
