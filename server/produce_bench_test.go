package server

import (
	"bufio"
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/logdir"
)

// BenchmarkProduceHandle: the broker's cost of a Produce request (v9,
// acks=1) of one uncompressed batch of 100-byte records, about 1 MB as kgo
// sends them under load, over a loopback connection with one request in
// flight: read, validate every record, append, answer. One op is one
// request; quote MB/s against BenchmarkBaselineCopy1MiB in the same run.
func BenchmarkProduceHandle(b *testing.B) {
	tb := startTestBroker(b, "t")
	nc, err := net.Dial("tcp", tb.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()

	value := bytes.Repeat([]byte("x"), 100)
	var bb logdir.BatchBuilder
	for i := 0; bb.Size()+logdir.RecordSize(int64(i), int32(i), nil, value, nil) <= 1_000_000; i++ {
		bb.Add(time.Now().UnixMilli(), nil, value, nil)
	}
	batch := bytes.Clone(bb.Finish())
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, 1, 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	wire := appendRequest(nil, 1, req)
	r := bufio.NewReader(nc)
	check := func() {
		_, body := readResponse(b, r, true)
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = 9
		if err := resp.ReadFrom(body); err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			b.Fatalf("produce answer %+v: %v", resp, err)
		}
	}
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := nc.Write(wire); err != nil {
			b.Fatal(err)
		}
		check()
	}
}

// BenchmarkBaselineCopy1MiB copies 1 MiB: the floor of any path that moves
// the bytes once, to quote BenchmarkProduceHandle's MB/s against.
func BenchmarkBaselineCopy1MiB(b *testing.B) {
	src, dst := make([]byte, 1<<20), make([]byte, 1<<20)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		copy(dst, src)
	}
}
