package server

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// randomFetchResponse makes a response with every field the encoder
// writes set to something, and each optional part present or not.
func randomFetchResponse(rng *rand.Rand, version int16) *kmsg.FetchResponse {
	v := kmsg.NewPtrFetchResponse()
	v.Version = version
	v.ThrottleMillis = rng.Int32()
	v.ErrorCode = int16(rng.IntN(100))
	v.SessionID = rng.Int32()
	for range rng.IntN(4) {
		t := kmsg.NewFetchResponseTopic()
		t.Topic = string(bytes.Repeat([]byte{'t'}, rng.IntN(300)))
		for i := range t.TopicID {
			t.TopicID[i] = byte(rng.IntN(256))
		}
		for range rng.IntN(4) {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition = rng.Int32()
			p.ErrorCode = int16(rng.IntN(100))
			p.HighWatermark, p.LastStableOffset, p.LogStartOffset = rng.Int64(), rng.Int64(), rng.Int64()
			p.PreferredReadReplica = rng.Int32()
			switch rng.IntN(3) {
			case 0:
				p.RecordBatches = nil
			case 1:
				p.RecordBatches = []byte{}
			default:
				p.RecordBatches = make([]byte, rng.IntN(20000))
				for i := range p.RecordBatches {
					p.RecordBatches[i] = byte(rng.IntN(256))
				}
			}
			if rng.IntN(2) == 0 {
				for range rng.IntN(3) {
					at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
					at.ProducerID, at.FirstOffset = rng.Int64(), rng.Int64()
					p.AbortedTransactions = append(p.AbortedTransactions, at)
				}
				if p.AbortedTransactions == nil {
					p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
				}
			}
			if rng.IntN(2) == 0 {
				p.DivergingEpoch.Epoch, p.DivergingEpoch.EndOffset = rng.Int32(), rng.Int64()
			}
			if rng.IntN(2) == 0 {
				p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = rng.Int32(), rng.Int32()
			}
			if rng.IntN(4) == 0 {
				p.SnapshotID.EndOffset, p.SnapshotID.Epoch = rng.Int64(), rng.Int32()
			}
			t.Partitions = append(t.Partitions, p)
		}
		v.Topics = append(v.Topics, t)
	}
	for range rng.IntN(3) {
		b := kmsg.NewFetchResponseBroker()
		b.NodeID, b.Host, b.Port = rng.Int32(), "host.example", rng.Int32()
		if rng.IntN(2) == 0 {
			rack := "rack"
			b.Rack = &rack
		}
		v.Brokers = append(v.Brokers, b)
	}
	return v
}

// TestFetchResponseEncoding: the response written with the batches in
// gaps is, byte for byte, what kmsg encodes, for every served version and
// every optional part.
func TestFetchResponseEncoding(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for version := int16(4); version <= 18; version++ {
		for range 200 {
			v := randomFetchResponse(rng, version)
			const corr = 0x01020304
			head, cuts := appendFetchFrame(nil, corr, v)
			var got []byte
			for _, b := range splice(head, cuts, v) {
				got = append(got, b...)
			}
			want := binary.BigEndian.AppendUint32(nil, corr)
			if version >= 12 {
				want = append(want, 0)
			}
			want = v.AppendTo(want)
			want = append(binary.BigEndian.AppendUint32(nil, uint32(len(want))), want...)
			if !bytes.Equal(got, want) {
				t.Fatalf("v%d: encoding differs from kmsg's (%d bytes, want %d)", version, len(got), len(want))
			}
			// And kmsg reads it back.
			back := kmsg.NewPtrFetchResponse()
			back.Version = version
			skip := 8
			if version >= 12 {
				skip = 9
			}
			if err := back.ReadFrom(got[skip:]); err != nil {
				t.Fatalf("v%d: kmsg cannot read the response: %v", version, err)
			}
		}
	}
}

// BenchmarkFetchResponseWrite: a Fetch response of one partition with
// 1 MiB of batches written to a loopback TCP connection, encoded by kmsg
// into one buffer and written (kmsg), or written with writev from the
// buffer the batches were read into (writev). The read side discards.
func BenchmarkFetchResponseWrite(b *testing.B) {
	recs := make([]byte, 1<<20)
	for i := range recs {
		recs[i] = byte(i)
	}
	newResponse := func() *kmsg.FetchResponse {
		v := kmsg.NewPtrFetchResponse()
		v.Version = 16
		t := kmsg.NewFetchResponseTopic()
		p := kmsg.NewFetchResponseTopicPartition()
		p.RecordBatches = recs
		t.Partitions = append(t.Partitions, p)
		v.Topics = append(v.Topics, t)
		return v
	}
	for _, mode := range []string{"kmsg", "writev"} {
		b.Run(mode, func(b *testing.B) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			go func() {
				nc, err := l.Accept()
				if err != nil {
					return
				}
				io.Copy(io.Discard, nc)
				nc.Close()
			}()
			nc, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			c := newConn(New(Config{}), nc, false)
			b.SetBytes(int64(len(recs)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				v := newResponse()
				var err error
				if mode == "kmsg" {
					err = c.write(c.frame(int32(i), v))
				} else {
					err = (&fetchResponse{FetchResponse: v}).writeResponse(c, int32(i))
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
