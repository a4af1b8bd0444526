package logdir

// A RecordBatch, magic 2, exactly as Kafka writes it (DefaultRecordBatch.java).
// All fixed-size fields are big-endian.
//
//	offset size field
//	     0    8 baseOffset            offset of the first record
//	     8    4 batchLength           bytes after this field (size of the batch - 12)
//	    12    4 partitionLeaderEpoch  leader epoch of the appending leader
//	    16    1 magic                 2
//	    17    4 crc                   CRC-32C of bytes 21..end
//	    21    2 attributes            codec, timestamp type, transactional, control
//	    23    4 lastOffsetDelta       offset of the last record - baseOffset
//	    27    8 baseTimestamp         timestamp of the first record
//	    35    8 maxTimestamp          largest record timestamp
//	    43    8 producerId            -1: no idempotent producer
//	    51    2 producerEpoch         -1
//	    53    4 baseSequence          -1
//	    57    4 recordCount           number of records that follow
//	    61    - records               see record.go; compressed as one stream
//	                                  when the codec bits are not 0
//
// The CRC starts at attributes so that baseOffset and partitionLeaderEpoch,
// which the appending leader assigns, can be patched without recomputing it.

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// BatchHeaderSize is the size of the fixed part of a batch: the sum of the
// field sizes in the layout above.
const BatchHeaderSize = 61

// Byte offsets of the header fields, from the layout above.
const (
	offBaseOffset      = 0
	offBatchLength     = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57
)

const (
	// batchMagic is the RecordBatch format version; 0 and 1 are the
	// older MessageSet formats, which mk neither writes nor reads.
	batchMagic = 2

	// batchLengthOverhead is the part of the header that batchLength does
	// not count: baseOffset and batchLength itself.
	batchLengthOverhead = offLeaderEpoch
	// minBatchLength is batchLength for a batch with no record bytes: the
	// header after the batchLength field (Kafka's RECORD_BATCH_OVERHEAD - 12).
	minBatchLength = BatchHeaderSize - batchLengthOverhead

	// attrCodecMask selects the compression codec: attribute bits 0-2.
	attrCodecMask = 0x07
	// attrLogAppendTime is bit 3: timestamps are the broker's append time
	// (maxTimestamp) rather than the producer's create time.
	attrLogAppendTime = 0x08
	// attrTransactional is bit 4: the batch belongs to a transaction.
	attrTransactional = 0x10
	// attrControl is bit 5: the batch holds a transaction marker, not
	// user records.
	attrControl = 0x20

	// noProducerID, noProducerEpoch and noSequence are Kafka's values for
	// a batch from a producer that is not idempotent (RecordBatch.NO_*).
	noProducerID    = -1
	noProducerEpoch = -1
	noSequence      = -1
	// noPartitionLeaderEpoch is what a producer writes; the appending
	// leader replaces it (RecordBatch.NO_PARTITION_LEADER_EPOCH).
	noPartitionLeaderEpoch = -1
	// noTimestamp marks an empty batch's timestamps (RecordBatch.NO_TIMESTAMP).
	noTimestamp = -1
)

// crcTable is CRC-32C (Castagnoli), the checksum of RecordBatch v2. The
// standard library uses the SSE4.2/ARMv8 CRC instructions for it.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Codec is a batch's compression codec, attribute bits 0-2.
type Codec int8

// The codecs, numbered as in Kafka's CompressionType.
const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

// String returns Kafka's name for the codec (compression.type).
func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

// BatchHeader is the fixed part of a RecordBatch, field for field.
type BatchHeader struct {
	BaseOffset           int64
	BatchLength          int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	RecordCount          int32
}

// LastOffset is the offset of the batch's last record. It holds even when
// compaction has removed that record: the batch still covers the offset.
func (h *BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Size is the size of the whole batch in bytes.
func (h *BatchHeader) Size() int { return batchLengthOverhead + int(h.BatchLength) }

// Compression is the codec the records are compressed with.
func (h *BatchHeader) Compression() Codec { return Codec(h.Attributes & attrCodecMask) }

// LogAppendTime reports whether record timestamps are the broker's append
// time: every record's timestamp is then MaxTimestamp.
func (h *BatchHeader) LogAppendTime() bool { return h.Attributes&attrLogAppendTime != 0 }

// IsTransactional reports whether the batch belongs to a transaction.
func (h *BatchHeader) IsTransactional() bool { return h.Attributes&attrTransactional != 0 }

// IsControl reports whether the batch holds a control record (a
// transaction commit or abort marker) rather than user records.
func (h *BatchHeader) IsControl() bool { return h.Attributes&attrControl != 0 }

// ParseBatchHeader reads the 61-byte header at the start of b. It checks
// only what the header alone can: magic is 2, batchLength covers at least
// the header, the record count is not negative. The error wraps ErrCorrupt.
func ParseBatchHeader(b []byte) (BatchHeader, error) {
	if len(b) < BatchHeaderSize {
		return BatchHeader{}, fmt.Errorf("%w: %d bytes, shorter than a batch header (%d)", ErrCorrupt, len(b), BatchHeaderSize)
	}
	h := BatchHeader{
		BaseOffset:           int64(binary.BigEndian.Uint64(b[offBaseOffset:])),
		BatchLength:          int32(binary.BigEndian.Uint32(b[offBatchLength:])),
		PartitionLeaderEpoch: int32(binary.BigEndian.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  binary.BigEndian.Uint32(b[offCRC:]),
		Attributes:           int16(binary.BigEndian.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:])),
		BaseTimestamp:        int64(binary.BigEndian.Uint64(b[offBaseTimestamp:])),
		MaxTimestamp:         int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(binary.BigEndian.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(binary.BigEndian.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(binary.BigEndian.Uint32(b[offBaseSequence:])),
		RecordCount:          int32(binary.BigEndian.Uint32(b[offRecordCount:])),
	}
	switch {
	case h.Magic != batchMagic:
		return h, fmt.Errorf("%w: magic %d, want %d", ErrCorrupt, h.Magic, batchMagic)
	case h.BatchLength < minBatchLength:
		return h, fmt.Errorf("%w: batch length %d, shorter than a batch header (%d)", ErrCorrupt, h.BatchLength, minBatchLength)
	case h.RecordCount < 0:
		return h, fmt.Errorf("%w: negative record count %d", ErrCorrupt, h.RecordCount)
	}
	return h, nil
}

// VerifyBatch checks one whole batch: b is exactly the size its header
// says, the header is sane and the CRC-32C matches. It does not decode the
// records (RecordIter does). The error wraps ErrCorrupt.
func VerifyBatch(b []byte) error {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return err
	}
	if len(b) != h.Size() {
		return fmt.Errorf("%w: batch at offset %d is %d bytes, header says %d", ErrCorrupt, h.BaseOffset, len(b), h.Size())
	}
	if crc := crc32.Checksum(b[offAttributes:], crcTable); crc != h.CRC {
		return fmt.Errorf("%w: batch at offset %d has crc %#08x, computed %#08x", ErrCorrupt, h.BaseOffset, h.CRC, crc)
	}
	return nil
}

// SetBaseOffset sets the batch's baseOffset. It is outside the CRC.
func SetBaseOffset(batch []byte, off int64) {
	binary.BigEndian.PutUint64(batch[offBaseOffset:], uint64(off))
}

// SetLeaderEpoch sets the batch's partitionLeaderEpoch. It is outside the CRC.
func SetLeaderEpoch(batch []byte, epoch int32) {
	binary.BigEndian.PutUint32(batch[offLeaderEpoch:], uint32(epoch))
}

// BatchBaseOffset returns the baseOffset of a batch of at least
// BatchHeaderSize bytes, without parsing the rest of the header.
func BatchBaseOffset(batch []byte) int64 {
	return int64(binary.BigEndian.Uint64(batch[offBaseOffset:]))
}

// BatchLastOffset returns baseOffset + lastOffsetDelta of a batch of at
// least BatchHeaderSize bytes, without parsing the rest of the header.
func BatchLastOffset(batch []byte) int64 {
	return BatchBaseOffset(batch) + int64(int32(binary.BigEndian.Uint32(batch[offLastOffsetDelta:])))
}

// BatchBuilder encodes records into one uncompressed batch, as a
// non-idempotent producer writes it: producerId, producerEpoch and
// baseSequence -1, CreateTime timestamps, baseOffset 0 and leader epoch -1
// for the appender to set. The zero value is ready to use; after the first
// batches have grown its buffer it adds records without allocating.
type BatchBuilder struct {
	buf           []byte // header space, then the encoded records
	count         int32
	baseTimestamp int64
	maxTimestamp  int64
}

// Reset empties the builder for the next batch, keeping its buffer.
func (b *BatchBuilder) Reset() {
	b.buf = b.buf[:0]
	b.count = 0
}

// Add appends one record. Its timestamp is in milliseconds; the first
// record's becomes the batch's baseTimestamp, and later ones may be
// smaller. A nil key or value is null; an empty one is not. A header with
// a nil Key is written with an empty key, as Kafka has no null header keys.
func (b *BatchBuilder) Add(timestamp int64, key, value []byte, headers []Header) {
	if len(b.buf) == 0 {
		b.buf = append(b.buf[:0], make([]byte, BatchHeaderSize)...)
	}
	if b.count == 0 {
		b.baseTimestamp, b.maxTimestamp = timestamp, timestamp
	} else if timestamp > b.maxTimestamp {
		b.maxTimestamp = timestamp
	}
	b.buf = appendRecord(b.buf, timestamp-b.baseTimestamp, b.count, key, value, headers)
	b.count++
}

// Count is the number of records added since the last Reset.
func (b *BatchBuilder) Count() int { return int(b.count) }

// Size is the size of the batch Finish would return now.
func (b *BatchBuilder) Size() int { return max(len(b.buf), BatchHeaderSize) }

// Finish completes the header and returns the batch. The slice aliases the
// builder's buffer until the next Reset or Add. A builder with no records
// gives a batch of none, with lastOffsetDelta -1: it covers no offset and
// an appender should not write it.
func (b *BatchBuilder) Finish() []byte {
	return b.finish(noProducerID, noProducerEpoch, noSequence)
}

// FinishIdempotent is Finish for an idempotent producer: the batch carries
// its producer id and epoch and the sequence number of its first record
// (the next batch's is this one's plus its record count). These fields are
// inside the CRC, so the producer sets them before the checksum, once.
func (b *BatchBuilder) FinishIdempotent(producerID int64, producerEpoch int16, baseSequence int32) []byte {
	return b.finish(producerID, producerEpoch, baseSequence)
}

func (b *BatchBuilder) finish(producerID int64, producerEpoch int16, baseSequence int32) []byte {
	if len(b.buf) == 0 {
		b.buf = append(b.buf[:0], make([]byte, BatchHeaderSize)...)
	}
	if len(b.buf)-batchLengthOverhead > math.MaxInt32 {
		panic("logdir: batch larger than 2 GiB")
	}
	base, maxTS := b.baseTimestamp, b.maxTimestamp
	if b.count == 0 {
		base, maxTS = noTimestamp, noTimestamp
	}
	h := b.buf[:BatchHeaderSize]
	be := binary.BigEndian
	be.PutUint64(h[offBaseOffset:], 0)
	be.PutUint32(h[offBatchLength:], uint32(len(b.buf)-batchLengthOverhead))
	be.PutUint32(h[offLeaderEpoch:], uint32(noPartitionLeaderEpoch&0xffffffff))
	h[offMagic] = batchMagic
	be.PutUint16(h[offAttributes:], 0) // uncompressed, CreateTime, not transactional
	be.PutUint32(h[offLastOffsetDelta:], uint32(b.count-1))
	be.PutUint64(h[offBaseTimestamp:], uint64(base))
	be.PutUint64(h[offMaxTimestamp:], uint64(maxTS))
	be.PutUint64(h[offProducerID:], uint64(producerID))
	be.PutUint16(h[offProducerEpoch:], uint16(producerEpoch))
	be.PutUint32(h[offBaseSequence:], uint32(baseSequence))
	be.PutUint32(h[offRecordCount:], uint32(b.count))
	be.PutUint32(h[offCRC:], crc32.Checksum(b.buf[offAttributes:], crcTable))
	return b.buf
}
