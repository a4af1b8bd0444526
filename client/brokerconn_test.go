package client

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The hand-written Produce request encoding (records not copied into the
// request) is byte for byte what kmsg encodes, header included.
func TestAppendProduceRequestIsKafkas(t *testing.T) {
	w0, w3 := &partitionWriter{partition: 0}, &partitionWriter{partition: 3}
	batches := []*batch{{w: w0, data: bytes.Repeat([]byte{1}, 200)}, {w: w3, data: bytes.Repeat([]byte{2}, 70)}}
	for _, bs := range [][]*batch{batches[:1], batches} {
		var got []byte
		for _, part := range appendProduceRequest(nil, nil, 42, -1, 1500, "orders", bs) {
			got = append(got, part...)
		}
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = produceVersion, -1, 1500
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "orders"
		for _, b := range bs {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition, rp.Records = b.w.partition, b.data
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		want := []byte{0, 0, 0, 0, 0, 0, 0, produceVersion, 0, 0, 0, 42, 0, byte(len(clientID))}
		want = append(want, clientID...)
		want = append(want, 0)
		want = req.AppendTo(want)
		binary.BigEndian.PutUint32(want, uint32(len(want)-4))
		if !bytes.Equal(got, want) {
			t.Fatalf("%d batches:\n got %x\nwant %x", len(bs), got, want)
		}
	}
}
