package logdir

import "fmt"

// Checking records without decoding them: what a leader needs to validate
// a produced batch (Kafka's skipKeyValueIterator, which reads each
// record's fields and skips its key, value and header bytes). Skip steps
// through an iterator's records one at a time; Scan checks a whole batch
// in one pass, inflating a compressed batch piece by piece where its codec
// allows (compression.go), so that the records are checked while they are
// still in the processor's cache rather than after the whole batch was
// inflated into a buffer larger than it.

// Skip checks the next record as Next does (every length within the
// record, header keys not null, nothing left over) without decoding its
// key, value and headers, and returns its offset and timestamp. It is
// what a leader needs to validate a produced batch (Kafka's
// skipKeyValueIterator). When it returns false, Err says why.
func (it *RecordIter) Skip() (offset, timestamp int64, ok bool) {
	if it.err != nil {
		return 0, 0, false
	}
	if it.next >= it.header.RecordCount {
		if len(it.data) != 0 {
			it.fail("%d bytes after the last of %d records", len(it.data), it.header.RecordCount)
		}
		return 0, 0, false
	}
	if len(it.data) == 0 {
		it.fail("batch ends after %d of %d records", it.next, it.header.RecordCount)
		return 0, 0, false
	}
	length, n := readVarint(it.data)
	if n == 0 {
		it.fail("record %d: malformed length", it.next)
		return 0, 0, false
	}
	if length < minRecordBodySize || int(length) > len(it.data)-n {
		it.fail("record %d: length %d, %d bytes left", it.next, length, len(it.data)-n)
		return 0, 0, false
	}
	body := it.data[n : n+int(length)]
	it.data = it.data[n+int(length):]
	p := 1 // the attributes byte
	timestampDelta, n := readVarlong(body[p:])
	if n == 0 {
		it.fail("record %d: malformed timestamp delta", it.next)
		return 0, 0, false
	}
	p += n
	offsetDelta, n := readVarint(body[p:])
	if n == 0 {
		it.fail("record %d: malformed offset delta", it.next)
		return 0, 0, false
	}
	p += n
	if p, ok = skipBytes(body, p, true); !ok {
		it.fail("record %d: malformed key", it.next)
		return 0, 0, false
	}
	if p, ok = skipBytes(body, p, true); !ok {
		it.fail("record %d: malformed value", it.next)
		return 0, 0, false
	}
	headerCount, n := readVarint(body[p:])
	p += n
	if n == 0 || headerCount < 0 || int(headerCount) > (len(body)-p)/2 {
		it.fail("record %d: malformed header count", it.next)
		return 0, 0, false
	}
	for i := int32(0); i < headerCount; i++ {
		if p, ok = skipBytes(body, p, false); !ok {
			it.fail("record %d: malformed key of header %d", it.next, i)
			return 0, 0, false
		}
		if p, ok = skipBytes(body, p, true); !ok {
			it.fail("record %d: malformed value of header %d", it.next, i)
			return 0, 0, false
		}
	}
	if p != len(body) {
		it.fail("record %d: %d bytes after its last field", it.next, len(body)-p)
		return 0, 0, false
	}
	it.next++
	offset = it.header.BaseOffset + int64(offsetDelta)
	if it.header.LogAppendTime() {
		return offset, it.header.MaxTimestamp, true
	}
	return offset, it.header.BaseTimestamp + timestampDelta, true
}

// bodyFault is what is wrong with a record's body, for Scan to say as
// Skip says it.
type bodyFault uint8

const (
	bodyOK bodyFault = iota
	bodyTimestampDelta
	bodyOffsetDelta
	bodyKey
	bodyValue
	bodyHeaderCount
	bodyHeaderKey
	bodyHeaderValue
	bodyTrailing
)

// error is the fault as Next says it for record i of the batch at base.
// hdr is the header the fault is in; body the record's body.
func (f bodyFault) error(base int64, i, hdr int32, body []byte) error {
	var what string
	switch f {
	case bodyTimestampDelta:
		what = "malformed timestamp delta"
	case bodyOffsetDelta:
		what = "malformed offset delta"
	case bodyKey:
		what = "malformed key"
	case bodyValue:
		what = "malformed value"
	case bodyHeaderCount:
		what = "malformed header count"
	case bodyHeaderKey:
		what = fmt.Sprintf("malformed key of header %d", hdr)
	case bodyHeaderValue:
		what = fmt.Sprintf("malformed value of header %d", hdr)
	case bodyTrailing:
		// The bytes left are those after the last field: recomputed
		// here, off the hot path.
		what = fmt.Sprintf("%d bytes after its last field", trailingBytes(body))
	}
	return fmt.Errorf("%w: batch at offset %d: record %d: %s", ErrCorrupt, base, i, what)
}

// trailingBytes is how many bytes of body, a record body whose fields
// parse, follow its last header.
func trailingBytes(body []byte) int {
	p := 1
	_, n := readVarlong(body[p:])
	p += n
	_, n = readVarint(body[p:])
	p += n
	p, _ = skipBytes(body, p, true)
	p, _ = skipBytes(body, p, true)
	count, n := readVarint(body[p:])
	p += n
	for range count {
		p, _ = skipBytes(body, p, false)
		p, _ = skipBytes(body, p, true)
	}
	return len(body) - p
}

// varintSlow reads the zig-zag varint at b[p:] as readVarint does and
// returns the position after it, or -1 where readVarint fails: one- and
// two-byte varints (lengths up to 8 KiB) first. Scan reads the common
// varints without a call and calls it for the others.
//
//go:noinline
func varintSlow(b []byte, p int) (v int32, next int) {
	if uint(p)+1 < uint(len(b)) {
		c0, c1 := b[p], b[p+1]
		if c0 < 0x80 {
			return int32(c0>>1) ^ -int32(c0&1), p + 1
		}
		if c1 < 0x80 {
			u := uint32(c0&0x7f) | uint32(c1)<<7
			return int32(u>>1) ^ -int32(u&1), p + 2
		}
	}
	if p > len(b) {
		return 0, -1
	}
	v, n := readVarint(b[p:])
	if n == 0 {
		return 0, -1
	}
	return v, p + n
}

// skipRecordBody checks a record's body (the bytes its length covers) as
// Next decodes it: the attributes byte, the timestamp and offset deltas,
// key and value (null when their length is negative), the header count
// (at most one header per two bytes left) and each header (its key never
// null), and no bytes after the last field. It returns the deltas, or the
// fault and, for a header's, the header's index. It reads any record;
// Scan calls it for those its own quicker reading does not take.
func skipRecordBody(body []byte) (timestampDelta int64, offsetDelta int32, fault bodyFault, hdr int32) {
	// body[0] is the attributes byte; the caller made sure the body
	// holds at least minRecordBodySize bytes.
	timestampDelta, n := readVarlong(body[1:])
	if n == 0 {
		return 0, 0, bodyTimestampDelta, 0
	}
	p := 1 + n
	if offsetDelta, p = varintSlow(body, p); p < 0 {
		return 0, 0, bodyOffsetDelta, 0
	}
	var v int32
	for _, f := range [2]bodyFault{bodyKey, bodyValue} {
		if v, p = varintSlow(body, p); p < 0 || (v >= 0 && int(v) > len(body)-p) {
			return 0, 0, f, 0
		}
		p += max(int(v), 0)
	}
	// Each header takes at least two bytes, so a count larger than the
	// bytes left is corrupt.
	if v, p = varintSlow(body, p); p < 0 || v < 0 || int(v) > (len(body)-p)/2 {
		return 0, 0, bodyHeaderCount, 0
	}
	for i := range v {
		var length int32
		if length, p = varintSlow(body, p); p < 0 || length < 0 || int(length) > len(body)-p {
			return 0, 0, bodyHeaderKey, i
		}
		p += int(length)
		if length, p = varintSlow(body, p); p < 0 || (length >= 0 && int(length) > len(body)-p) {
			return 0, 0, bodyHeaderValue, i
		}
		p += max(int(length), 0)
	}
	if p != len(body) {
		return 0, 0, bodyTrailing, 0
	}
	return timestampDelta, offsetDelta, bodyOK, 0
}

// skipBytes skips a length-prefixed field at body[p:], null (a negative
// length) only when nullable.
func skipBytes(body []byte, p int, nullable bool) (next int, ok bool) {
	length, n := readVarint(body[p:])
	if n == 0 {
		return p, false
	}
	p += n
	if length < 0 {
		return p, nullable
	}
	if int(length) > len(body)-p {
		return p, false
	}
	return p + int(length), true
}

// TimestampBounds is the timestamp rule Scan checks every record against,
// as Kafka's LogValidator does for a CreateTime topic: a record's
// timestamp ts (other than -1, no timestamp) is out of bounds when
// Now-ts > BeforeMax or ts-Now > AfterMax, computed as Kafka computes
// them (with 64-bit wrap-around). Check false checks nothing.
type TimestampBounds struct {
	Check                    bool
	Now, BeforeMax, AfterMax int64
}

// ScanResult is what Scan found in a batch whose records are all well
// formed.
type ScanResult struct {
	// MaxTimestamp is the largest record timestamp (-1 when every record
	// has none).
	MaxTimestamp int64
	// Clean: every record's offset delta is its index in the batch and
	// no record's timestamp is out of the bounds. When it is false,
	// iterate with Skip to learn which records are not.
	Clean bool
}

// Scan checks every record of batch, a whole batch that VerifyBatch
// accepted, as Skip does, in one pass: it refuses what Reset and Skip
// refuse, with their errors (wrapping ErrCorrupt or
// ErrUnsupportedCompression). A snappy batch in snappy-java's framing, a
// gzip and an lz4 batch are inflated a piece at a time into the
// iterator's buffer and checked as they come, so the buffer stays small
// and the records are read while still in the processor's cache; such a
// batch may be refused for a bad record before a decoding error further
// on is met (as Kafka's streaming iterator does). A snappy block and a
// zstd frame are inflated whole first: their decoders take whole blocks
// only. Scan uses the iterator's buffers; afterwards the iterator holds
// no batch (call Reset to iterate).
func (it *RecordIter) Scan(batch []byte, bounds TimestampBounds) (ScanResult, error) {
	it.data, it.next, it.err = nil, 0, nil
	h, err := ParseBatchHeader(batch)
	it.header = h
	if err != nil {
		it.err = err
		return ScanResult{}, err
	}
	if len(batch) < h.Size() {
		it.err = fmt.Errorf("%w: batch at offset %d is %d bytes, header says %d", ErrCorrupt, h.BaseOffset, len(batch), h.Size())
		return ScanResult{}, it.err
	}
	s := scanner{h: &it.header, bounds: bounds, maxTs: -1, clean: true}
	records := batch[BatchHeaderSize:h.Size()]
	if codec := h.Compression(); codec == CodecNone {
		err = s.finish(records)
	} else {
		err = it.scanCompressed(codec, records, &s)
	}
	if err != nil {
		it.err = err
		return ScanResult{}, err
	}
	return ScanResult{MaxTimestamp: s.maxTs, Clean: s.clean}, nil
}

// scanner is the state of one Scan: the records checked so far.
type scanner struct {
	h        *BatchHeader
	bounds   TimestampBounds
	next     int32 // index of the next record
	maxTs    int64
	clean    bool
	trailing int // bytes seen after the last record
}

// records checks the whole records at the start of data and returns how
// many bytes they take. A record cut off by the end of data is left for
// the next call, when more follows; at the end of the records (more
// false) it is an error, as are bytes after the last record.
func (s *scanner) records(data []byte, more bool) (int, error) {
	var (
		h     = s.h
		next  = s.next
		maxTs = s.maxTs
		clean = s.clean
		base  = h.BaseTimestamp
		b     = s.bounds
		lat   = h.LogAppendTime()
		p     int
	)
	defer func() { s.next, s.maxTs, s.clean = next, maxTs, clean }()
	for ; next < h.RecordCount; next++ {
		rest := data[p:]
		var (
			length int32
			n      int
		)
		if len(rest) > 1 && rest[0] < 0x80 {
			length, n = int32(rest[0]>>1)^-int32(rest[0]&1), 1
		} else if len(rest) > 1 && rest[1] < 0x80 {
			u := uint32(rest[0]&0x7f) | uint32(rest[1])<<7
			length, n = int32(u>>1)^-int32(u&1), 2
		} else {
			length, n = varintSlow(rest, 0)
		}
		if n < 0 {
			if more && len(rest) < maxVarintLen {
				return p, nil
			}
			if len(rest) == 0 {
				return p, s.fail("batch ends after %d of %d records", next, h.RecordCount)
			}
			return p, s.fail("record %d: malformed length", next)
		}
		if length < minRecordBodySize || int(length) > len(rest)-n {
			if more && length >= minRecordBodySize {
				return p, nil
			}
			return p, s.fail("record %d: length %d, %d bytes left", next, length, len(rest)-n)
		}
		body := rest[n : n+int(length)]
		p += n + int(length)
		// The common record, read here without a call: varints of one
		// or two bytes (three for the offset delta), under 64 headers.
		// Anything else, well formed or not, goes to skipRecordBody,
		// which reads every record; so this reading only has to be
		// right about the records it takes.
		var (
			tsDelta     int64
			offsetDelta int32
			v           int32
			q           int
			c           byte
		)
		if c = body[1]; c < 0x80 {
			tsDelta, q = int64(c>>1)^-int64(c&1), 2
		} else if c1 := body[2]; c1 < 0x80 {
			u := uint64(c&0x7f) | uint64(c1)<<7
			tsDelta, q = int64(u>>1)^-int64(u&1), 3
		} else {
			goto slow
		}
		// q <= 3 and the body holds at least 6 bytes. Offset deltas
		// take three bytes from 8192 on.
		if c = body[q]; c < 0x80 {
			offsetDelta, q = int32(c>>1)^-int32(c&1), q+1
		} else if c1 := body[q+1]; c1 < 0x80 {
			u := uint32(c&0x7f) | uint32(c1)<<7
			offsetDelta, q = int32(u>>1)^-int32(u&1), q+2
		} else if c2 := body[q+2]; c2 < 0x80 {
			u := uint32(c&0x7f) | uint32(c1&0x7f)<<7 | uint32(c2)<<14
			offsetDelta, q = int32(u>>1)^-int32(u&1), q+3
		} else {
			goto slow
		}
		for range 2 { // the key, then the value
			if q+1 >= len(body) {
				goto slow
			}
			if c = body[q]; c < 0x80 {
				v, q = int32(c>>1)^-int32(c&1), q+1
			} else if c1 := body[q+1]; c1 < 0x80 {
				u := uint32(c&0x7f) | uint32(c1)<<7
				v, q = int32(u>>1)^-int32(u&1), q+2
			} else {
				goto slow
			}
			if v > 0 {
				if int(v) >= len(body)-q {
					goto slow
				}
				q += int(v)
			}
		}
		// The headers: a count of one byte, then each header's key
		// (never null) and value.
		if q >= len(body) {
			goto slow
		}
		if c = body[q]; c >= 0x80 || c&1 != 0 || int(c>>1) > (len(body)-q-1)/2 {
			goto slow
		}
		q++
		for range c >> 1 {
			for field := range 2 {
				if q+1 >= len(body) {
					goto slow
				}
				if c = body[q]; c < 0x80 {
					v, q = int32(c>>1)^-int32(c&1), q+1
				} else if c1 := body[q+1]; c1 < 0x80 {
					u := uint32(c&0x7f) | uint32(c1)<<7
					v, q = int32(u>>1)^-int32(u&1), q+2
				} else {
					goto slow
				}
				if v < 0 && field == 0 {
					goto slow
				}
				if v > 0 {
					if int(v) > len(body)-q {
						goto slow
					}
					q += int(v)
				}
			}
		}
		if q != len(body) {
			goto slow
		}
		goto checked
	slow:
		{
			var (
				fault bodyFault
				hdr   int32
			)
			if tsDelta, offsetDelta, fault, hdr = skipRecordBody(body); fault != bodyOK {
				return p - n - int(length), fault.error(h.BaseOffset, next, hdr, body)
			}
		}
	checked:
		if offsetDelta != next {
			clean = false
		}
		ts := base + tsDelta
		if lat {
			ts = h.MaxTimestamp
		}
		maxTs = max(maxTs, ts)
		if b.Check && ts != -1 {
			if d := b.Now - ts; d > b.BeforeMax || -d > b.AfterMax {
				clean = false
			}
		}
	}
	s.trailing += len(data) - p
	if !more && s.trailing > 0 {
		return p, s.fail("%d bytes after the last of %d records", s.trailing, h.RecordCount)
	}
	return len(data), nil
}

// finish checks data, the last of the records.
func (s *scanner) finish(data []byte) error {
	_, err := s.records(data, false)
	return err
}

func (s *scanner) fail(format string, args ...any) error {
	return fmt.Errorf("%w: batch at offset %d: %s", ErrCorrupt, s.h.BaseOffset, fmt.Sprintf(format, args...))
}
