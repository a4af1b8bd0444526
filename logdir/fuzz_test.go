package logdir

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzDecodeBatch feeds arbitrary bytes to every decoder. None may panic.
// Where a batch verifies and decodes, its records must survive being
// encoded again by BatchBuilder and decoded once more. Because random
// bytes almost never carry a matching CRC, each input is also tried with
// its CRC fixed, which lets the fuzzer reach the record decoder.
func FuzzDecodeBatch(f *testing.F) {
	defer func(old int) { maxDecompressedSize = old }(maxDecompressedSize)
	maxDecompressedSize = 1 << 20 // keep decompression bombs cheap

	for _, c := range roundTripCases() {
		if b := buildBatch(c.recs); len(b) <= 16<<10 {
			f.Add(b)
		}
	}
	small := []testRecord{
		{ts: 100, key: []byte("key"), value: []byte("value"), headers: []Header{{Key: []byte("h"), Value: nil}}},
		{ts: 99, key: nil, value: []byte{}},
	}
	for _, oc := range oracleCodecs {
		f.Add(kmsgBatch(f, oc.codec, 0, []int32{0, 1}, small))
		f.Add(kmsgBatch(f, oc.codec, attrTransactional|attrLogAppendTime, []int32{0, 5}, small))
	}
	f.Add(rawBatch(1, rec(raw(0), vl(0), vi(0), vi(-1), vi(-1), vi(1), vi(-1), vi(-1))))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
		if len(data) >= offAttributes {
			checkDecode(t, fixCRC(bytes.Clone(data)))
		}
	})
}

func checkDecode(t *testing.T, data []byte) {
	ParseBatchHeader(data)
	verifyErr := VerifyBatch(data)
	var it RecordIter
	if err := it.Reset(data); err != nil {
		return
	}
	got := iterate(&it)
	if verifyErr != nil || it.Err() != nil {
		return
	}
	h := it.Header()
	if len(got) != int(h.RecordCount) {
		t.Fatalf("decoded %d records, header counts %d", len(got), h.RecordCount)
	}

	var b BatchBuilder
	for _, r := range got {
		b.Add(r.Timestamp, r.Key, r.Value, r.Headers)
	}
	again := b.Finish()
	if err := VerifyBatch(again); err != nil {
		t.Fatalf("re-encoded batch fails to verify: %v", err)
	}
	var it2 RecordIter
	if err := it2.Reset(again); err != nil {
		t.Fatal(err)
	}
	regot := iterate(&it2)
	if it2.Err() != nil {
		t.Fatalf("re-encoded batch fails to decode: %v", it2.Err())
	}
	if len(regot) != len(got) {
		t.Fatalf("re-encoded %d records, decoded %d", len(got), len(regot))
	}
	for i := range got {
		// BatchBuilder numbers records densely from 0; the input's
		// offsets may have gaps, so compare everything but the offset.
		want := got[i]
		want.Offset = int64(i)
		if !reflect.DeepEqual(regot[i], want) {
			t.Fatalf("record %d changed:\n got %s\nwant %s", i, short(regot[i]), short(want))
		}
	}
}

// FuzzBuildBatch encodes records made from arbitrary fields and checks
// that they decode unchanged, by RecordIter and by RecordSize's account.
func FuzzBuildBatch(f *testing.F) {
	f.Add(int64(0), int64(1), []byte("k"), []byte("v"), []byte("h"), []byte("hv"), uint8(0), uint8(3))
	f.Add(int64(-1), int64(1<<62), []byte{}, []byte{}, []byte{}, []byte{}, uint8(0xff), uint8(1))
	f.Fuzz(func(t *testing.T, ts1, ts2 int64, key, value, hkey, hvalue []byte, nulls, n uint8) {
		field := func(b []byte, bit uint8) []byte {
			if nulls&(1<<bit) != 0 {
				return nil
			}
			if b == nil {
				return []byte{}
			}
			return b
		}
		var recs []testRecord
		for i := range int(n % 8) {
			r := testRecord{ts: ts1, key: field(key, 0), value: field(value, 1)}
			if i%2 == 1 {
				r.ts, r.key, r.value = ts2, field(value, 2), field(key, 3)
			}
			for j := range i {
				r.headers = append(r.headers, Header{Key: field(hkey, uint8(4+j%2)), Value: field(hvalue, uint8(6+j%2))})
			}
			recs = append(recs, r)
		}
		if len(recs) == 0 {
			return
		}
		var b BatchBuilder
		for i, r := range recs {
			before := b.Size()
			b.Add(r.ts, r.key, r.value, r.headers)
			if want := RecordSize(r.ts-recs[0].ts, int32(i), r.key, r.value, r.headers); b.Size()-before != want {
				t.Fatalf("record %d: RecordSize %d, grew by %d", i, want, b.Size()-before)
			}
		}
		_, got := decodeBatch(t, b.Finish())
		if want := wantRecords(0, recs); !reflect.DeepEqual(got, want) {
			t.Fatalf("records differ:\n got %s\nwant %s", summarize(got), summarize(want))
		}
	})
}
