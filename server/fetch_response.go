package server

import (
	"encoding/binary"
	"net"
	"sync"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A Fetch response is mostly record batches. kmsg's encoder would copy
// every batch into the response buffer; this one encodes everything else
// (Kafka's FetchResponse schema, versions 4 to 18, as kmsg lays it out) and
// leaves a gap where each partition's batches go, so that the batches are
// written to the socket from the buffer they were read into, with one
// writev: the segment bytes are copied once, by the read that checks their
// CRC. TestFetchResponseEncoding checks the bytes against kmsg's encoder
// for every version.

// fetchResponse is a rawResponse (conn.go): a kmsg Fetch response whose
// RecordBatches alias buf, a pooled buffer released once written.
type fetchResponse struct {
	*kmsg.FetchResponse
	buf *[]byte
}

func (f *fetchResponse) writeResponse(c *conn, corr int32) error {
	defer f.release()
	head, cuts := appendFetchFrame(c.out[:0], corr, f.FetchResponse)
	c.out = head[:0]
	if cap(head) > 1<<20 {
		c.out = nil
	}
	// Every answer before this one is written already (directly, or
	// through the connection's answer queue, later.go), so nothing waits
	// in front of it.
	bufs := splice(head, cuts, f.FetchResponse)
	c.deadline(c.nc.SetWriteDeadline) // a client that stops reading does not hold the handler forever
	_, err := bufs.WriteTo(c.nc)
	return err
}

func (f *fetchResponse) release() {
	if f.buf != nil {
		putReadBuffer(f.buf)
		f.buf = nil
	}
}

// splice interleaves the encoded parts of the response with the batches
// that go in its gaps. Empty batches add nothing.
func splice(head []byte, cuts []int, v *kmsg.FetchResponse) net.Buffers {
	bufs := make(net.Buffers, 0, 2*len(cuts)+1)
	prev, i := 0, 0
	for t := range v.Topics {
		for p := range v.Topics[t].Partitions {
			recs := v.Topics[t].Partitions[p].RecordBatches
			cut := cuts[i]
			i++
			if len(recs) == 0 {
				continue
			}
			bufs = append(bufs, head[prev:cut], recs)
			prev = cut
		}
	}
	return append(bufs, head[prev:])
}

// appendFetchFrame appends the framed response (size, correlation id,
// header tags, body) without the record batches, and returns the positions
// in it where each partition's batches go, in order. The size prefix
// counts the batches.
func appendFetchFrame(dst []byte, corr int32, v *kmsg.FetchResponse) ([]byte, []int) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = kbin.AppendInt32(dst, corr)
	if v.IsFlexible() {
		dst = append(dst, 0) // no tagged fields in the response header
	}
	dst, cuts, recBytes := appendFetchBody(dst, v)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4+recBytes))
	return dst, cuts
}

// appendFetchBody is kmsg's FetchResponse.AppendTo without the bytes of
// the record batches (their length prefixes are written). Unknown tags are
// not written: mk never sets any.
func appendFetchBody(dst []byte, v *kmsg.FetchResponse) ([]byte, []int, int) {
	version := v.Version
	flexible := version >= 12
	var cuts []int
	recBytes := 0
	if version >= 1 {
		dst = kbin.AppendInt32(dst, v.ThrottleMillis)
	}
	if version >= 7 {
		dst = kbin.AppendInt16(dst, v.ErrorCode)
		dst = kbin.AppendInt32(dst, v.SessionID)
	}
	dst = appendArrayLen(dst, len(v.Topics), flexible)
	for i := range v.Topics {
		t := &v.Topics[i]
		if version <= 12 {
			dst = appendString(dst, t.Topic, flexible)
		} else {
			dst = kbin.AppendUuid(dst, t.TopicID)
		}
		dst = appendArrayLen(dst, len(t.Partitions), flexible)
		for j := range t.Partitions {
			p := &t.Partitions[j]
			dst = kbin.AppendInt32(dst, p.Partition)
			dst = kbin.AppendInt16(dst, p.ErrorCode)
			dst = kbin.AppendInt64(dst, p.HighWatermark)
			if version >= 4 {
				dst = kbin.AppendInt64(dst, p.LastStableOffset)
			}
			if version >= 5 {
				dst = kbin.AppendInt64(dst, p.LogStartOffset)
			}
			if version >= 4 {
				at := p.AbortedTransactions
				if flexible {
					dst = kbin.AppendCompactNullableArrayLen(dst, len(at), at == nil)
				} else {
					dst = kbin.AppendNullableArrayLen(dst, len(at), at == nil)
				}
				for k := range at {
					dst = kbin.AppendInt64(dst, at[k].ProducerID)
					dst = kbin.AppendInt64(dst, at[k].FirstOffset)
					if flexible {
						dst = append(dst, 0)
					}
				}
			}
			if version >= 11 {
				dst = kbin.AppendInt32(dst, p.PreferredReadReplica)
			}
			recs := p.RecordBatches
			switch {
			case recs == nil && flexible:
				dst = append(dst, 0)
			case recs == nil:
				dst = kbin.AppendInt32(dst, -1)
			case flexible:
				dst = kbin.AppendUvarint(dst, 1+uint32(len(recs)))
			default:
				dst = kbin.AppendInt32(dst, int32(len(recs)))
			}
			cuts = append(cuts, len(dst))
			recBytes += len(recs)
			if flexible {
				dst = appendPartitionTags(dst, p)
			}
		}
		if flexible {
			dst = append(dst, 0)
		}
	}
	if flexible {
		if len(v.Brokers) == 0 {
			dst = append(dst, 0)
		} else {
			dst = append(dst, 1)
			var body []byte
			body = kbin.AppendCompactArrayLen(body, len(v.Brokers))
			for _, b := range v.Brokers {
				body = kbin.AppendInt32(body, b.NodeID)
				body = kbin.AppendCompactString(body, b.Host)
				body = kbin.AppendInt32(body, b.Port)
				body = kbin.AppendCompactNullableString(body, b.Rack)
				body = append(body, 0)
			}
			dst = appendTag(dst, 0, body)
		}
	}
	return dst, cuts, recBytes
}

// appendPartitionTags writes a partition's tagged fields (v12+): the
// diverging epoch (tag 0), the current leader (tag 1, KIP-951) and the
// snapshot id (tag 2), each when it differs from its default.
func appendPartitionTags(dst []byte, p *kmsg.FetchResponseTopicPartition) []byte {
	diverging := p.DivergingEpoch.Epoch != -1 || p.DivergingEpoch.EndOffset != -1
	leader := p.CurrentLeader.LeaderID != -1 || p.CurrentLeader.LeaderEpoch != -1
	snapshot := p.SnapshotID.EndOffset != -1 || p.SnapshotID.Epoch != -1
	n := 0
	for _, b := range []bool{diverging, leader, snapshot} {
		if b {
			n++
		}
	}
	dst = kbin.AppendUvarint(dst, uint32(n))
	var tag [13]byte // the largest of the three: int64 + int32 + tag count
	if diverging {
		b := kbin.AppendInt64(kbin.AppendInt32(tag[:0], p.DivergingEpoch.Epoch), p.DivergingEpoch.EndOffset)
		dst = appendTag(dst, 0, append(b, 0))
	}
	if leader {
		b := kbin.AppendInt32(kbin.AppendInt32(tag[:0], p.CurrentLeader.LeaderID), p.CurrentLeader.LeaderEpoch)
		dst = appendTag(dst, 1, append(b, 0))
	}
	if snapshot {
		b := kbin.AppendInt32(kbin.AppendInt64(tag[:0], p.SnapshotID.EndOffset), p.SnapshotID.Epoch)
		dst = appendTag(dst, 2, append(b, 0))
	}
	return dst
}

func appendTag(dst []byte, tag uint32, body []byte) []byte {
	dst = kbin.AppendUvarint(dst, tag)
	dst = kbin.AppendUvarint(dst, uint32(len(body)))
	return append(dst, body...)
}

func appendArrayLen(dst []byte, n int, flexible bool) []byte {
	if flexible {
		return kbin.AppendCompactArrayLen(dst, n)
	}
	return kbin.AppendArrayLen(dst, n)
}

func appendString(dst []byte, s string, flexible bool) []byte {
	if flexible {
		return kbin.AppendCompactString(dst, s)
	}
	return kbin.AppendString(dst, s)
}

// The buffers Fetch reads batches into, one per request being answered.
// A buffer larger than keptReadBuffer (a fetch of many partitions) is left
// to the garbage collector rather than kept.
const keptReadBuffer = 8 << 20

var readBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func getReadBuffer() *[]byte { return readBuffers.Get().(*[]byte) }

func putReadBuffer(b *[]byte) {
	if cap(*b) > keptReadBuffer {
		return
	}
	*b = (*b)[:0]
	readBuffers.Put(b)
}
