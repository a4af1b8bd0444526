package logdir

// Oracle tests: franz-go's kmsg, an independent implementation of the
// Kafka protocol, must read what BatchBuilder writes byte for byte, and
// RecordIter must read what kmsg writes, compressed by each codec's own
// library the way Kafka's producers compress.

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"reflect"
	"strings"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var castagnoliTable = crc32.MakeTable(crc32.Castagnoli)

func TestOracleKmsgReadsBuilder(t *testing.T) {
	for _, c := range roundTripCases() {
		t.Run(c.name, func(t *testing.T) {
			batch := buildBatch(c.recs)
			SetBaseOffset(batch, 12345)
			SetLeaderEpoch(batch, 3)

			var kb kmsg.RecordBatch
			if err := kb.ReadFrom(batch); err != nil {
				t.Fatal(err)
			}
			maxTS := c.recs[0].ts
			for _, r := range c.recs {
				maxTS = max(maxTS, r.ts)
			}
			want := kmsg.RecordBatch{
				FirstOffset: 12345, Length: int32(len(batch) - 12), PartitionLeaderEpoch: 3, Magic: 2,
				CRC: int32(crc32.Checksum(batch[21:], castagnoliTable)), Attributes: 0,
				LastOffsetDelta: int32(len(c.recs) - 1), FirstTimestamp: c.recs[0].ts, MaxTimestamp: maxTS,
				ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(len(c.recs)),
				Records: batch[61:],
			}
			if !reflect.DeepEqual(kb, want) {
				kb.Records, want.Records = nil, nil
				t.Fatalf("kmsg header\n got %+v\nwant %+v", kb, want)
			}
			if got := kb.AppendTo(nil); !bytes.Equal(got, batch) {
				t.Fatal("kmsg re-encodes the batch differently")
			}

			records := kb.Records
			for i, in := range c.recs {
				length, n := binary.Varint(records) // zig-zag, as Kafka's
				if n <= 0 || int(length) > len(records)-n {
					t.Fatalf("record %d: bad length %d (%d)", i, length, n)
				}
				one := records[:n+int(length)]
				records = records[len(one):]
				var kr kmsg.Record
				if err := kr.ReadFrom(one); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				if got := kr.AppendTo(nil); !bytes.Equal(got, one) {
					t.Fatalf("record %d: kmsg re-encodes it differently", i)
				}
				if kr.Length != int32(length) || kr.Attributes != 0 || kr.OffsetDelta != int32(i) ||
					kr.TimestampDelta64 != in.ts-c.recs[0].ts ||
					!sameBytes(kr.Key, in.key) || !sameBytes(kr.Value, in.value) || len(kr.Headers) != len(in.headers) {
					t.Fatalf("record %d differs: length %d attrs %d offsetDelta %d tsDelta %d key %v value %v headers %d",
						i, kr.Length, kr.Attributes, kr.OffsetDelta, kr.TimestampDelta64, kr.Key == nil, kr.Value == nil, len(kr.Headers))
				}
				for j, h := range in.headers {
					if kr.Headers[j].Key != string(h.Key) || !sameBytes(kr.Headers[j].Value, h.Value) {
						t.Fatalf("record %d header %d differs", i, j)
					}
				}
			}
			if len(records) != 0 {
				t.Fatalf("%d bytes after the last record", len(records))
			}
		})
	}
}

// sameBytes is bytes.Equal that also tells null from empty.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// kmsgBatch is a batch as another Kafka client would produce it: records
// encoded by kmsg, compressed with codec, a producer id and epoch, the
// header written by kmsg and its CRC computed independently.
func kmsgBatch(t testing.TB, codec Codec, attrs int16, offsetDeltas []int32, recs []testRecord) []byte {
	t.Helper()
	var payload []byte
	maxTS := recs[0].ts
	for i, r := range recs {
		maxTS = max(maxTS, r.ts)
		kr := kmsg.Record{TimestampDelta64: r.ts - recs[0].ts, OffsetDelta: offsetDeltas[i], Key: r.key, Value: r.value}
		for _, h := range r.headers {
			kr.Headers = append(kr.Headers, kmsg.Header{Key: string(h.Key), Value: h.Value})
		}
		kr.Length = int32(len(kr.AppendTo(nil)) - 1) // the body, without the one-byte varint of 0
		payload = kr.AppendTo(payload)
	}
	kb := kmsg.RecordBatch{
		FirstOffset: 1000, PartitionLeaderEpoch: 7, Magic: 2,
		Attributes:      int16(codec&attrCodecMask) | attrs,
		LastOffsetDelta: offsetDeltas[len(offsetDeltas)-1], FirstTimestamp: recs[0].ts, MaxTimestamp: maxTS,
		ProducerID: 4242, ProducerEpoch: 3, FirstSequence: 17, NumRecords: int32(len(recs)),
		Records: compress(t, codec, payload),
	}
	kb.Length = int32(49 + len(kb.Records))
	b := kb.AppendTo(nil)
	kb.CRC = int32(crc32.Checksum(b[21:], castagnoliTable))
	return kb.AppendTo(nil)
}

// compress compresses a batch's records as Kafka's producers do.
func compress(t testing.TB, codec Codec, payload []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch codec {
	case CodecNone:
		return payload
	case CodecGzip:
		w := gzip.NewWriter(&buf)
		w.Write(payload)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case CodecSnappy:
		return xerialSnappy(payload, 32<<10) // snappy-java's default block size
	case codecSnappyBlock:
		return snappy.Encode(nil, payload)
	case CodecLZ4, codecLZ4NoChecksum:
		w := lz4.NewWriter(&buf)
		opts := []lz4.Option{lz4.BlockSizeOption(lz4.Block64Kb)} // Kafka's block size
		if codec == codecLZ4NoChecksum {
			opts = append(opts, lz4.ChecksumOption(false))
		}
		if err := w.Apply(opts...); err != nil {
			t.Fatal(err)
		}
		w.Write(payload)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case CodecZstd:
		enc, err := zstd.NewWriter(nil)
		if err != nil {
			t.Fatal(err)
		}
		return enc.EncodeAll(payload, nil)
	default:
		t.Fatalf("no compressor for %v", codec)
	}
	return buf.Bytes()
}

// Test-only variants, outside the 3 codec bits so that compress tells
// them apart; the batch gets the codec's real number (codec & 7).
const (
	codecSnappyBlock   Codec = CodecSnappy | 0x10 // one plain snappy block (franz-go, librdkafka)
	codecLZ4NoChecksum Codec = CodecLZ4 | 0x10    // lz4 frame without content checksum
)

// xerialSnappy frames payload as snappy-java's SnappyOutputStream does.
func xerialSnappy(payload []byte, blockSize int) []byte {
	out := []byte(xerialMagic)
	out = binary.BigEndian.AppendUint32(out, 1) // version
	out = binary.BigEndian.AppendUint32(out, 1) // compatible version
	for len(payload) > 0 {
		n := min(blockSize, len(payload))
		block := snappy.Encode(nil, payload[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(block)))
		out = append(out, block...)
		payload = payload[n:]
	}
	return out
}

var oracleCodecs = []struct {
	name  string
	codec Codec
}{
	{"none", CodecNone},
	{"gzip", CodecGzip},
	{"snappy xerial", CodecSnappy},
	{"snappy block", codecSnappyBlock},
	{"lz4", CodecLZ4},
	{"lz4 no checksum", codecLZ4NoChecksum},
	{"zstd", CodecZstd},
}

func TestOracleIterReadsKmsg(t *testing.T) {
	cases := roundTripCases()
	cases = append(cases, roundTripCase{"compressible 200 KiB", []testRecord{
		{ts: 5, key: []byte("k"), value: bytes.Repeat([]byte("kafka "), 200<<10/6)},
		{ts: 6, value: bytes.Repeat([]byte{0}, 70000)},
	}})
	for _, oc := range oracleCodecs {
		t.Run(oc.name, func(t *testing.T) {
			var it RecordIter // one iterator for all batches: its buffers are reused
			for _, c := range cases {
				deltas := make([]int32, len(c.recs))
				for i := range deltas {
					deltas[i] = int32(i)
				}
				batch := kmsgBatch(t, oc.codec, 0, deltas, c.recs)
				if err := VerifyBatch(batch); err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				if err := it.Reset(batch); err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				got := iterate(&it)
				if err := it.Err(); err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				if want := wantRecords(1000, c.recs); !reflect.DeepEqual(got, want) {
					t.Fatalf("%s: records differ:\n got %s\nwant %s", c.name, summarize(got), summarize(want))
				}
				h := it.Header()
				if h.Compression() != oc.codec&attrCodecMask || h.ProducerID != 4242 || h.ProducerEpoch != 3 ||
					h.BaseSequence != 17 || h.PartitionLeaderEpoch != 7 || h.LastOffset() != 1000+int64(len(c.recs)-1) {
					t.Fatalf("%s: header %+v", c.name, h)
				}
			}
		})
	}
}

func TestOracleGappedOffsetsAndAttributes(t *testing.T) {
	// A batch after compaction keeps its lastOffsetDelta while records
	// inside are gone; transactional batches set bit 4.
	recs := []testRecord{{ts: 10, key: []byte("a")}, {ts: 11, key: []byte("b")}, {ts: 12, key: []byte("c")}}
	deltas := []int32{0, 3, 9}
	for _, oc := range oracleCodecs {
		batch := kmsgBatch(t, oc.codec, attrTransactional, deltas, recs)
		h, got := decodeBatch(t, batch)
		if !h.IsTransactional() || h.IsControl() || h.LastOffset() != 1009 {
			t.Errorf("%s: header %+v", oc.name, h)
		}
		for i, r := range got {
			if r.Offset != 1000+int64(deltas[i]) || r.Timestamp != recs[i].ts {
				t.Errorf("%s: record %d at offset %d ts %d", oc.name, i, r.Offset, r.Timestamp)
			}
		}
	}
}

func TestXerialSnappyVector(t *testing.T) {
	// "PLAINDATA" framed by snappy-java: magic, version 1, compatible
	// version 1, one chunk of 11 bytes (a snappy block: length 9, one
	// literal of 9 bytes).
	framed := []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 11,
		9, 8 << 2, 'P', 'L', 'A', 'I', 'N', 'D', 'A', 'T', 'A'}
	got, err := decodeSnappy(nil, framed)
	if err != nil || string(got) != "PLAINDATA" {
		t.Errorf("decodeSnappy = %q, %v", got, err)
	}
	if got, err := decodeSnappy(nil, framed[:16]); err != nil || len(got) != 0 {
		t.Errorf("header only: %q, %v", got, err)
	}
	for _, bad := range [][]byte{framed[:18], framed[:25], append(bytes.Clone(framed[:20]), 9, 8<<2, 'P')} {
		if _, err := decodeSnappy(nil, bad); err == nil {
			t.Errorf("decodeSnappy(%x) succeeded", bad)
		}
	}
}

func TestCompressedCorruption(t *testing.T) {
	recs := []testRecord{{ts: 1, key: []byte("key"), value: bytes.Repeat([]byte("value "), 1000)}, {ts: 2, value: []byte("v")}}
	for _, oc := range oracleCodecs[1:] {
		good := kmsgBatch(t, oc.codec, 0, []int32{0, 1}, recs)
		var it RecordIter
		// Damage the compressed bytes but keep the CRC right: only the
		// decompressor or the record decoder can notice.
		for i := BatchHeaderSize; i < len(good); i += max(1, (len(good)-BatchHeaderSize)/50) {
			b := bytes.Clone(good)
			b[i] ^= 0x55
			fixCRC(b)
			if err := it.Reset(b); err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s byte %d: Reset = %v, want ErrCorrupt", oc.name, i, err)
				}
				continue
			}
			iterate(&it) // may decode garbage that happens to parse; must not panic
		}
		for n := BatchHeaderSize; n < len(good); n += max(1, (len(good)-BatchHeaderSize)/20) {
			b := fixCRC(rawBatchFrom(good, n))
			if err := it.Reset(b); err == nil {
				iterate(&it)
				if it.Err() == nil {
					t.Errorf("%s cut to %d bytes: decoded without error", oc.name, n)
				}
			}
		}
	}
}

// rawBatchFrom cuts a batch's records to n bytes of batch and fixes the length.
func rawBatchFrom(batch []byte, n int) []byte {
	b := bytes.Clone(batch[:n])
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(n-batchLengthOverhead))
	return b
}

func TestDecompressedSizeLimit(t *testing.T) {
	defer func(old int) { maxDecompressedSize = old }(maxDecompressedSize)
	maxDecompressedSize = 64 << 10
	big := []testRecord{{ts: 1, value: bytes.Repeat([]byte{'x'}, 100<<10)}}
	small := []testRecord{{ts: 1, value: bytes.Repeat([]byte{'x'}, 10<<10)}}
	for _, oc := range oracleCodecs[1:] {
		var it RecordIter
		err := it.Reset(kmsgBatch(t, oc.codec, 0, []int32{0}, big))
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "larger than the limit") {
			t.Errorf("%s: Reset = %v, want the size limit", oc.name, err)
		}
		if _, recs := decodeBatch(t, kmsgBatch(t, oc.codec, 0, []int32{0}, small)); len(recs) != 1 {
			t.Errorf("%s: small batch gave %d records", oc.name, len(recs))
		}
	}
}
