package logdir

import (
	"encoding/binary"
	"hash/crc32"
)

// SetMaxTimestamp sets a whole batch's timestamp type and maxTimestamp, as
// a leader does to a produced batch (Kafka's DefaultRecordBatch
// setMaxTimestamp): with logAppendTime every record's timestamp becomes ts,
// the broker's append time. Both fields are inside the CRC, so the CRC is
// computed again; the records are not touched (a compressed batch stays as
// its producer compressed it). It does nothing when both already hold.
func SetMaxTimestamp(batch []byte, logAppendTime bool, ts int64) {
	attrs := binary.BigEndian.Uint16(batch[offAttributes:])
	want := attrs &^ attrLogAppendTime
	if logAppendTime {
		want |= attrLogAppendTime
	}
	if attrs == want && int64(binary.BigEndian.Uint64(batch[offMaxTimestamp:])) == ts {
		return
	}
	binary.BigEndian.PutUint16(batch[offAttributes:], want)
	binary.BigEndian.PutUint64(batch[offMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(batch[offCRC:], crc32.Checksum(batch[offAttributes:], crcTable))
}
