package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"

	"mk/logdir"
)

// Validation of a produced batch, as a Kafka leader validates what a
// client sends before it assigns offsets: UnifiedLog's
// analyzeAndValidateRecords (base offset, size, CRC), then LogValidator for
// magic 2 (offset range against the record count, no control batches,
// every record decodable, timestamps within the topic's bounds). Where
// Kafka would re-encode a batch (a compressed batch whose records'
// offset deltas are not 0, 1, 2, ...), mk refuses it instead: it stores
// batches as they arrive and its readers hold every batch to dense
// offsets.
//
// The errors name the Kafka error the server answers with:
// ErrInvalidRecord (INVALID_RECORD), ErrInvalidTimestamp
// (INVALID_TIMESTAMP), logdir.ErrCorrupt (CORRUPT_MESSAGE),
// logdir.ErrRecordTooLarge (MESSAGE_TOO_LARGE). Errors about single
// records come as a *RecordErrors listing them (KIP-467's record errors).
// An idempotent producer's sequence and epoch are checked by the log,
// under the lock that assigns offsets (logdir/producerstate.go).

var (
	// ErrInvalidRecord: the batch breaks a rule of the record format
	// that its CRC cannot catch (offsets, counts, record structure).
	ErrInvalidRecord = errors.New("invalid record")
	// ErrInvalidTimestamp: a record's timestamp is out of the topic's
	// bounds, or the producer claimed LogAppendTime.
	ErrInvalidTimestamp = errors.New("invalid timestamp")
)

// RecordError is one record's reason for refusing its batch.
type RecordError struct {
	Index   int32 // the record's position in its batch
	Message string
}

// RecordErrors is a batch refused for what some of its records hold. Err
// is ErrInvalidTimestamp when any record's timestamp is out of bounds,
// else ErrInvalidRecord.
type RecordErrors struct {
	Err     error
	Records []RecordError
}

func (e *RecordErrors) Error() string {
	if errors.Is(e.Err, ErrInvalidTimestamp) {
		return "one or more records have been rejected due to invalid timestamp"
	}
	n := min(len(e.Records), 3)
	msg := fmt.Sprintf("one or more records have been rejected due to %d record errors in total, and only showing the first %d errors at most:", len(e.Records), n)
	for _, r := range e.Records[:n] {
		msg += fmt.Sprintf(" record %d: %s;", r.Index, r.Message)
	}
	return msg[:len(msg)-1]
}

func (e *RecordErrors) Unwrap() error { return e.Err }

// batchRules is what a topic's configuration asks of a produced batch.
type batchRules struct {
	maxMessageBytes int64
	logAppendTime   bool  // message.timestamp.type=LogAppendTime
	beforeMaxMs     int64 // message.timestamp.before.max.ms
	afterMaxMs      int64 // message.timestamp.after.max.ms
	now             int64 // the leader's clock, milliseconds
}

// Offsets of the batch header fields validation reads directly (see
// logdir/batch.go for the layout).
const (
	offCRC        = 17
	offAttributes = 21
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// iterPool keeps record iterators (and their decompression buffers and
// decoders) between batches.
var iterPool = sync.Pool{New: func() any { return new(logdir.RecordIter) }}

// validateProduced checks batch, one whole RecordBatch exactly as long as
// its header says, and fixes its header as the leader stores it: the
// timestamp type and maxTimestamp (with the CRC computed again when they
// change). It returns the log append time (-1 for CreateTime topics).
func validateProduced(batch []byte, rules batchRules) (logAppendTime int64, err error) {
	h, err := checkProducedHeader(batch, rules)
	if err != nil {
		return -1, err
	}
	it := iterPool.Get().(*logdir.RecordIter)
	defer iterPool.Put(it)
	if !h.LogAppendTime() {
		// One pass over the records, inflating a compressed batch a
		// piece at a time where its codec allows, checking each
		// record's structure, offset delta and timestamp. Only a batch
		// with records to refuse is walked again, to list them.
		res, err := it.Scan(batch, logdir.TimestampBounds{
			Check: !rules.logAppendTime, Now: rules.now, BeforeMax: rules.beforeMaxMs, AfterMax: rules.afterMaxMs,
		})
		if err != nil {
			return -1, fmt.Errorf("%w: %v", ErrInvalidRecord, err)
		}
		if res.Clean {
			if rules.logAppendTime {
				logdir.SetMaxTimestamp(batch, true, rules.now)
				return rules.now, nil
			}
			logdir.SetMaxTimestamp(batch, false, res.MaxTimestamp)
			return -1, nil
		}
	}
	return walkProduced(it, batch, h, rules)
}

// checkProducedHeader checks a produced batch's size, header and CRC
// (LogValidator.validateBatch, for a client's batch of magic 2).
func checkProducedHeader(batch []byte, rules batchRules) (logdir.BatchHeader, error) {
	// The caller gives a whole batch of magic 2 at least 26 bytes long
	// (server.firstBatch); its header may still be cut short.
	if base := int64(binary.BigEndian.Uint64(batch)); base != 0 {
		return logdir.BatchHeader{}, fmt.Errorf("%w: the baseOffset of the record batch should be 0, but it is %d", ErrInvalidRecord, base)
	}
	if int64(len(batch)) > rules.maxMessageBytes {
		return logdir.BatchHeader{}, fmt.Errorf("%w: the record batch is %d bytes, which exceeds max.message.bytes (%d)", logdir.ErrRecordTooLarge, len(batch), rules.maxMessageBytes)
	}
	if len(batch) < logdir.BatchHeaderSize {
		return logdir.BatchHeader{}, fmt.Errorf("%w: record batch of %d bytes is smaller than the minimum allowed overhead %d", logdir.ErrCorrupt, len(batch), logdir.BatchHeaderSize)
	}
	// A negative record count fails the parse but is Kafka's
	// INVALID_RECORD, checked below with the other counts.
	h, herr := logdir.ParseBatchHeader(batch)
	if herr != nil && h.RecordCount >= 0 {
		return logdir.BatchHeader{}, herr
	}
	if crc := crc32.Checksum(batch[offAttributes:], crc32c); crc != binary.BigEndian.Uint32(batch[offCRC:]) {
		return logdir.BatchHeader{}, fmt.Errorf("%w: record is corrupt (stored crc = %d, computed %d)", logdir.ErrCorrupt, binary.BigEndian.Uint32(batch[offCRC:]), crc)
	}
	// LogValidator.validateBatch, for a client's batch of magic 2.
	count := int64(h.RecordCount)
	switch fromOffsets := int64(h.LastOffsetDelta) + 1; {
	case fromOffsets <= 0:
		return logdir.BatchHeader{}, fmt.Errorf("%w: batch has an invalid offset range [0, %d]", ErrInvalidRecord, h.LastOffsetDelta)
	case count <= 0:
		return logdir.BatchHeader{}, fmt.Errorf("%w: invalid reported count for record batch: %d", ErrInvalidRecord, count)
	case fromOffsets != count:
		return logdir.BatchHeader{}, fmt.Errorf("%w: inconsistent batch offset range [0, %d] and count of records %d", ErrInvalidRecord, h.LastOffsetDelta, count)
	case h.IsControl():
		return logdir.BatchHeader{}, fmt.Errorf("%w: clients are not allowed to write control records", ErrInvalidRecord)
	case h.ProducerID >= 0 && h.BaseSequence < 0:
		return logdir.BatchHeader{}, fmt.Errorf("%w: invalid sequence number %d in record batch with producerId %d", ErrInvalidRecord, h.BaseSequence, h.ProducerID)
	case h.IsTransactional() && h.ProducerID < 0:
		return logdir.BatchHeader{}, fmt.Errorf("%w: transactional batch without a producer id", ErrInvalidRecord)
	}

	return h, nil
}

// walkProduced checks a produced batch's records one at a time with Skip,
// listing every record it refuses (Kafka's RecordErrors), and fixes the
// batch's timestamps as validateProduced does.
func walkProduced(it *logdir.RecordIter, batch []byte, h logdir.BatchHeader, rules batchRules) (logAppendTime int64, err error) {
	claimedLAT := h.LogAppendTime()
	if err := it.Reset(batch); err != nil {
		return -1, fmt.Errorf("%w: %v", ErrInvalidRecord, err)
	}
	var (
		maxTs int64 = -1
		bad   []RecordError
		badTs bool
	)
	for i := int32(0); ; i++ {
		offset, ts, ok := it.Skip()
		if !ok {
			break
		}
		if delta := offset - h.BaseOffset; delta != int64(i) {
			// Kafka would rewrite the batch with the right offsets;
			// mk stores batches as they come.
			bad = append(bad, RecordError{i, fmt.Sprintf("offset delta %d, want %d: offsets in a batch must be dense", delta, i)})
		}
		switch {
		case !rules.logAppendTime && ts != -1:
			if d := rules.now - ts; d > rules.beforeMaxMs || -d > rules.afterMaxMs {
				badTs = true
				bad = append(bad, RecordError{i, fmt.Sprintf("timestamp %d of message with offset %d is out of range; the timestamp should be within [%d, %d]",
					ts, i, satSub(rules.now, rules.beforeMaxMs), satAdd(rules.now, rules.afterMaxMs))})
			}
		case claimedLAT:
			badTs = true
			bad = append(bad, RecordError{i, "invalid timestamp type: the producer should not set the timestamp type to LogAppendTime"})
		}
		maxTs = max(maxTs, ts)
	}
	if err := it.Err(); err != nil {
		return -1, fmt.Errorf("%w: %v", ErrInvalidRecord, err)
	}
	if len(bad) > 0 {
		e := &RecordErrors{Err: ErrInvalidRecord, Records: bad}
		if badTs {
			e.Err = ErrInvalidTimestamp
		}
		return -1, e
	}
	if rules.logAppendTime {
		logdir.SetMaxTimestamp(batch, true, rules.now)
		return rules.now, nil
	}
	logdir.SetMaxTimestamp(batch, false, maxTs)
	return -1, nil
}

func satAdd(a, b int64) int64 {
	if s := a + b; s >= a {
		return s
	}
	return 1<<63 - 1
}

func satSub(a, b int64) int64 {
	if d := a - b; d <= a {
		return d
	}
	return -1 << 63
}
