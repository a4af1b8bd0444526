package logdir

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// testRecord is a record as a producer hands it to BatchBuilder.Add.
type testRecord struct {
	ts      int64
	key     []byte
	value   []byte
	headers []Header
}

// buildBatch encodes recs with a fresh BatchBuilder.
func buildBatch(recs []testRecord) []byte {
	var b BatchBuilder
	for _, r := range recs {
		b.Add(r.ts, r.key, r.value, r.headers)
	}
	return bytes.Clone(b.Finish())
}

// decodeBatch verifies batch, iterates it and returns deep copies of its
// records, failing the test on any error.
func decodeBatch(t testing.TB, batch []byte) (BatchHeader, []Record) {
	t.Helper()
	if err := VerifyBatch(batch); err != nil {
		t.Fatalf("VerifyBatch: %v", err)
	}
	var it RecordIter
	if err := it.Reset(batch); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	recs := iterate(&it)
	if err := it.Err(); err != nil {
		t.Fatalf("iterating: %v", err)
	}
	return it.Header(), recs
}

// iterate copies out every record an iterator yields.
func iterate(it *RecordIter) []Record {
	var recs []Record
	var r Record
	for it.Next(&r) {
		recs = append(recs, cloneRecord(r))
	}
	return recs
}

// cloneRecord deep-copies r, keeping nil apart from empty, and makes an
// empty header list nil so that records compare with reflect.DeepEqual.
func cloneRecord(r Record) Record {
	c := Record{Offset: r.Offset, Timestamp: r.Timestamp, Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value)}
	for _, h := range r.Headers {
		c.Headers = append(c.Headers, Header{Key: bytes.Clone(h.Key), Value: bytes.Clone(h.Value)})
	}
	return c
}

// wantRecords is what decoding recs, encoded from offset base, gives.
func wantRecords(base int64, recs []testRecord) []Record {
	var want []Record
	for i, r := range recs {
		w := Record{Offset: base + int64(i), Timestamp: r.ts, Key: bytes.Clone(r.key), Value: bytes.Clone(r.value)}
		for _, h := range r.headers {
			k := bytes.Clone(h.Key)
			if k == nil {
				k = []byte{} // header keys are not nullable: nil is written as empty
			}
			w.Headers = append(w.Headers, Header{Key: k, Value: bytes.Clone(h.Value)})
		}
		want = append(want, w)
	}
	return want
}

// fixCRC recomputes the CRC after a test has edited a batch.
func fixCRC(batch []byte) []byte {
	binary.BigEndian.PutUint32(batch[offCRC:], crc32.Checksum(batch[offAttributes:], crc32.MakeTable(crc32.Castagnoli)))
	return batch
}

// rawBatch wraps hand-made record bytes in a valid header with count
// records and a correct CRC, to test what the record decoder does with them.
func rawBatch(count int32, records []byte) []byte {
	var b BatchBuilder
	h := b.Finish()
	batch := append(bytes.Clone(h), records...)
	binary.BigEndian.PutUint32(batch[offBatchLength:], uint32(len(batch)-batchLengthOverhead))
	binary.BigEndian.PutUint32(batch[offRecordCount:], uint32(count))
	binary.BigEndian.PutUint32(batch[offLastOffsetDelta:], uint32(count-1))
	return fixCRC(batch)
}

func TestBatchHeaderLayout(t *testing.T) {
	// The offsets must add up to the sizes of Kafka's fields, in order.
	fields := []struct {
		name       string
		off, size  int
		nextOffset int
	}{
		{"baseOffset", offBaseOffset, 8, offBatchLength},
		{"batchLength", offBatchLength, 4, offLeaderEpoch},
		{"partitionLeaderEpoch", offLeaderEpoch, 4, offMagic},
		{"magic", offMagic, 1, offCRC},
		{"crc", offCRC, 4, offAttributes},
		{"attributes", offAttributes, 2, offLastOffsetDelta},
		{"lastOffsetDelta", offLastOffsetDelta, 4, offBaseTimestamp},
		{"baseTimestamp", offBaseTimestamp, 8, offMaxTimestamp},
		{"maxTimestamp", offMaxTimestamp, 8, offProducerID},
		{"producerId", offProducerID, 8, offProducerEpoch},
		{"producerEpoch", offProducerEpoch, 2, offBaseSequence},
		{"baseSequence", offBaseSequence, 4, offRecordCount},
		{"recordCount", offRecordCount, 4, BatchHeaderSize},
	}
	for _, f := range fields {
		if f.off+f.size != f.nextOffset {
			t.Errorf("%s at %d size %d ends at %d, next field at %d", f.name, f.off, f.size, f.off+f.size, f.nextOffset)
		}
	}
	if minBatchLength != 49 { // Kafka: RECORD_BATCH_OVERHEAD (61) - LOG_OVERHEAD (12)
		t.Errorf("minBatchLength = %d, want 49", minBatchLength)
	}
}

func TestBuilderHeader(t *testing.T) {
	var b BatchBuilder
	b.Add(1000, []byte("k"), []byte("v"), nil)
	b.Add(900, nil, []byte("v"), nil)  // earlier than the first: negative delta
	b.Add(1500, nil, []byte("v"), nil) // the largest
	b.Add(1200, nil, []byte("v"), nil)
	batch := b.Finish()
	if len(batch) != b.Size() {
		t.Errorf("Finish gave %d bytes, Size said %d", len(batch), b.Size())
	}
	h, err := ParseBatchHeader(batch)
	if err != nil {
		t.Fatal(err)
	}
	want := BatchHeader{
		BaseOffset: 0, BatchLength: int32(len(batch) - 12), PartitionLeaderEpoch: -1, Magic: 2,
		CRC: crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli)), Attributes: 0,
		LastOffsetDelta: 3, BaseTimestamp: 1000, MaxTimestamp: 1500,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, RecordCount: 4,
	}
	if h != want {
		t.Errorf("header\n got %+v\nwant %+v", h, want)
	}
	if h.Size() != len(batch) || h.LastOffset() != 3 || h.Compression() != CodecNone ||
		h.IsControl() || h.IsTransactional() || h.LogAppendTime() {
		t.Errorf("accessors wrong for %+v", h)
	}
	if err := VerifyBatch(batch); err != nil {
		t.Fatal(err)
	}

	// The appender's patches are outside the CRC.
	SetBaseOffset(batch, 1<<40)
	SetLeaderEpoch(batch, 7)
	if err := VerifyBatch(batch); err != nil {
		t.Fatalf("after setting base offset and leader epoch: %v", err)
	}
	if got := BatchBaseOffset(batch); got != 1<<40 {
		t.Errorf("BatchBaseOffset = %d", got)
	}
	if got := BatchLastOffset(batch); got != 1<<40+3 {
		t.Errorf("BatchLastOffset = %d", got)
	}
	h, _ = ParseBatchHeader(batch)
	if h.BaseOffset != 1<<40 || h.PartitionLeaderEpoch != 7 {
		t.Errorf("after patch: %+v", h)
	}
	_, recs := decodeBatch(t, batch)
	for i, r := range recs {
		if r.Offset != 1<<40+int64(i) {
			t.Errorf("record %d has offset %d", i, r.Offset)
		}
	}
}

func TestBuilderEmptyAndReuse(t *testing.T) {
	var b BatchBuilder
	if b.Size() != BatchHeaderSize || b.Count() != 0 {
		t.Fatalf("zero builder: size %d count %d", b.Size(), b.Count())
	}
	empty := b.Finish()
	h, recs := decodeBatch(t, empty)
	if len(empty) != BatchHeaderSize || h.RecordCount != 0 || h.LastOffsetDelta != -1 ||
		h.BaseTimestamp != -1 || h.MaxTimestamp != -1 || len(recs) != 0 {
		t.Errorf("empty batch: %d bytes, %+v, %d records", len(empty), h, len(recs))
	}

	// A reused builder must give the same bytes as a fresh one.
	first := []testRecord{{ts: 5, key: []byte("a"), value: []byte("first batch")}, {ts: 6, value: []byte("x")}}
	second := []testRecord{{ts: 99, value: []byte("second")}}
	for _, r := range first {
		b.Add(r.ts, r.key, r.value, r.headers)
	}
	b.Finish()
	b.Reset()
	if b.Count() != 0 || b.Size() != BatchHeaderSize {
		t.Fatalf("after Reset: count %d size %d", b.Count(), b.Size())
	}
	for _, r := range second {
		b.Add(r.ts, r.key, r.value, r.headers)
	}
	if got, want := b.Finish(), buildBatch(second); !bytes.Equal(got, want) {
		t.Errorf("reused builder\n got %x\nwant %x", got, want)
	}
}

func TestRecordSizeMatchesAdd(t *testing.T) {
	var b BatchBuilder
	recs := []testRecord{
		{ts: 0},
		{ts: -1 << 40, key: []byte{}, value: bytes.Repeat([]byte("v"), 200)},
		{ts: 1 << 50, key: bytes.Repeat([]byte("k"), 70000), headers: []Header{{Key: []byte("h"), Value: nil}, {Value: []byte("x")}}},
	}
	base := recs[0].ts
	for i, r := range recs {
		before := b.Size()
		predicted := RecordSize(r.ts-base, int32(i), r.key, r.value, r.headers)
		b.Add(r.ts, r.key, r.value, r.headers)
		if got := b.Size() - before; got != predicted {
			t.Errorf("record %d: RecordSize %d, Add grew the batch by %d", i, predicted, got)
		}
	}
}

func TestCodecString(t *testing.T) {
	for c, want := range map[Codec]string{CodecNone: "none", CodecGzip: "gzip", CodecSnappy: "snappy", CodecLZ4: "lz4", CodecZstd: "zstd", 5: "codec(5)"} {
		if c.String() != want {
			t.Errorf("Codec(%d).String() = %q, want %q", c, c.String(), want)
		}
	}
}

func TestVerifyBatchCorruption(t *testing.T) {
	good := buildBatch([]testRecord{
		{ts: 1700000000000, key: []byte("key"), value: []byte("value"), headers: []Header{{Key: []byte("h"), Value: []byte("hv")}}},
		{ts: 1700000000001, value: nil},
	})
	if err := VerifyBatch(good); err != nil {
		t.Fatal(err)
	}
	wantCorrupt := func(t *testing.T, what string, b []byte) {
		t.Helper()
		err := VerifyBatch(b)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: VerifyBatch = %v, want ErrCorrupt", what, err)
		}
		// Whatever VerifyBatch says, decoding must not panic.
		var it RecordIter
		if it.Reset(b) == nil {
			iterate(&it)
		}
	}

	t.Run("flipped byte", func(t *testing.T) {
		// Every byte from magic on is covered by the magic check, the
		// CRC itself or the CRC's range; batchLength by the size check.
		for i := offBatchLength; i < len(good); i++ {
			if i >= offLeaderEpoch && i < offMagic {
				continue // the leader epoch is outside the CRC on purpose
			}
			for _, mask := range []byte{0x01, 0x80, 0xff} {
				b := bytes.Clone(good)
				b[i] ^= mask
				wantCorrupt(t, "byte "+strconv.Itoa(i), b)
			}
		}
	})
	t.Run("truncated", func(t *testing.T) {
		for n := 0; n < len(good); n++ {
			wantCorrupt(t, "length "+strconv.Itoa(n), good[:n])
		}
	})
	t.Run("trailing bytes", func(t *testing.T) {
		wantCorrupt(t, "one extra byte", append(bytes.Clone(good), 0))
	})
	t.Run("wrong magic", func(t *testing.T) {
		for _, m := range []byte{0, 1, 3, 0xff} {
			b := bytes.Clone(good)
			b[offMagic] = m
			_, err := ParseBatchHeader(b)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "magic") {
				t.Errorf("magic %d: %v", m, err)
			}
		}
	})
	t.Run("batch length too small", func(t *testing.T) {
		for _, l := range []int32{-1, 0, 48, -1 << 31} {
			b := bytes.Clone(good)
			binary.BigEndian.PutUint32(b[offBatchLength:], uint32(l))
			wantCorrupt(t, "batch length "+strconv.Itoa(int(l)), b)
		}
	})
	t.Run("negative record count", func(t *testing.T) {
		b := bytes.Clone(good)
		binary.BigEndian.PutUint32(b[offRecordCount:], 0xffffffff)
		if _, err := ParseBatchHeader(fixCRC(b)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("ParseBatchHeader = %v", err)
		}
		wantCorrupt(t, "negative count", b)
	})
}

func TestParseBatchHeaderFields(t *testing.T) {
	// Every field read from its own place: give each a distinct value.
	b := make([]byte, BatchHeaderSize)
	be := binary.BigEndian
	be.PutUint64(b[offBaseOffset:], 0x0102030405060708)
	be.PutUint32(b[offBatchLength:], 49)
	be.PutUint32(b[offLeaderEpoch:], 0x11121314)
	b[offMagic] = 2
	be.PutUint32(b[offCRC:], 0x21222324)
	be.PutUint16(b[offAttributes:], 0x0034)
	be.PutUint32(b[offLastOffsetDelta:], 0x41424344)
	be.PutUint64(b[offBaseTimestamp:], 0x5152535455565758)
	be.PutUint64(b[offMaxTimestamp:], 0x6162636465666768)
	be.PutUint64(b[offProducerID:], 0x7172737475767778)
	be.PutUint16(b[offProducerEpoch:], 0x0182)
	be.PutUint32(b[offBaseSequence:], 0x01929394)
	be.PutUint32(b[offRecordCount:], 0x01a2a3a4)
	h, err := ParseBatchHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	want := BatchHeader{0x0102030405060708, 49, 0x11121314, 2, 0x21222324, 0x0034, 0x41424344,
		0x5152535455565758, 0x6162636465666768, 0x7172737475767778, 0x0182, 0x01929394, 0x01a2a3a4}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("got  %+v\nwant %+v", h, want)
	}
	// Attributes 0x34: codec 4, transactional, control; not LogAppendTime.
	if h.Compression() != CodecZstd || !h.IsTransactional() || !h.IsControl() || h.LogAppendTime() {
		t.Errorf("attribute accessors wrong for %#x", h.Attributes)
	}
}
