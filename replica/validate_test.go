package replica

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"strings"
	"testing"

	"github.com/klauspost/compress/snappy"

	"mk/logdir"
)

func defaultRules(now int64) batchRules {
	return batchRules{maxMessageBytes: 1 << 20, beforeMaxMs: math.MaxInt64, afterMaxMs: 3600000, now: now}
}

func recordsAt(ts ...int64) []byte {
	var b logdir.BatchBuilder
	for _, t := range ts {
		b.Add(t, []byte("k"), []byte("v"), []logdir.Header{{Key: []byte("h"), Value: nil}})
	}
	return append([]byte(nil), b.Finish()...)
}

func header(t *testing.T, b []byte) logdir.BatchHeader {
	t.Helper()
	if err := logdir.VerifyBatch(b); err != nil {
		t.Fatalf("patched batch fails its CRC: %v", err)
	}
	h, err := logdir.ParseBatchHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// A CreateTime batch keeps its records; its maxTimestamp becomes the
// largest record timestamp (a producer that lied is corrected), with the
// CRC computed again.
func TestValidateCreateTimeMaxTimestamp(t *testing.T) {
	b := recordsAt(5000, 9000, 7000)
	binary.BigEndian.PutUint64(b[35:], 1) // maxTimestamp, wrong
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	lat, err := validateProduced(b, defaultRules(10000))
	if err != nil || lat != -1 {
		t.Fatalf("validate: %d, %v", lat, err)
	}
	if h := header(t, b); h.MaxTimestamp != 9000 || h.LogAppendTime() {
		t.Fatalf("header after validation: %+v", h)
	}
}

// A LogAppendTime topic stamps the leader's clock on the batch and sets
// the timestamp type; a producer that sets LogAppendTime itself is refused.
func TestValidateLogAppendTime(t *testing.T) {
	b := recordsAt(5000, 6000)
	rules := defaultRules(12345)
	rules.logAppendTime = true
	lat, err := validateProduced(b, rules)
	if err != nil || lat != 12345 {
		t.Fatalf("validate: %d, %v", lat, err)
	}
	h := header(t, b)
	if !h.LogAppendTime() || h.MaxTimestamp != 12345 {
		t.Fatalf("header after validation: %+v", h)
	}
	var it logdir.RecordIter
	it.Reset(b)
	var r logdir.Record
	for it.Next(&r) {
		if r.Timestamp != 12345 {
			t.Fatalf("record timestamp %d", r.Timestamp)
		}
	}
	// b now claims LogAppendTime: a producer may not.
	_, err = validateProduced(b, rules)
	var re *RecordErrors
	if !errors.Is(err, ErrInvalidTimestamp) || !errors.As(err, &re) || len(re.Records) != 2 {
		t.Fatalf("a producer's LogAppendTime batch: %v", err)
	}
}

func TestValidateTimestampBounds(t *testing.T) {
	rules := defaultRules(100000)
	rules.beforeMaxMs = 1000
	rules.afterMaxMs = 10
	for _, c := range []struct {
		ts   int64
		want error
	}{{100000, nil}, {99000, nil}, {98999, ErrInvalidTimestamp}, {100010, nil}, {100011, ErrInvalidTimestamp}, {-1, nil}} {
		_, err := validateProduced(recordsAt(100000, c.ts), rules)
		if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("timestamp %d: %v, want %v", c.ts, err, c.want)
		}
		var re *RecordErrors
		if c.want != nil && (!errors.As(err, &re) || len(re.Records) != 1 || re.Records[0].Index != 1) {
			t.Errorf("timestamp %d: record errors %+v", c.ts, re)
		}
	}
}

// FuzzValidateProduced: whatever bytes a client sends, validation returns
// an error or leaves a batch that passes its CRC and decodes to exactly
// its record count with dense offsets; it never panics.
func FuzzValidateProduced(f *testing.F) {
	f.Add(recordsAt(1000, 2000))
	f.Add(recordsAt(1000)[:40])
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 26 || b[16] != 2 || int(int32(binary.BigEndian.Uint32(b[8:])))+12 != len(b) {
			return // server.firstBatch hands over only a whole magic-2 batch
		}
		if len(b) >= 21 && b[0]&1 == 0 {
			// Mostly with a right CRC, so that the fuzzer reaches the
			// records rather than stopping at the checksum.
			binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
		}
		if _, err := validateProduced(b, defaultRules(1500)); err != nil {
			return
		}
		h := header(t, b)
		var it logdir.RecordIter
		if err := it.Reset(b); err != nil {
			t.Fatalf("accepted batch does not decode: %v", err)
		}
		var r logdir.Record
		n := int64(0)
		for it.Next(&r) {
			if r.Offset != h.BaseOffset+n {
				t.Fatalf("record %d at offset %d", n, r.Offset)
			}
			n++
		}
		if it.Err() != nil || n != int64(h.RecordCount) {
			t.Fatalf("accepted batch: %d of %d records, %v", n, h.RecordCount, it.Err())
		}
	})
}

// snappied is b (an uncompressed batch) with its records compressed by
// snappy: in snappy-java's framing with chunks of chunk bytes, or as one
// block when chunk is 0. The header keeps its fields; the CRC is computed
// again.
func snappied(b []byte, chunk int) []byte {
	records := b[logdir.BatchHeaderSize:]
	var out []byte
	if chunk == 0 {
		out = snappy.Encode(nil, records)
	} else {
		out = append([]byte("\x82SNAPPY\x00"), 0, 0, 0, 1, 0, 0, 0, 1)
		for len(records) > 0 {
			n := min(chunk, len(records))
			block := snappy.Encode(nil, records[:n])
			out = binary.BigEndian.AppendUint32(out, uint32(len(block)))
			out = append(out, block...)
			records = records[n:]
		}
	}
	batch := append(bytes.Clone(b[:logdir.BatchHeaderSize]), out...)
	binary.BigEndian.PutUint32(batch[8:], uint32(len(batch)-12))
	batch[22] = batch[22]&^7 | byte(logdir.CodecSnappy)
	binary.BigEndian.PutUint32(batch[17:], crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli)))
	return batch
}

// Snappy batches, as one block and in snappy-java's chunks (of 7 bytes:
// every record straddles chunks, its length varint split too): accepted
// with the right maxTimestamp; a chunk cut short, a record count above the
// records (the header's offsets agreeing with it), records out of order
// and timestamps out of range refused as for an uncompressed batch.
func TestValidateSnappyChunks(t *testing.T) {
	var bb logdir.BatchBuilder
	for i := range 50 {
		bb.Add(int64(5000+i*10), []byte("key"), bytes.Repeat([]byte{byte(i)}, 100+i), []logdir.Header{{Key: []byte("h"), Value: []byte("x")}})
	}
	plain := bytes.Clone(bb.Finish())
	for _, chunk := range []int{0, 7, 100, 32 << 10} {
		b := snappied(plain, chunk)
		binary.BigEndian.PutUint64(b[35:], 1) // maxTimestamp, wrong
		binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
		if lat, err := validateProduced(b, defaultRules(10000)); err != nil || lat != -1 {
			t.Fatalf("chunks of %d: %d, %v", chunk, lat, err)
		}
		if h := header(t, b); h.MaxTimestamp != 5490 || h.Compression() != logdir.CodecSnappy {
			t.Errorf("chunks of %d: header after validation %+v", chunk, h)
		}

		cut := snappied(plain, chunk)
		cut = cut[:len(cut)-3]
		binary.BigEndian.PutUint32(cut[8:], uint32(len(cut)-12))
		binary.BigEndian.PutUint32(cut[17:], crc32.Checksum(cut[21:], crc32.MakeTable(crc32.Castagnoli)))
		if _, err := validateProduced(cut, defaultRules(10000)); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("chunks of %d, cut short: %v", chunk, err)
		}

		more := snappied(plain, chunk)
		binary.BigEndian.PutUint32(more[23:], 50) // lastOffsetDelta
		binary.BigEndian.PutUint32(more[57:], 51) // recordCount
		binary.BigEndian.PutUint32(more[17:], crc32.Checksum(more[21:], crc32.MakeTable(crc32.Castagnoli)))
		if _, err := validateProduced(more, defaultRules(10000)); !errors.Is(err, ErrInvalidRecord) || !strings.Contains(err.Error(), "ends after 50 of 51") {
			t.Errorf("chunks of %d, one record more counted than sent: %v", chunk, err)
		}
		fewer := snappied(plain, chunk)
		binary.BigEndian.PutUint32(fewer[23:], 48)
		binary.BigEndian.PutUint32(fewer[57:], 49)
		binary.BigEndian.PutUint32(fewer[17:], crc32.Checksum(fewer[21:], crc32.MakeTable(crc32.Castagnoli)))
		if _, err := validateProduced(fewer, defaultRules(10000)); !errors.Is(err, ErrInvalidRecord) || !strings.Contains(err.Error(), "after the last of 49") {
			t.Errorf("chunks of %d, one record fewer counted than sent: %v", chunk, err)
		}

		rules := defaultRules(10000)
		rules.beforeMaxMs = 10000 - 5100 // the records before 5100 are too old
		var re *RecordErrors
		if _, err := validateProduced(snappied(plain, chunk), rules); !errors.Is(err, ErrInvalidTimestamp) || !errors.As(err, &re) || len(re.Records) != 10 || re.Records[9].Index != 9 {
			t.Errorf("chunks of %d, ten records too old: %v", chunk, err)
		}
	}
	// Offsets not dense, compressed: every record is listed.
	var skew logdir.BatchBuilder
	for i := range 3 {
		skew.Add(int64(5000+i), nil, []byte("v"), nil)
	}
	b := bytes.Clone(skew.Finish())
	// The three records' offset deltas (each the record's fourth byte:
	// length, attributes, timestamp delta, offset delta) become 1, 2, 3.
	for i, p := 0, logdir.BatchHeaderSize; i < 3; i++ {
		b[p+3] = byte(2 * (i + 1))
		p += 1 + int(b[p])/2
	}
	var re *RecordErrors
	if _, err := validateProduced(snappied(b, 5), defaultRules(10000)); !errors.Is(err, ErrInvalidRecord) || !errors.As(err, &re) || len(re.Records) != 3 {
		t.Errorf("offsets 1, 2, 3 in a snappy batch: %v", err)
	}
}

// Validating a batch allocates nothing once the pooled iterator's buffer
// has grown: a producer's batches come one after another.
func TestValidateSteadyStateAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage counters allocate")
	}
	var bb logdir.BatchBuilder
	for i := range 5000 {
		bb.Add(int64(5000+i), nil, make([]byte, 100), nil)
	}
	plain := bytes.Clone(bb.Finish())
	for name, b := range map[string][]byte{"none": plain, "snappy block": snappied(plain, 0), "snappy-java": snappied(plain, 32<<10)} {
		validateProduced(b, defaultRules(10000))
		if n := testing.AllocsPerRun(20, func() {
			if _, err := validateProduced(b, defaultRules(10000)); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocations per batch, want 0", name, n)
		}
	}
}
