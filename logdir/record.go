package logdir

// A record inside a RecordBatch v2, exactly as Kafka writes it
// (DefaultRecord.java). Every integer is a zig-zag varint (varint.go) except
// attributes; varlong marks a 64-bit one.
//
//	length          varint  bytes of the record after this field
//	attributes      int8    unused, 0
//	timestampDelta  varlong timestamp - batch baseTimestamp (may be negative)
//	offsetDelta     varint  offset - batch baseOffset
//	keyLength       varint  -1: null key
//	key             bytes
//	valueLength     varint  -1: null value (a tombstone)
//	value           bytes
//	headerCount     varint
//	headers         headerCount times:
//	    keyLength   varint  never negative: header keys are not nullable
//	    key         bytes
//	    valueLength varint  -1: null value
//	    value       bytes
//
// A compressed batch compresses the concatenated records as one stream.

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"

	"github.com/pierrec/lz4/v4"
)

const (
	// nullLength is the length written for a null key or value. Kafka
	// reads any negative length as null; it writes -1.
	nullLength = -1
	// recordAttributes is the record attributes byte; Kafka defines no
	// record attributes, so it is always 0.
	recordAttributes = 0
	// minRecordBodySize is the smallest record after its length field:
	// attributes, and one byte each for timestampDelta, offsetDelta,
	// keyLength, valueLength and headerCount.
	minRecordBodySize = 6
)

// RecordSize is the encoded size of a record, its length field included:
// what Add will grow a batch by when the record has this timestamp delta
// (from the batch's first record) and offset delta (its index).
func RecordSize(timestampDelta int64, offsetDelta int32, key, value []byte, headers []Header) int {
	body := recordBodySize(timestampDelta, offsetDelta, key, value, headers)
	return sizeVarint(int32(body)) + body
}

func recordBodySize(timestampDelta int64, offsetDelta int32, key, value []byte, headers []Header) int {
	n := 1 + sizeVarlong(timestampDelta) + sizeVarint(offsetDelta) +
		sizeBytes(key) + sizeBytes(value) + sizeVarint(int32(len(headers)))
	for i := range headers {
		n += sizeVarint(int32(len(headers[i].Key))) + len(headers[i].Key) + sizeBytes(headers[i].Value)
	}
	return n
}

// sizeBytes is the encoded size of a nullable length-prefixed field.
func sizeBytes(b []byte) int {
	if b == nil {
		return 1 // nullLength is one byte as a varint
	}
	return sizeVarint(int32(len(b))) + len(b)
}

// appendRecord appends one encoded record to dst.
func appendRecord(dst []byte, timestampDelta int64, offsetDelta int32, key, value []byte, headers []Header) []byte {
	body := recordBodySize(timestampDelta, offsetDelta, key, value, headers)
	dst = appendVarint(dst, int32(body))
	dst = append(dst, recordAttributes)
	dst = appendVarlong(dst, timestampDelta)
	dst = appendVarint(dst, offsetDelta)
	dst = appendBytes(dst, key)
	dst = appendBytes(dst, value)
	dst = appendVarint(dst, int32(len(headers)))
	for i := range headers {
		dst = appendVarint(dst, int32(len(headers[i].Key)))
		dst = append(dst, headers[i].Key...)
		dst = appendBytes(dst, headers[i].Value)
	}
	return dst
}

// appendBytes appends a nullable length-prefixed field.
func appendBytes(dst, b []byte) []byte {
	if b == nil {
		return appendVarint(dst, nullLength)
	}
	dst = appendVarint(dst, int32(len(b)))
	return append(dst, b...)
}

// RecordIter decodes the records of one batch, decompressing them first
// if the batch is compressed. It does not check the CRC: call VerifyBatch
// first. It keeps its decompression buffer and decoders between batches,
// so reuse one iterator for many batches.
type RecordIter struct {
	header BatchHeader
	data   []byte // the records not yet decoded
	next   int32  // index of the next record
	err    error

	decompressed []byte // reused buffer the records of a compressed batch are inflated into
	src          bytes.Reader
	gzip         *gzip.Reader
	lz4          *lz4.Reader
}

// Reset starts iterating over batch, a whole batch that VerifyBatch
// accepted; bytes after the batch's size are ignored. For a compressed
// batch Reset decompresses the records, and fails with an error wrapping
// ErrUnsupportedCompression for a codec it does not know. Other errors
// wrap ErrCorrupt. After an error Next returns false.
func (it *RecordIter) Reset(batch []byte) error {
	it.data, it.next, it.err = nil, 0, nil
	h, err := ParseBatchHeader(batch)
	it.header = h
	if err != nil {
		it.err = err
		return err
	}
	if len(batch) < h.Size() {
		it.err = fmt.Errorf("%w: batch at offset %d is %d bytes, header says %d", ErrCorrupt, h.BaseOffset, len(batch), h.Size())
		return it.err
	}
	records := batch[BatchHeaderSize:h.Size()]
	if codec := h.Compression(); codec != CodecNone {
		records, err = it.decompress(codec, records)
		if err != nil {
			it.err = err
			return it.err
		}
	}
	it.data = records
	return nil
}

// Header is the header of the current batch.
func (it *RecordIter) Header() BatchHeader { return it.header }

// Next decodes the next record into r and reports whether there was one.
// Offset and Timestamp are absolute. r.Key, r.Value and the headers alias
// the batch or, for a compressed batch, the iterator's buffer, which the
// next Reset overwrites: copy what must outlive it. r.Headers is reused
// (truncated and appended to), so decoding allocates nothing once it has
// grown. When Next returns false, Err says whether the batch ended well.
func (it *RecordIter) Next(r *Record) bool {
	if it.err != nil {
		return false
	}
	if it.next >= it.header.RecordCount {
		if len(it.data) != 0 {
			it.fail("%d bytes after the last of %d records", len(it.data), it.header.RecordCount)
		}
		return false
	}
	if len(it.data) == 0 {
		it.fail("batch ends after %d of %d records", it.next, it.header.RecordCount)
		return false
	}
	if !it.decode(r) {
		return false
	}
	it.next++
	return true
}

// Err is the error that ended the iteration, nil if every record the
// header counts was decoded and no bytes were left over.
func (it *RecordIter) Err() error { return it.err }

func (it *RecordIter) fail(format string, args ...any) {
	it.err = fmt.Errorf("%w: batch at offset %d: %s", ErrCorrupt, it.header.BaseOffset, fmt.Sprintf(format, args...))
}

// decode decodes the record at the start of it.data into r.
func (it *RecordIter) decode(r *Record) bool {
	length, n := readVarint(it.data)
	if n == 0 {
		it.fail("record %d: malformed length", it.next)
		return false
	}
	if length < minRecordBodySize || int(length) > len(it.data)-n {
		it.fail("record %d: length %d, %d bytes left", it.next, length, len(it.data)-n)
		return false
	}
	body := it.data[n : n+int(length)]
	it.data = it.data[n+int(length):]

	// body[0] is the record attributes byte, which Kafka leaves unused.
	p := 1
	timestampDelta, n := readVarlong(body[p:])
	if n == 0 {
		it.fail("record %d: malformed timestamp delta", it.next)
		return false
	}
	p += n
	offsetDelta, n := readVarint(body[p:])
	if n == 0 {
		it.fail("record %d: malformed offset delta", it.next)
		return false
	}
	p += n
	var ok bool
	if r.Key, p, ok = readBytes(body, p); !ok {
		it.fail("record %d: malformed key", it.next)
		return false
	}
	if r.Value, p, ok = readBytes(body, p); !ok {
		it.fail("record %d: malformed value", it.next)
		return false
	}
	headerCount, n := readVarint(body[p:])
	p += n
	// Each header takes at least two bytes, so a count larger than the
	// bytes left is corrupt; checking it first bounds r.Headers' growth.
	if n == 0 || headerCount < 0 || int(headerCount) > (len(body)-p)/2 {
		it.fail("record %d: malformed header count", it.next)
		return false
	}
	r.Headers = r.Headers[:0]
	for i := int32(0); i < headerCount; i++ {
		var h Header
		if h.Key, p, ok = readBytes(body, p); !ok || h.Key == nil {
			it.fail("record %d: malformed key of header %d", it.next, i)
			return false
		}
		if h.Value, p, ok = readBytes(body, p); !ok {
			it.fail("record %d: malformed value of header %d", it.next, i)
			return false
		}
		r.Headers = append(r.Headers, h)
	}
	if p != len(body) {
		it.fail("record %d: %d bytes after its last field", it.next, len(body)-p)
		return false
	}
	r.Offset = it.header.BaseOffset + int64(offsetDelta)
	if it.header.LogAppendTime() {
		r.Timestamp = it.header.MaxTimestamp
	} else {
		r.Timestamp = it.header.BaseTimestamp + timestampDelta
	}
	return true
}

// readBytes reads a nullable length-prefixed field at body[p:]. A negative
// length is null, as Kafka reads it. A present field's slice is capped at
// its length, so appending to it cannot overwrite the batch.
func readBytes(body []byte, p int) (field []byte, next int, ok bool) {
	length, n := readVarint(body[p:])
	if n == 0 {
		return nil, p, false
	}
	p += n
	if length < 0 {
		return nil, p, true
	}
	end := p + int(length)
	if int(length) > len(body)-p {
		return nil, p, false
	}
	return body[p:end:end], end, true
}

// decompress inflates a compressed batch's records into it.decompressed.
func (it *RecordIter) decompress(codec Codec, src []byte) ([]byte, error) {
	var err error
	dst := it.decompressed[:0]
	switch codec {
	case CodecGzip, CodecLZ4:
		var r io.Reader
		if r, err = it.streamReader(codec, src); err == nil {
			dst, err = readAllLimited(r, dst)
		}
	case CodecSnappy:
		dst, err = decodeSnappy(dst, src)
	case CodecZstd:
		dst, err = decodeZstd(dst, src)
	default:
		return nil, fmt.Errorf("%w: %v in batch at offset %d", ErrUnsupportedCompression, codec, it.header.BaseOffset)
	}
	if cap(dst) > cap(it.decompressed) {
		it.decompressed = dst[:0]
	}
	if err != nil {
		return nil, fmt.Errorf("%w: batch at offset %d: %v records: %v", ErrCorrupt, it.header.BaseOffset, codec, err)
	}
	return dst, nil
}

// readAllLimited reads r to its end, appending to dst, and fails once more
// than maxDecompressedSize bytes have come out.
func readAllLimited(r io.Reader, dst []byte) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst) > maxDecompressedSize {
			return dst, errDecompressedTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}
