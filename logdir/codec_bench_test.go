package logdir

import (
	"bytes"
	"hash/crc32"
	"testing"
)

// Quote these as ratios against the baselines in the same run (copying
// and checksumming the same bytes): the machines are shared and noisy.

const benchBatchSize = 16 << 10 // a typical producer batch.size

// BenchmarkEncodeBatch100B encodes 100-byte records into 16 KiB batches.
// One op is one record, so ns/op and allocs/op are per record.
func BenchmarkEncodeBatch100B(b *testing.B) {
	value := bytes.Repeat([]byte("x"), 100)
	var bb BatchBuilder
	b.ReportAllocs()
	b.SetBytes(int64(len(value)))
	for i := 0; b.Loop(); i++ {
		if bb.Size()+RecordSize(int64(i), int32(bb.Count()), nil, value, nil) > benchBatchSize {
			bb.Finish()
			bb.Reset()
		}
		bb.Add(1700000000000+int64(i), nil, value, nil)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// benchBatch is one 16 KiB batch of 100-byte records.
func benchBatch() []byte { return benchBatchOf(100) }

// benchBatchOf is one 16 KiB batch of records with values of size bytes.
func benchBatchOf(size int) []byte {
	value := bytes.Repeat([]byte("x"), size)
	var bb BatchBuilder
	for i := 0; bb.Size()+RecordSize(int64(i), int32(i), nil, value, nil) <= benchBatchSize; i++ {
		bb.Add(1700000000000+int64(i), nil, value, nil)
	}
	return bytes.Clone(bb.Finish())
}

// BenchmarkDecodeBatch verifies the CRC of a 16 KiB batch of 100-byte
// records and decodes every record. One op is one batch.
func BenchmarkDecodeBatch(b *testing.B) { benchmarkDecode(b, benchBatch()) }

// BenchmarkDecodeBatch1KiB is BenchmarkDecodeBatch with 1 KiB records,
// where the CRC rather than the per-record work dominates.
func BenchmarkDecodeBatch1KiB(b *testing.B) { benchmarkDecode(b, benchBatchOf(1<<10)) }

func benchmarkDecode(b *testing.B, batch []byte) {
	var it RecordIter
	var r Record
	records := 0
	b.ReportAllocs()
	b.SetBytes(int64(len(batch)))
	for b.Loop() {
		if err := VerifyBatch(batch); err != nil {
			b.Fatal(err)
		}
		it.Reset(batch)
		for it.Next(&r) {
			records++
		}
		if it.Err() != nil {
			b.Fatal(it.Err())
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkDecodeBatchCompressed is BenchmarkDecodeBatch for batches
// compressed as other clients write them.
func BenchmarkDecodeBatchCompressed(b *testing.B) {
	_, recs := decodeBatch(b, benchBatch())
	var in []testRecord
	deltas := make([]int32, len(recs))
	for i, r := range recs {
		in = append(in, testRecord{ts: r.Timestamp, value: r.Value})
		deltas[i] = int32(i)
	}
	for _, oc := range oracleCodecs[1:] {
		b.Run(oc.name, func(b *testing.B) {
			batch := kmsgBatch(b, oc.codec, 0, deltas, in)
			var it RecordIter
			var r Record
			records := 0
			b.ReportAllocs()
			b.SetBytes(int64(len(in) * 100)) // uncompressed record values
			for b.Loop() {
				if err := VerifyBatch(batch); err != nil {
					b.Fatal(err)
				}
				if err := it.Reset(batch); err != nil {
					b.Fatal(err)
				}
				for it.Next(&r) {
					records++
				}
			}
			b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkBaselineCopy16KiB copies a batch's worth of bytes: memory speed.
func BenchmarkBaselineCopy16KiB(b *testing.B) {
	src := benchBatch()
	dst := make([]byte, len(src))
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		copy(dst, src)
	}
}

// BenchmarkBaselineCRC16KiB is the CRC-32C alone over a batch.
func BenchmarkBaselineCRC16KiB(b *testing.B) {
	src := benchBatch()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		crc32.Checksum(src[offAttributes:], crcTable)
	}
}
