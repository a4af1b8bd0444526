package logdir

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// Scan must say of every batch what iterating it with Skip says: the same
// records accepted, the same maximum timestamp, the same records to
// refuse, and an error exactly when Skip finds one. These tests hold the
// one-pass, piece-by-piece Scan to the plain Reset-then-Skip walk.

// skipVerdict is Scan's answer computed the plain way, with it: inflate
// the whole batch (Reset), then Skip each record. It is also the walk
// validation made before Scan, which BenchmarkScan measures Scan against.
func skipVerdict(it *RecordIter, batch []byte, bounds TimestampBounds) (ScanResult, error) {
	if err := it.Reset(batch); err != nil {
		return ScanResult{}, err
	}
	res := ScanResult{MaxTimestamp: -1, Clean: true}
	h := it.Header()
	for i := int64(0); ; i++ {
		offset, ts, ok := it.Skip()
		if !ok {
			break
		}
		if offset-h.BaseOffset != i {
			res.Clean = false
		}
		if bounds.Check && ts != -1 {
			if d := bounds.Now - ts; d > bounds.BeforeMax || -d > bounds.AfterMax {
				res.Clean = false
			}
		}
		res.MaxTimestamp = max(res.MaxTimestamp, ts)
	}
	if err := it.Err(); err != nil {
		return ScanResult{}, err
	}
	return res, nil
}

// sameWords reports whether Scan's error must read as Skip's, word for
// word: for uncompressed records and a snappy block. A scan inflating a
// piece at a time (gzip, lz4, snappy-java's framing) may meet a bad record
// before a decoding error further on (Kafka's streaming iterator does
// too), and says how many bytes are left of what it holds rather than of
// the whole batch; zstd's decoder words an error by the size of the
// buffer it decodes into. For those only the kind of error is compared.
func sameWords(batch []byte) bool {
	h, err := ParseBatchHeader(batch)
	if err != nil {
		return true
	}
	switch h.Compression() {
	case CodecNone:
		return true
	case CodecSnappy:
		return !bytes.HasPrefix(batch[BatchHeaderSize:], []byte(xerialMagic))
	}
	return false
}

func checkScan(t *testing.T, it *RecordIter, name string, batch []byte, bounds TimestampBounds) (ok bool) {
	t.Helper()
	want, werr := skipVerdict(new(RecordIter), batch, bounds)
	got, gerr := it.Scan(batch, bounds)
	switch {
	case (werr == nil) != (gerr == nil):
		t.Errorf("%s: Scan = %+v, %v; Skip = %+v, %v", name, got, gerr, want, werr)
	case werr != nil && (errors.Is(werr, ErrCorrupt) != errors.Is(gerr, ErrCorrupt) ||
		errors.Is(werr, ErrUnsupportedCompression) != errors.Is(gerr, ErrUnsupportedCompression)):
		t.Errorf("%s: Scan error %v, Skip error %v", name, gerr, werr)
	case werr != nil && sameWords(batch) && werr.Error() != gerr.Error():
		t.Errorf("%s: Scan error %q, Skip error %q", name, gerr, werr)
	case werr == nil && got != want:
		t.Errorf("%s: Scan = %+v, Skip = %+v", name, got, want)
	default:
		return true
	}
	return false
}

// scanCodecs are the ways a batch's records come compressed, with
// snappy-java's framing cut into chunks that split records anywhere
// (inside a length varint, a header, a value).
var scanCodecs = append(append([]struct {
	name  string
	codec Codec
}{}, oracleCodecs...), []struct {
	name  string
	codec Codec
}{{"xerial 1", codecXerial1}, {"xerial 3", codecXerial3}, {"xerial 7", codecXerial7}, {"xerial 100", codecXerial100}}...)

// Test-only snappy-java framings with tiny chunks (see compressRecords).
const (
	codecXerial1   Codec = CodecSnappy | 0x20
	codecXerial3   Codec = CodecSnappy | 0x28
	codecXerial7   Codec = CodecSnappy | 0x30
	codecXerial100 Codec = CodecSnappy | 0x38
)

// compressRecords compresses payload with codec (the test framings
// included) and wraps it in a batch header with count records and a right
// CRC.
func compressRecords(t testing.TB, codec Codec, count int32, payload []byte) []byte {
	t.Helper()
	var compressed []byte
	switch codec {
	case codecXerial1:
		compressed = xerialSnappy(payload, 1)
	case codecXerial3:
		compressed = xerialSnappy(payload, 3)
	case codecXerial7:
		compressed = xerialSnappy(payload, 7)
	case codecXerial100:
		compressed = xerialSnappy(payload, 100)
	default:
		compressed = compress(t, codec, payload)
	}
	batch := rawBatch(count, compressed)
	binary.BigEndian.PutUint16(batch[offAttributes:], uint16(codec&attrCodecMask))
	return fixCRC(batch)
}

// randomRecords is the encoded records of a random batch: n records with
// keys and values of every kind (null, empty, short, long enough to span
// many chunks), headers, timestamps around base, offset deltas dense
// unless sparse.
func randomRecords(rng *rand.Rand, n int, base int64, sparse bool) []byte {
	field := func() []byte {
		switch rng.IntN(6) {
		case 0:
			return nil
		case 1:
			return []byte{}
		case 2:
			return bytes.Repeat([]byte{byte(rng.IntN(256))}, 100)
		case 3:
			return bytes.Repeat([]byte("x"), 40<<10)
		default:
			b := make([]byte, rng.IntN(300))
			for i := range b {
				b[i] = byte(rng.IntN(256))
			}
			return b
		}
	}
	var out []byte
	for i := range n {
		var headers []Header
		for range rng.IntN(3) {
			headers = append(headers, Header{Key: bytes.Repeat([]byte("h"), rng.IntN(200)), Value: field()})
		}
		delta := int32(i)
		if sparse && rng.IntN(4) == 0 {
			delta += 1 + int32(rng.IntN(3))
		}
		if sparse && rng.IntN(8) == 0 {
			delta = int32(rng.IntN(1 << 30)) // varints of 3 to 5 bytes
		}
		tsDelta := int64(rng.IntN(2000)) - 1000
		if rng.IntN(10) == 0 {
			tsDelta = -1 - base // no timestamp
		}
		out = appendRecord(out, tsDelta, delta, field(), field(), headers)
	}
	return out
}

func TestScanAgreesWithSkip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var it RecordIter // one iterator throughout: nothing may leak between batches
	bounds := []TimestampBounds{
		{},
		{Check: true, Now: 1_000_000, BeforeMax: math.MaxInt64, AfterMax: 3600_000},
		{Check: true, Now: 1_000_000, BeforeMax: 500, AfterMax: 500},
		{Check: true, Now: math.MinInt64 + 10, BeforeMax: 5, AfterMax: math.MaxInt64},
	}
	for round := range 30 {
		n := 1 + rng.IntN(30)
		payload := randomRecords(rng, n, 1_000_000, round%3 == 0)
		for _, c := range scanCodecs {
			if c.codec >= codecXerial1 && c.codec < codecXerial100 && len(payload) > 16<<10 {
				continue // a chunk every few bytes: kept to small batches for time
			}
			batch := compressRecords(t, c.codec, int32(n), payload)
			binary.BigEndian.PutUint64(batch[offBaseTimestamp:], 1_000_000)
			fixCRC(batch)
			for _, b := range bounds {
				checkScan(t, &it, c.name, batch, b)
			}
			// The count disagreeing with the records, both ways.
			for _, count := range []int32{int32(n) - 1, int32(n) + 1} {
				if count <= 0 {
					continue
				}
				wrong := bytes.Clone(batch)
				binary.BigEndian.PutUint32(wrong[offRecordCount:], uint32(count))
				checkScan(t, &it, c.name+" wrong count", fixCRC(wrong), bounds[1])
			}
		}
	}
}

// Scan reads the common record (varints of up to two bytes, three for the
// offset delta, no headers) without a call: at each varint's size
// boundaries, and a record's end one byte either side, it says what Skip
// says.
func TestScanVarintBoundaries(t *testing.T) {
	sizes := []int64{0, 1, 63, 64, 65, 8191, 8192, 1<<20 - 1, 1 << 20, 1<<27 - 1, 1 << 27, 1<<31 - 1}
	var it RecordIter
	for _, size := range sizes {
		for _, neg := range []bool{false, true} {
			v := size
			if neg {
				v = -size - 1
			}
			field := func(n int64) []byte {
				if n < 0 {
					return nil
				}
				return make([]byte, min(n, 9000))
			}
			for _, payload := range [][]byte{
				rec(raw(0), vl(v), vi(0), vi(-1), vi(1), raw('v'), vi(0)),
				rec(raw(0), vl(0), vi(int32(v)), vi(-1), vi(1), raw('v'), vi(0)),
				rec(raw(0), vl(0), vi(0), vi(int32(min(v, 9000))), field(v), vi(-1), vi(0)),
				rec(raw(0), vl(0), vi(0), vi(-1), vi(int32(min(v, 9000))), field(v), vi(0)),
				rec(raw(0), vl(0), vi(0), vi(-1), vi(int32(min(v, 9000))), field(v-1), vi(0)),
				rec(raw(0), vl(0), vi(0), vi(-1), vi(int32(min(v, 9000))), field(v+1), vi(0)),
				rec(raw(0), vl(0), vi(0), vi(-1), vi(int32(min(v, 9000))), field(v), vi(0), raw(0)),
				rec(raw(0), vl(0), vi(0), vi(-1), vi(int32(min(v, 9000))), field(v), vi(1)),
				rec(raw(0), vl(0), vi(0), vi(-1), vi(int32(min(v, 9000))), field(v), vi(1), vi(1), raw('h'), vi(-1)),
			} {
				for _, codec := range []Codec{CodecNone, CodecSnappy, codecXerial7} {
					batch := compressRecords(t, codec, 1, payload)
					checkScan(t, &it, "boundaries", batch, TimestampBounds{Check: true, Now: 100, BeforeMax: 1 << 20, AfterMax: 1 << 20})
				}
			}
		}
	}
}

// Offset deltas of three bytes (from 8192 on) are read right: a batch of
// 20000 dense records is clean, and one record off by one among them is
// found.
func TestScanLargeBatch(t *testing.T) {
	var it RecordIter
	for _, wrong := range []int{-1, 8191, 8192, 15000, 19999} {
		var payload []byte
		for i := range 20000 {
			delta := int32(i)
			if i == wrong {
				delta++
			}
			payload = appendRecord(payload, int64(i%200), delta, nil, []byte("v"), nil)
		}
		for _, codec := range []Codec{CodecNone, CodecSnappy} {
			batch := compressRecords(t, codec, 20000, payload)
			binary.BigEndian.PutUint64(batch[offBaseTimestamp:], 0)
			res, err := it.Scan(fixCRC(batch), TimestampBounds{})
			if err != nil || res.Clean != (wrong < 0) || res.MaxTimestamp != 199 {
				t.Errorf("record %d off by one, %v: Scan = %+v, %v", wrong, codec, res, err)
			}
		}
	}
}

// The malformed records of TestMalformedRecords, and cut records, under
// every codec and chunking: Scan refuses what Skip refuses.
func TestScanMalformed(t *testing.T) {
	okRecord := rec(raw(0), vl(0), vi(0), vi(1), raw('k'), vi(1), raw('v'), vi(0))
	bigRecord := rec(raw(0), vl(0), vi(1), vi(-1), vi(3000), bytes.Repeat([]byte("v"), 3000), vi(1), vi(1), raw('h'), vi(-1))
	cases := []struct {
		count   int32
		records []byte
	}{
		{2, okRecord},
		{1, append(bytes.Clone(okRecord), okRecord...)},
		{1, nil},
		{1, append(bytes.Clone(okRecord), 0)},
		{2, append(bytes.Clone(okRecord), bigRecord[:len(bigRecord)-1]...)},
		{2, append(bytes.Clone(okRecord), bigRecord[:1]...)},
		{2, append(bytes.Clone(okRecord), bigRecord...)},
		{3, append(append(bytes.Clone(okRecord), bigRecord...), 0x80, 0x80)},
		{1, raw(0x80, 0x80, 0x80, 0x80, 0x80, 0x01)},
		{1, raw(0x80)},
		{1, append(vi(-3), okRecord[1:]...)},
		{1, append(vi(200), okRecord[1:]...)},
		{1, append(vi(2), 0, 0)},
		{1, rec(raw(0), bytes.Repeat([]byte{0xff}, 11), vi(0), vi(-1), vi(-1), vi(0))},
		{1, rec(raw(0), vl(0), raw(0xff, 0xff, 0xff, 0xff, 0xff, 0xff))},
		{1, rec(raw(0), vl(0), vi(0), vi(100), raw('k'), vi(-1), vi(0))},
		{1, rec(raw(0), vl(0), vi(0), vi(-1), vi(50), raw('v'), vi(0))},
		{1, rec(raw(0), vl(0), vi(0), vi(-1), vi(-1), vi(-1), raw(0x80))},
		{1, rec(raw(0), vl(0), vi(0), vi(-1), vi(-1), vi(-1))},
		{1, rec(raw(0), vl(0), vi(0), vi(-1), vi(-1), vi(1000000), vi(1), raw('h'), vi(-1))},
		{1, rec(raw(0), vl(0), vi(0), vi(-1), vi(-1), raw(0x80), raw(0x80))},
		{1, rec(raw(0), vl(0), vi(0), vi(-1), vi(-1), vi(1), vi(-1), vi(-1))},
		{1, rec(raw(0), vl(0), vi(0), vi(-1), vi(-1), vi(1), vi(-1), vi(2), raw('x', 'y'))},
		{1, rec(raw(0), vl(0), vi(0), vi(-1), vi(-1), vi(2), vi(1), raw('h'), vi(-1), vi(-1), vi(2), raw('x', 'y'))},
		{1, rec(raw(0), vl(0), vi(0), vi(-1), vi(-1), vi(1), vi(1), raw('h'), vi(3), raw('x', 'y'))},
		{1, rec(raw(0), vl(0), vi(0), vi(-1), vi(-1), vi(-1), vi(1), raw('h'), vi(-1))},
		{1, rec(raw(0), vl(0), vi(0), vi(-1), vi(-1), vi(1), vi(9), raw('h'), vi(-1))},
		{1, rec(raw(0), vl(0), vi(0), vi(-1), vi(-1), vi(1), vi(1), raw('h'), vi(9), raw('x'))},
		{1, rec(raw(0), vl(0), vi(0), vi(-1), vi(-1), vi(0), raw(1, 2))},
		{1, rec(raw(0), vl(0), vi(0), vi(-1), vi(-1), vi(2), vi(1), raw('h'), vi(-1), vi(1), raw('g'), vi(-1), raw(7))},
	}
	var it RecordIter
	for i, c := range cases {
		for _, oc := range scanCodecs {
			batch := compressRecords(t, oc.codec, c.count, c.records)
			if checkScan(t, &it, oc.name, batch, TimestampBounds{}) {
				if _, err := it.Scan(batch, TimestampBounds{}); (err == nil) != (i == 6) {
					t.Errorf("case %d %s: Scan = %v", i, oc.name, err)
				}
			}
		}
	}
}

// A record straddling a chunk of snappy-java's framing is checked whole:
// its length varint split, its header split, its value spread over many
// chunks.
func TestScanRecordStraddlesChunks(t *testing.T) {
	recs := []testRecord{
		{ts: 10, key: []byte("k"), value: bytes.Repeat([]byte("a"), 200)}, // 2-byte length varint
		{ts: 11, value: bytes.Repeat([]byte("b"), 70<<10)},                // 3-byte length, over two 32 KiB chunks
		{ts: 12, key: []byte("k2"), headers: []Header{{Key: []byte("h"), Value: []byte("x")}}},
	}
	payload := kmsgBatch(t, CodecNone, 0, []int32{0, 1, 2}, recs)[BatchHeaderSize:]
	var it RecordIter
	for _, block := range []int{1, 2, 3, 204, 205, 206, 32 << 10} {
		batch := rawBatch(3, xerialSnappy(payload, block))
		binary.BigEndian.PutUint16(batch[offAttributes:], uint16(CodecSnappy))
		binary.BigEndian.PutUint64(batch[offBaseTimestamp:], 10)
		fixCRC(batch)
		res, err := it.Scan(batch, TimestampBounds{Check: true, Now: 12, BeforeMax: 2, AfterMax: 0})
		if err != nil || res != (ScanResult{MaxTimestamp: 12, Clean: true}) {
			t.Errorf("chunks of %d bytes: Scan = %+v, %v", block, res, err)
		}
		if res, err := it.Scan(batch, TimestampBounds{Check: true, Now: 12, BeforeMax: 1}); err != nil || res.Clean {
			t.Errorf("chunks of %d bytes, timestamp 10 out of bounds: Scan = %+v, %v", block, res, err)
		}
	}
}

// A chunk cut short, a chunk length cut short, a chunk whose snappy block
// is damaged, a stream of chunks ending inside a record: each is corrupt.
func TestScanXerialTruncated(t *testing.T) {
	payload := kmsgBatch(t, CodecNone, 0, []int32{0, 1}, []testRecord{{ts: 1, value: bytes.Repeat([]byte("v"), 5000)}, {ts: 2, value: []byte("w")}})[BatchHeaderSize:]
	framed := xerialSnappy(payload, 1024)
	first := 16 + 4 + int(binary.BigEndian.Uint32(framed[16:]))
	cases := map[string][]byte{
		"chunk cut short":         framed[:len(framed)-1],
		"chunk length cut short":  append(bytes.Clone(framed[:first]), 0, 0),
		"chunk length past end":   append(bytes.Clone(framed[:first]), 0, 0, 1, 0, 1, 2, 3),
		"empty chunk":             append(bytes.Clone(framed[:first]), 0, 0, 0, 0),
		"records end mid-record":  framed[:first],
		"chunk's block damaged":   append(append(bytes.Clone(framed[:first]), 0, 0, 0, 3), 50, 0, 1),
		"header only, no records": framed[:16],
	}
	var it RecordIter
	for name, f := range cases {
		batch := rawBatch(2, f)
		binary.BigEndian.PutUint16(batch[offAttributes:], uint16(CodecSnappy))
		fixCRC(batch)
		if _, err := it.Scan(batch, TimestampBounds{}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Scan = %v, want ErrCorrupt", name, err)
		}
		checkScan(t, &it, name, batch, TimestampBounds{})
	}
	// The size limit holds across chunks.
	defer func(old int) { maxDecompressedSize = old }(maxDecompressedSize)
	maxDecompressedSize = 4096
	batch := rawBatch(2, framed)
	binary.BigEndian.PutUint16(batch[offAttributes:], uint16(CodecSnappy))
	if _, err := it.Scan(fixCRC(batch), TimestampBounds{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "larger than the limit") {
		t.Errorf("over the size limit: Scan = %v", err)
	}
}

// Damaged and cut compressed bytes with a right CRC: Scan refuses exactly
// what Skip refuses, and never panics.
func TestScanCompressedCorruption(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	payload := randomRecords(rng, 20, 0, false)
	var it RecordIter
	for _, oc := range scanCodecs[1:] {
		good := compressRecords(t, oc.codec, 20, payload)
		for i := BatchHeaderSize; i < len(good); i += max(1, (len(good)-BatchHeaderSize)/60) {
			b := bytes.Clone(good)
			b[i] ^= 0x55
			checkScan(t, &it, oc.name+" damaged", fixCRC(b), TimestampBounds{})
		}
		for n := BatchHeaderSize; n < len(good); n += max(1, (len(good)-BatchHeaderSize)/30) {
			checkScan(t, &it, oc.name+" cut", fixCRC(rawBatchFrom(good, n)), TimestampBounds{})
		}
	}
}

// Scan keeps its buffer small for framed snappy: a batch whose records
// inflate to megabytes is checked in a buffer of about a chunk.
func TestScanBufferStaysSmall(t *testing.T) {
	var payload []byte
	for i := range 20000 {
		payload = appendRecord(payload, 0, int32(i), nil, make([]byte, 100), nil)
	}
	for _, codec := range []Codec{CodecSnappy, CodecGzip, CodecLZ4} {
		batch := compressRecords(t, codec, 20000, payload)
		var it RecordIter
		if res, err := it.Scan(batch, TimestampBounds{}); err != nil || !res.Clean {
			t.Fatalf("%v: %+v, %v", codec, res, err)
		}
		if c := cap(it.decompressed); c > 3*scanPiece {
			t.Errorf("%v: a %d-byte buffer for %d bytes of records", codec, c, len(payload))
		}
	}
	if testing.CoverMode() == "" {
		batch := compressRecords(t, CodecSnappy, 20000, payload)
		var it RecordIter
		it.Scan(batch, TimestampBounds{})
		if n := testing.AllocsPerRun(20, func() { it.Scan(batch, TimestampBounds{}) }); n != 0 {
			t.Errorf("%v allocations per Scan in steady state, want 0", n)
		}
	}
}

// FuzzScan: whatever the records, Scan and Skip agree.
func FuzzScan(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 6))
	f.Add(uint8(0), int32(3), randomRecords(rng, 3, 0, false))
	f.Add(uint8(2), int32(2), randomRecords(rng, 2, 0, true))
	f.Fuzz(func(t *testing.T, codec uint8, count int32, payload []byte) {
		if count < 0 || len(payload) > 64<<10 {
			return
		}
		c := scanCodecs[int(codec)%len(scanCodecs)]
		var it RecordIter
		checkScan(t, &it, c.name, compressRecords(t, c.codec, count, payload), TimestampBounds{Check: true, Now: 0, BeforeMax: 1000, AfterMax: 1000})
	})
}
