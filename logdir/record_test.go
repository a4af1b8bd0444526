package logdir

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestVarint(t *testing.T) {
	// Vectors from Kafka's ByteUtilsTest (writeVarint/writeVarlong).
	for _, c := range []struct {
		v    int64
		want []byte
	}{
		{0, []byte{0x00}},
		{-1, []byte{0x01}},
		{1, []byte{0x02}},
		{63, []byte{0x7e}},
		{-64, []byte{0x7f}},
		{64, []byte{0x80, 0x01}},
		{-65, []byte{0x81, 0x01}},
		{8191, []byte{0xfe, 0x7f}},
		{-8192, []byte{0xff, 0x7f}},
		{8192, []byte{0x80, 0x80, 0x01}},
		{math.MaxInt32, []byte{0xfe, 0xff, 0xff, 0xff, 0x0f}},
		{math.MinInt32, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}},
		{math.MaxInt64, []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{math.MinInt64, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
	} {
		if got := appendVarlong(nil, c.v); !bytes.Equal(got, c.want) {
			t.Errorf("appendVarlong(%d) = %x, want %x", c.v, got, c.want)
		}
		if sizeVarlong(c.v) != len(c.want) {
			t.Errorf("sizeVarlong(%d) = %d, want %d", c.v, sizeVarlong(c.v), len(c.want))
		}
		if v, n := readVarlong(c.want); v != c.v || n != len(c.want) {
			t.Errorf("readVarlong(%x) = %d, %d", c.want, v, n)
		}
		if c.v < math.MinInt32 || c.v > math.MaxInt32 {
			continue
		}
		if got := appendVarint(nil, int32(c.v)); !bytes.Equal(got, c.want) {
			t.Errorf("appendVarint(%d) = %x, want %x", c.v, got, c.want)
		}
		if sizeVarint(int32(c.v)) != len(c.want) {
			t.Errorf("sizeVarint(%d) = %d", c.v, sizeVarint(int32(c.v)))
		}
		if v, n := readVarint(c.want); int64(v) != c.v || n != len(c.want) {
			t.Errorf("readVarint(%x) = %d, %d", c.want, v, n)
		}
	}

	// Against encoding/binary's zig-zag varint, which is the same format.
	for _, v := range []int64{2, -2, 127, 128, -129, 1 << 20, -1 << 27, 1<<31 - 1, 1 << 35, -1 << 62} {
		want := binary.AppendVarint(nil, v)
		if got := appendVarlong(nil, v); !bytes.Equal(got, want) {
			t.Errorf("appendVarlong(%d) = %x, encoding/binary gives %x", v, got, want)
		}
	}

	// appendVarint's one- and two-byte fast path and the bytes around it.
	for v := int64(-20000); v <= 20000; v++ {
		if got, want := appendVarint(nil, int32(v)), binary.AppendVarint(nil, v); !bytes.Equal(got, want) {
			t.Fatalf("appendVarint(%d) = %x, encoding/binary gives %x", v, got, want)
		}
	}

	// Malformed: empty, cut short, longer than Kafka allows.
	for _, b := range [][]byte{nil, {0x80}, {0xff, 0xff}, {0x80, 0x80, 0x80, 0x80, 0x80, 0x01}} {
		if _, n := readVarint(b); n != 0 {
			t.Errorf("readVarint(%x) read %d bytes, want failure", b, n)
		}
	}
	if _, n := readVarlong(bytes.Repeat([]byte{0x80}, 10)); n != 0 {
		t.Error("readVarlong accepted 10 continuation bytes")
	}
	if _, n := readVarlong(append(bytes.Repeat([]byte{0x80}, 10), 0)); n != 0 {
		t.Error("readVarlong accepted an 11-byte varlong")
	}
	// Kafka reads a 5-byte varint whose last byte overflows 32 bits,
	// dropping the extra bits; so does mk.
	if v, n := readVarint([]byte{0xfe, 0xff, 0xff, 0xff, 0x7f}); n != 5 || v != math.MaxInt32 {
		t.Errorf("overflowing 5-byte varint: %d, %d", v, n)
	}
}

// roundTripCase is a batch's worth of records that must survive encoding
// and decoding unchanged; the oracle and fuzz tests use them too.
type roundTripCase struct {
	name string
	recs []testRecord
}

func roundTripCases() []roundTripCase {
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	mib := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	var many []testRecord
	for i := range 5000 {
		many = append(many, testRecord{ts: 1700000000000 + int64(i), key: []byte{byte(i), byte(i >> 8)}, value: bytes.Repeat([]byte{'v'}, i%300)})
	}
	var manyHeaders []Header
	for i := range 300 {
		manyHeaders = append(manyHeaders, Header{Key: []byte("header-" + string(rune('a'+i%26))), Value: bytes.Repeat([]byte{byte(i)}, i%5)})
	}
	manyHeaders = append(manyHeaders, Header{Key: []byte("null"), Value: nil}, Header{Key: []byte{}, Value: []byte{}})

	return []roundTripCase{
		{"one record", []testRecord{{ts: 1, key: []byte("k"), value: []byte("v")}}},
		{"null key", []testRecord{{ts: 1, key: nil, value: []byte("v")}}},
		{"empty key", []testRecord{{ts: 1, key: []byte{}, value: []byte("v")}}},
		{"tombstone", []testRecord{{ts: 1, key: []byte("k"), value: nil}}},
		{"empty value", []testRecord{{ts: 1, key: []byte("k"), value: []byte{}}}},
		{"null key and value", []testRecord{{ts: 1}}},
		{"all byte values", []testRecord{{ts: 1, key: allBytes, value: allBytes, headers: []Header{{Key: allBytes, Value: allBytes}}}}},
		{"many headers", []testRecord{{ts: 1, value: []byte("v"), headers: manyHeaders}, {ts: 2, headers: manyHeaders[:1]}}},
		{"null header value", []testRecord{{ts: 1, headers: []Header{{Key: []byte("a"), Value: nil}, {Key: []byte("b"), Value: []byte{}}}}}},
		{"nil header key written empty", []testRecord{{ts: 1, headers: []Header{{Key: nil, Value: []byte("v")}}}}},
		{"1 MiB value", []testRecord{{ts: 1, key: []byte("big"), value: mib}, {ts: 2, value: []byte("after")}}},
		{"1 MiB key and header", []testRecord{{ts: 1, key: mib, headers: []Header{{Key: []byte("h"), Value: mib}}}}},
		{"many records", many},
		{"timestamps out of order", []testRecord{{ts: 500}, {ts: 100}, {ts: 900}, {ts: 300}, {ts: 900}, {ts: -5}}},
		{"negative timestamps", []testRecord{{ts: -1}, {ts: -1000}, {ts: 0}}},
		{"extreme timestamps", []testRecord{{ts: math.MaxInt64}, {ts: math.MinInt64}, {ts: 0}}},
	}
}

func TestRoundTrip(t *testing.T) {
	cases := roundTripCases()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			batch := buildBatch(c.recs)
			h, got := decodeBatch(t, batch)
			want := wantRecords(0, c.recs)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("records differ:\n got %s\nwant %s", summarize(got), summarize(want))
			}
			maxTS := c.recs[0].ts
			for _, r := range c.recs {
				maxTS = max(maxTS, r.ts)
			}
			if h.BaseTimestamp != c.recs[0].ts || h.MaxTimestamp != maxTS {
				t.Errorf("base/max timestamp %d/%d, want %d/%d", h.BaseTimestamp, h.MaxTimestamp, c.recs[0].ts, maxTS)
			}
			if int(h.RecordCount) != len(c.recs) || int(h.LastOffsetDelta) != len(c.recs)-1 {
				t.Errorf("count %d, lastOffsetDelta %d for %d records", h.RecordCount, h.LastOffsetDelta, len(c.recs))
			}
		})
	}
}

// summarize keeps failure messages readable when values are megabytes.
func summarize(recs []Record) string {
	var sb strings.Builder
	for i, r := range recs {
		if i == 8 {
			sb.WriteString(" ...")
			break
		}
		sb.WriteString("\n\t")
		sb.WriteString(strings.TrimSpace(short(r)))
	}
	return sb.String()
}

func short(r Record) string {
	f := func(b []byte) string {
		if b == nil {
			return "null"
		}
		if len(b) > 16 {
			return string(b[:16]) + "...(" + strconv.Itoa(len(b)) + ")"
		}
		return "\"" + string(b) + "\""
	}
	s := "off=" + strconv.Itoa(int(r.Offset)) + " ts=" + strconv.Itoa(int(r.Timestamp)) + " key=" + f(r.Key) + " value=" + f(r.Value)
	for _, h := range r.Headers {
		s += " " + f(h.Key) + ":" + f(h.Value)
	}
	return s
}

func TestLogAppendTime(t *testing.T) {
	batch := buildBatch([]testRecord{{ts: 10}, {ts: 30}, {ts: 20}})
	binary.BigEndian.PutUint16(batch[offAttributes:], attrLogAppendTime)
	binary.BigEndian.PutUint64(batch[offMaxTimestamp:], 777)
	_, recs := decodeBatch(t, fixCRC(batch))
	for _, r := range recs {
		if r.Timestamp != 777 {
			t.Errorf("record %d: timestamp %d, want the batch's append time 777", r.Offset, r.Timestamp)
		}
	}
}

func TestControlAndTransactionalDecode(t *testing.T) {
	// A commit marker as Kafka writes it: key version 0, type 1; value
	// version 0, coordinator epoch 5.
	batch := buildBatch([]testRecord{{ts: 1, key: []byte{0, 0, 0, 1}, value: []byte{0, 0, 0, 0, 0, 5}}})
	binary.BigEndian.PutUint16(batch[offAttributes:], attrTransactional|attrControl)
	h, recs := decodeBatch(t, fixCRC(batch))
	if !h.IsControl() || !h.IsTransactional() || len(recs) != 1 || !bytes.Equal(recs[0].Key, []byte{0, 0, 0, 1}) {
		t.Errorf("control batch: %+v, %d records", h, len(recs))
	}
}

func TestUnsupportedCodec(t *testing.T) {
	for _, codec := range []int16{5, 6, 7} {
		batch := buildBatch([]testRecord{{ts: 1, value: []byte("v")}})
		binary.BigEndian.PutUint16(batch[offAttributes:], uint16(codec))
		var it RecordIter
		err := it.Reset(fixCRC(batch))
		if !errors.Is(err, ErrUnsupportedCompression) || !strings.Contains(err.Error(), "codec("+strconv.Itoa(int(codec))+")") {
			t.Errorf("codec %d: Reset = %v", codec, err)
		}
		var r Record
		if it.Next(&r) || it.Err() == nil {
			t.Errorf("codec %d: Next after a failed Reset", codec)
		}
	}
}

// rec encodes one record field by field, for hand-made malformed records.
func rec(fields ...[]byte) []byte {
	body := bytes.Join(fields, nil)
	return append(appendVarint(nil, int32(len(body))), body...)
}

func vi(v int32) []byte    { return appendVarint(nil, v) }
func vl(v int64) []byte    { return appendVarlong(nil, v) }
func raw(b ...byte) []byte { return b }

func TestMalformedRecords(t *testing.T) {
	// attributes, timestampDelta, offsetDelta, key, value, header count
	okRecord := rec(raw(0), vl(0), vi(0), vi(1), raw('k'), vi(1), raw('v'), vi(0))
	cases := []struct {
		name    string
		count   int32
		records []byte
		want    string // in the error
	}{
		{"count larger than records", 2, okRecord, "ends after 1 of 2"},
		{"count smaller than records", 1, append(bytes.Clone(okRecord), okRecord...), "after the last of 1"},
		{"records but count zero", 0, okRecord, "after the last of 0"},
		{"no records at all", 1, nil, "ends after 0 of 1"},
		{"trailing garbage", 1, append(bytes.Clone(okRecord), 0), "after the last"},
		{"length varint too long", 1, raw(0x80, 0x80, 0x80, 0x80, 0x80, 0x01), "malformed length"},
		{"length cut short", 1, raw(0x80), "malformed length"},
		{"negative length", 1, append(vi(-3), okRecord[1:]...), "length -3"},
		{"length past end", 1, append(vi(200), okRecord[1:]...), "length 200"},
		{"length too small for a record", 1, append(vi(2), 0, 0), "length 2"},
		{"timestamp delta varint too long", 1, rec(raw(0), bytes.Repeat([]byte{0xff}, 11), vi(0), vi(-1), vi(-1), vi(0)), "timestamp delta"},
		{"offset delta malformed", 1, rec(raw(0), vl(0), raw(0xff, 0xff, 0xff, 0xff, 0xff, 0xff)), "offset delta"},
		{"key past end", 1, rec(raw(0), vl(0), vi(0), vi(100), raw('k'), vi(-1), vi(0)), "malformed key"},
		{"value past end", 1, rec(raw(0), vl(0), vi(0), vi(-1), vi(50), raw('v'), vi(0)), "malformed value"},
		{"value length cut", 1, rec(raw(0), vl(0), vi(0), vi(-1), vi(-1), vi(-1), raw(0x80)), "malformed header count"},
		{"negative header count", 1, rec(raw(0), vl(0), vi(0), vi(-1), vi(-1), vi(-1)), "malformed header count"},
		{"header count past end", 1, rec(raw(0), vl(0), vi(0), vi(-1), vi(-1), vi(1000000), vi(1), raw('h'), vi(-1)), "malformed header count"},
		{"header count missing", 1, rec(raw(0), vl(0), vi(0), vi(-1), vi(-1), raw(0x80), raw(0x80)), "malformed header count"},
		{"null header key", 1, rec(raw(0), vl(0), vi(0), vi(-1), vi(-1), vi(1), vi(-1), vi(-1)), "key of header 0"},
		{"header key past end", 1, rec(raw(0), vl(0), vi(0), vi(-1), vi(-1), vi(1), vi(9), raw('h'), vi(-1)), "key of header 0"},
		{"header value past end", 1, rec(raw(0), vl(0), vi(0), vi(-1), vi(-1), vi(1), vi(1), raw('h'), vi(9), raw('x')), "value of header 0"},
		{"bytes after headers", 1, rec(raw(0), vl(0), vi(0), vi(-1), vi(-1), vi(0), raw(1, 2)), "after its last field"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			batch := rawBatch(c.count, c.records)
			if err := VerifyBatch(batch); err != nil {
				t.Fatalf("VerifyBatch: %v (the test batch should only be bad inside)", err)
			}
			var it RecordIter
			if err := it.Reset(batch); err != nil {
				t.Fatal(err)
			}
			iterate(&it)
			err := it.Err()
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Err = %v, want ErrCorrupt mentioning %q", err, c.want)
			}
			var r Record
			if it.Next(&r) {
				t.Error("Next returned true after an error")
			}
		})
	}

	// Kafka reads any negative length as null, not only -1.
	batch := rawBatch(1, rec(raw(0), vl(0), vi(0), vi(-7), vi(-2), vi(1), vi(1), raw('h'), vi(-9)))
	_, recs := decodeBatch(t, batch)
	if len(recs) != 1 || recs[0].Key != nil || recs[0].Value != nil || recs[0].Headers[0].Value != nil {
		t.Errorf("negative lengths: %s", summarize(recs))
	}
}

func TestDecodedSlicesAreCapped(t *testing.T) {
	batch := buildBatch([]testRecord{{ts: 1, key: []byte("k"), value: []byte("v"), headers: []Header{{Key: []byte("h"), Value: []byte("x")}}}, {ts: 2, value: []byte("second")}})
	var it RecordIter
	if err := it.Reset(batch); err != nil {
		t.Fatal(err)
	}
	var r Record
	it.Next(&r)
	// Appending to a decoded field must never write into the batch.
	_ = append(r.Key, "XXXXXXXX"...)
	_ = append(r.Value, "XXXXXXXX"...)
	_ = append(r.Headers[0].Key, "XXXXXXXX"...)
	_ = append(r.Headers[0].Value, "XXXXXXXX"...)
	if err := VerifyBatch(batch); err != nil {
		t.Fatal("appending to a decoded record changed the batch:", err)
	}
}

func TestRecordIterReuse(t *testing.T) {
	// One iterator and one Record across batches: no state may leak, in
	// particular headers of an earlier record.
	a := buildBatch([]testRecord{{ts: 1, key: []byte("a"), value: []byte("a"), headers: []Header{{Key: []byte("h1"), Value: []byte("1")}, {Key: []byte("h2")}}}})
	b := buildBatch([]testRecord{{ts: 2, value: []byte("b")}, {ts: 3, key: []byte("c"), headers: []Header{{Key: []byte("z")}}}})
	var it RecordIter
	var r Record
	for round := 0; round < 2; round++ {
		for _, batch := range [][]byte{a, b} {
			if err := it.Reset(batch); err != nil {
				t.Fatal(err)
			}
			var got []Record
			for it.Next(&r) {
				got = append(got, cloneRecord(r))
			}
			_, want := decodeBatch(t, batch)
			if it.Err() != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d: %v\n got %s\nwant %s", round, it.Err(), summarize(got), summarize(want))
			}
		}
	}
}

func TestSteadyStateAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage counters allocate")
	}
	value := bytes.Repeat([]byte("v"), 100)
	headers := []Header{{Key: []byte("trace"), Value: []byte("abc")}}
	var b BatchBuilder
	fill := func() {
		b.Reset()
		for i := range 150 {
			b.Add(int64(i), nil, value, headers)
		}
		b.Finish()
	}
	fill() // grow the buffer once
	if n := testing.AllocsPerRun(50, fill); n != 0 {
		t.Errorf("BatchBuilder: %v allocations per batch in steady state, want 0", n)
	}

	batch := bytes.Clone(b.Finish())
	var it RecordIter
	var r Record
	read := func() {
		if err := VerifyBatch(batch); err != nil {
			t.Fatal(err)
		}
		it.Reset(batch)
		for it.Next(&r) {
		}
		if it.Err() != nil {
			t.Fatal(it.Err())
		}
	}
	read() // grow r.Headers once
	if n := testing.AllocsPerRun(50, read); n != 0 {
		t.Errorf("RecordIter: %v allocations per batch in steady state, want 0", n)
	}
}
