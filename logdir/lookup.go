package logdir

// TimestampOffset is a record found by its timestamp, as Kafka's
// ListOffsets answers it: its offset, its timestamp (the batch's max
// timestamp for LogAppendTime batches) and the leader epoch of its batch
// (-1 when the batch has none).
type TimestampOffset struct {
	Offset      int64
	Timestamp   int64
	LeaderEpoch int32
}

// FindTimestamp is ListOffsets by time: the first record at or after the
// log start whose timestamp is at least ts, as Kafka's
// searchOffsetInLocalLog finds it. found is false when there is none below
// the high watermark (Kafka answers offset -1 then, the same as for a
// record it finds at or above the high watermark).
func (r *Reader) FindTimestamp(ts int64) (TimestampOffset, bool, error) {
	st, err := r.State()
	if err != nil {
		return TimestampOffset{}, false, err
	}
	bases, err := listSegments(r.dir)
	if err != nil {
		return TimestampOffset{}, false, err
	}
	r.bases = bases
	var buf []byte
	for _, base := range bases {
		segMax := st.ActiveMaxTimestamp
		if base != st.ActiveSegment {
			segMax = segmentMaxTimestamp(r.dir, base)
		}
		if segMax < ts {
			continue
		}
		// Every record at or below a time-index entry's offset is no newer
		// than its timestamp: start after the last entry older than ts.
		from := max(base, st.LogStartOffset)
		tidx, _ := readWhole(segmentPath(r.dir, base, timeIndexSuffix), nil, timeIndexEntrySize)
		for p := 0; p+timeIndexEntrySize <= len(tidx); p += timeIndexEntrySize {
			e := getTimeIndexEntry(tidx[p:])
			if e.Timestamp >= ts {
				break
			}
			from = max(from, base+int64(e.Relative)+1)
		}
		var found TimestampOffset
		var ok bool
		buf, from, ok, err = r.scanBatches(buf, from, st.HighWatermark, func(h *BatchHeader, rec *Record) bool {
			if rec.Offset >= st.LogStartOffset && rec.Timestamp >= ts {
				found, ok = TimestampOffset{rec.Offset, rec.Timestamp, epochOrNone(h.PartitionLeaderEpoch)}, true
				return true
			}
			return false
		}, func(h *BatchHeader) bool { return h.MaxTimestamp >= ts })
		if err != nil || ok {
			return found, ok, err
		}
	}
	return TimestampOffset{}, false, nil
}

// FindMaxTimestamp is ListOffsets' MAX_TIMESTAMP (KIP-734): the first record
// holding the largest timestamp of the log, found as Kafka finds it from
// each segment's largest timestamp. A segment whose largest timestamp is
// below the log start (DeleteRecords cut into it) is passed over, where
// Kafka would answer an offset no longer readable. found is false when the
// log is empty or that record is at or above the high watermark, where
// Kafka answers offset -1.
func (r *Reader) FindMaxTimestamp() (TimestampOffset, bool, error) {
	st, err := r.State()
	if err != nil {
		return TimestampOffset{}, false, err
	}
	bases, err := listSegments(r.dir)
	if err != nil {
		return TimestampOffset{}, false, err
	}
	r.bases = bases
	// The largest timestamp of each segment and the last offset of the
	// batch that holds it: for the active segment from the state, for a
	// closed one from its time index's last entry (written at the roll).
	maxTs, at := int64(-1), int64(-1)
	for _, base := range bases {
		ts, off := st.ActiveMaxTimestamp, st.ActiveMaxTsOffset
		if base != st.ActiveSegment {
			tidx, _ := readWhole(segmentPath(r.dir, base, timeIndexSuffix), nil, timeIndexEntrySize)
			if len(tidx) < timeIndexEntrySize {
				continue
			}
			e := getTimeIndexEntry(tidx[len(tidx)-timeIndexEntrySize:])
			ts, off = e.Timestamp, base+int64(e.Relative)
		}
		if ts > maxTs && off >= st.LogStartOffset {
			maxTs, at = ts, off
		}
	}
	if at < 0 || at >= st.HighWatermark {
		return TimestampOffset{}, false, nil
	}
	var found TimestampOffset
	var ok bool
	_, _, _, err = r.scanBatches(nil, at, st.HighWatermark, func(h *BatchHeader, rec *Record) bool {
		if rec.Timestamp == h.MaxTimestamp && rec.Offset >= st.LogStartOffset {
			found, ok = TimestampOffset{rec.Offset, rec.Timestamp, epochOrNone(h.PartitionLeaderEpoch)}, true
			return true
		}
		return false
	}, func(h *BatchHeader) bool { return h.MaxTimestamp == maxTs })
	if !ok || found.Offset >= st.HighWatermark {
		return TimestampOffset{}, false, err
	}
	return found, true, err
}

// scanBatches reads the committed batches from offset from up to limit and
// calls visit on the records of each batch that want accepts, until visit
// returns true (ok). It returns the buffer for reuse and where it stopped.
func (r *Reader) scanBatches(buf []byte, from, limit int64, visit func(*BatchHeader, *Record) bool, want func(*BatchHeader) bool) ([]byte, int64, bool, error) {
	var it RecordIter
	var rec Record
	var err error
	for from < limit {
		buf, _, err = r.Read(buf[:0], from, limit, 1<<20)
		if err != nil || len(buf) == 0 {
			return buf, from, false, err
		}
		for rest := buf; len(rest) > 0; {
			var b []byte
			if b, rest, err = NextBatch(rest); err != nil {
				return buf, from, false, err
			}
			h, _ := ParseBatchHeader(b)
			from = h.LastOffset() + 1
			if !want(&h) {
				continue
			}
			if err := it.Reset(b); err != nil {
				return buf, from, false, err
			}
			for it.Next(&rec) {
				if rec.Offset < limit && visit(&h, &rec) {
					return buf, from, true, nil
				}
			}
			if err := it.Err(); err != nil {
				return buf, from, false, err
			}
		}
	}
	return buf, from, false, nil
}

// epochOrNone is a batch's partition leader epoch as ListOffsets reports
// it: -1 (none) for a batch written without one.
func epochOrNone(e int32) int32 {
	if e < 0 {
		return -1
	}
	return e
}
