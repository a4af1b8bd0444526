package logdir

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
