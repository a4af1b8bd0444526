package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/logdir"
)

// consumed is one record as `mk consume -o json` prints it.
type consumed struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp int64
	Key       string
	Value     string
	Headers   []kgo.RecordHeader
}

// consumeAll reads every record of topic with `mk consume -o json -e`.
func (k *kafkaCluster) consumeAll(topic string) []consumed {
	k.t.Helper()
	out := k.mk("consume", topic, "-o", "json", "--from-beginning", "-e")
	var recs []consumed
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var raw struct {
			Topic         string
			Partition     int32
			Offset        int64
			Timestamp     int64
			Key           *string
			KeyEncoding   string `json:"key_encoding"`
			Value         *string
			ValueEncoding string `json:"value_encoding"`
			Headers       []struct {
				Key           string
				KeyEncoding   string `json:"key_encoding"`
				Value         *string
				ValueEncoding string `json:"value_encoding"`
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			k.t.Fatalf("mk consume printed %q: %v", sc.Text(), err)
		}
		dec := func(s *string, enc string) string {
			if s == nil {
				return "<nil>"
			}
			if enc == "base64" {
				b, err := base64.StdEncoding.DecodeString(*s)
				if err != nil {
					k.t.Fatalf("bad base64 %q", *s)
				}
				return string(b)
			}
			return *s
		}
		c := consumed{Topic: raw.Topic, Partition: raw.Partition, Offset: raw.Offset, Timestamp: raw.Timestamp,
			Key: dec(raw.Key, raw.KeyEncoding), Value: dec(raw.Value, raw.ValueEncoding)}
		for _, h := range raw.Headers {
			c.Headers = append(c.Headers, kgo.RecordHeader{Key: dec(&h.Key, h.KeyEncoding), Value: []byte(dec(h.Value, h.ValueEncoding))})
		}
		recs = append(recs, c)
	}
	return recs
}

// topicState is a topic as `mk describe topic -o json` shows it.
type topicState struct {
	Partitions []struct {
		Partition      int
		Leader         int
		LeaderEpoch    int `json:"leader_epoch"`
		ISR            []int
		HighWatermark  int64 `json:"high_watermark"`
		LogEndOffset   int64 `json:"log_end_offset"`
		LogStartOffset int64 `json:"log_start_offset"`
	}
}

func (k *kafkaCluster) describe(topic string) topicState {
	k.t.Helper()
	var ts topicState
	if err := json.Unmarshal([]byte(k.mk("describe", "topic", topic, "-o", "json")), &ts); err != nil {
		k.t.Fatal(err)
	}
	return ts
}

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

// recordsFor makes n records for partitions 0..parts-1 with keys, values,
// two headers (one with an empty value) and distinct timestamps.
func recordsFor(tag string, n, parts int) []*kgo.Record {
	base := time.Now().Add(-time.Hour).UnixMilli()
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{
			Partition: int32(i % parts),
			Key:       []byte(fmt.Sprintf("%s-key-%d", tag, i)),
			Value:     []byte(fmt.Sprintf("%s-value-%d-%s", tag, i, strings.Repeat("x", i%50))),
			Headers:   []kgo.RecordHeader{{Key: "h1", Value: []byte(tag)}, {Key: "h2", Value: []byte{}}},
			Timestamp: time.UnixMilli(base + int64(i)),
		})
	}
	return recs
}

// checkSame asserts that every sent record was read back once with the
// same partition, key, value, headers and timestamp, and, when the
// producer learned offsets (acks 1 and all), at its offset.
func checkSame(t *testing.T, sent []*kgo.Record, got []consumed, withOffsets bool) {
	t.Helper()
	byKey := map[string]consumed{}
	for _, c := range got {
		if _, dup := byKey[c.Key]; dup {
			t.Fatalf("key %s read twice", c.Key)
		}
		byKey[c.Key] = c
	}
	for _, r := range sent {
		c, ok := byKey[string(r.Key)]
		if !ok {
			t.Fatalf("record %s not read back", r.Key)
		}
		if c.Partition != r.Partition || c.Value != string(r.Value) || c.Timestamp != r.Timestamp.UnixMilli() {
			t.Fatalf("record %s: sent partition %d value %q ts %d, read %+v", r.Key, r.Partition, r.Value, r.Timestamp.UnixMilli(), c)
		}
		if withOffsets && c.Offset != r.Offset {
			t.Fatalf("record %s acknowledged at offset %d, read at %d", r.Key, r.Offset, c.Offset)
		}
		if len(c.Headers) != len(r.Headers) {
			t.Fatalf("record %s: headers %v, read %v", r.Key, r.Headers, c.Headers)
		}
		for i, h := range r.Headers {
			if c.Headers[i].Key != h.Key || string(c.Headers[i].Value) != string(h.Value) {
				t.Fatalf("record %s: headers %v, read %v", r.Key, r.Headers, c.Headers)
			}
		}
	}
}

// TestKafkaProduceAcks: kgo produces with acks 0, 1 and all to three
// brokers with replication factor 3, and mk consume reads back the same
// records (keys, values, headers, timestamps, partitions, offsets).
func TestKafkaProduceAcks(t *testing.T) {
	k := startKafkaCluster(t, 3)
	k.mk("topic", "create", "t", "--partitions", "3", "--replication-factor", "3")
	ctx := testContext(t)
	var sent []*kgo.Record
	for _, acks := range []struct {
		name string
		acks kgo.Acks
	}{{"acks0", kgo.NoAck()}, {"acks1", kgo.LeaderAck()}, {"acksall", kgo.AllISRAcks()}} {
		cl := k.client(kgo.DefaultProduceTopic("t"), kgo.RequiredAcks(acks.acks), kgo.DisableIdempotentWrite(),
			kgo.RecordPartitioner(kgo.ManualPartitioner()))
		recs := recordsFor(acks.name, 300, 3)
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("%s: %v", acks.name, err)
		}
		sent = append(sent, recs...)
		if acks.name != "acksall" {
			// Nothing tells an acks=0 producer that the broker has
			// appended, and acks=1 is answered before the followers
			// copy the records (consumers read below the high
			// watermark, which moves when they have): wait until the
			// records are committed.
			waitUntil(t, acks.name+" records committed", 10*time.Second, func() bool {
				n := int64(0)
				for _, p := range k.describe("t").Partitions {
					n += p.HighWatermark
				}
				return n == int64(len(sent))
			})
		}
		checkSame(t, recs, k.consumeAll("t"), acks.name != "acks0")
	}
	if got := k.consumeAll("t"); len(got) != len(sent) {
		t.Fatalf("read %d records, sent %d", len(got), len(sent))
	}
}

// TestKafkaProduceIdempotentDefault: kgo's default producer is idempotent:
// it asks for a producer id (InitProducerId) and numbers its batches, and
// each record is stored once at the offset it was acknowledged at.
func TestKafkaProduceIdempotentDefault(t *testing.T) {
	k := startKafkaCluster(t, 1)
	k.mk("topic", "create", "t")
	cl := k.client(kgo.DefaultProduceTopic("t"))
	recs := recordsFor("idem", 10, 1)
	if err := cl.ProduceSync(testContext(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	checkSame(t, recs, k.consumeAll("t"), true)
}

// TestKafkaProduceCompressed: batches compressed by kgo with each codec
// are stored as they came (the segment holds the codec's batch) and mk
// consume reads the records back.
func TestKafkaProduceCompressed(t *testing.T) {
	k := startKafkaCluster(t, 1)
	ctx := testContext(t)
	for _, c := range []struct {
		name  string
		codec kgo.CompressionCodec
		want  logdir.Codec
	}{
		{"gzip", kgo.GzipCompression(), logdir.CodecGzip},
		{"snappy", kgo.SnappyCompression(), logdir.CodecSnappy},
		{"lz4", kgo.Lz4Compression(), logdir.CodecLZ4},
		{"zstd", kgo.ZstdCompression(), logdir.CodecZstd},
	} {
		topic := "c-" + c.name
		k.mk("topic", "create", topic)
		cl := k.client(kgo.DefaultProduceTopic(topic), kgo.DisableIdempotentWrite(), kgo.ProducerBatchCompression(c.codec),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(20*time.Millisecond))
		recs := recordsFor(c.name, 500, 1)
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		checkSame(t, recs, k.consumeAll(topic), true)
		rd, err := logdir.OpenReader(filepath.Join(k.dir, "brokers", "1", topic+"-0"))
		if err != nil {
			t.Fatal(err)
		}
		buf, _, err := rd.Read(nil, 0, 500, 64<<20)
		rd.Close()
		if err != nil {
			t.Fatal(err)
		}
		for len(buf) > 0 {
			h, err := logdir.ParseBatchHeader(buf)
			if err != nil {
				t.Fatal(err)
			}
			if h.Compression() != c.want {
				t.Fatalf("%s: a batch is stored with codec %v", c.name, h.Compression())
			}
			buf = buf[h.Size():]
		}
	}
}

// TestKafkaProduceLogAppendTime: a topic with message.timestamp.type
// LogAppendTime stamps the broker's time on the batch, answers it in the
// response, and readers see it as every record's timestamp.
func TestKafkaProduceLogAppendTime(t *testing.T) {
	k := startKafkaCluster(t, 1)
	k.mk("topic", "create", "lat", "--config", "message.timestamp.type=LogAppendTime")
	before := time.Now().UnixMilli()
	recs := recordsFor("lat", 5, 1)
	resp := produceRaw(t, k, "lat", 0, -1, batchOf(recs, 0))
	after := time.Now().UnixMilli()
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || p.LogAppendTime < before || p.LogAppendTime > after {
		t.Fatalf("answer %+v, want no error and a log append time in [%d, %d]", p, before, after)
	}
	for _, c := range k.consumeAll("lat") {
		if c.Timestamp != p.LogAppendTime {
			t.Fatalf("record %s has timestamp %d, want the log append time %d", c.Key, c.Timestamp, p.LogAppendTime)
		}
	}
}

// batchOf encodes records as one uncompressed RecordBatch, as a
// non-idempotent producer does, with record i at offset delta i+skew.
func batchOf(recs []*kgo.Record, skew int32) []byte {
	var b logdir.BatchBuilder
	for _, r := range recs {
		var hs []logdir.Header
		for _, h := range r.Headers {
			hs = append(hs, logdir.Header{Key: []byte(h.Key), Value: h.Value})
		}
		b.Add(r.Timestamp.UnixMilli(), r.Key, r.Value, hs)
	}
	out := append([]byte(nil), b.Finish()...)
	if skew != 0 {
		// Rewrite each record's offset delta: it is the varint after the
		// length, attributes and timestamp delta; the deltas here are
		// small, so each fits one byte before and after.
		p := logdir.BatchHeaderSize
		for i := range recs {
			length, n := binary.Varint(out[p:])
			q := p + n + 1
			_, tn := binary.Varint(out[q:])
			q += tn
			out[q] = byte(zigzag(int64(int32(i) + skew)))
			p += n + int(length)
		}
		fixCRC(out)
	}
	return out
}

func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

func fixCRC(batch []byte) {
	binary.BigEndian.PutUint32(batch[17:], crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli)))
}

// produceRaw sends one Produce request with records for topic/partition
// to the partition's leader and returns the answer.
func produceRaw(t *testing.T, k *kafkaCluster, topic string, partition int32, acks int16, records []byte) *kmsg.ProduceResponse {
	t.Helper()
	return produceTo(t, k, k.leaderOf(topic, int(partition)), 13, topic, partition, acks, 10000, records)
}

// produceTo sends one Produce request of the given version to a broker
// and returns the answer. It speaks the protocol itself: kgo rewrites a
// request's acks to the client's.
func produceTo(t *testing.T, k *kafkaCluster, broker int, version int16, topic string, partition int32, acks int16, timeoutMs int32, records []byte) *kmsg.ProduceResponse {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	req.Acks, req.TimeoutMillis = acks, timeoutMs
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	if out, err := exec.Command("mk", "--dir", k.dir, "describe", "topic", topic, "-o", "json").Output(); err == nil {
		var d struct {
			TopicID string `json:"topic_id"`
		}
		json.Unmarshal(out, &d)
		id, _ := base64.RawURLEncoding.DecodeString(d.TopicID)
		copy(rt.TopicID[:], id)
	}
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	_, addr := k.registration(broker)
	resp := kmsg.NewPtrProduceResponse()
	rawRequest(t, addr, req, resp)
	return resp
}

// rawRequest sends req on a new connection to addr and reads its answer
// into resp (framing as Kafka's: size, header v1 or v2, body).
func rawRequest(t *testing.T, addr string, req kmsg.Request, resp kmsg.Response) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	b := []byte{0, 0, 0, 0}
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, 7)      // correlation id
	b = binary.BigEndian.AppendUint16(b, 0xffff) // null client id
	if req.IsFlexible() {
		b = append(b, 0) // no tagged fields
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatalf("read answer: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatal(err)
	}
	if corr := binary.BigEndian.Uint32(body); corr != 7 {
		t.Fatalf("correlation id %d", corr)
	}
	body = body[4:]
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() {
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
}

func (k *kafkaCluster) leaderOf(topic string, partition int) int {
	k.t.Helper()
	for _, p := range k.describe(topic).Partitions {
		if p.Partition == partition {
			return p.Leader
		}
	}
	k.t.Fatalf("no partition %d in %s", partition, topic)
	return 0
}

// TestKafkaProduceBadBatches: batches a broker must refuse are refused
// with Kafka's error code, per partition, and nothing of them is appended.
func TestKafkaProduceBadBatches(t *testing.T) {
	k := startKafkaCluster(t, 2)
	k.mk("topic", "create", "t", "--replication-factor", "2", "--config", "max.message.bytes=4096")
	good := func() []byte { return batchOf(recordsFor("bad", 3, 1), 0) }
	withHeader := func(off int, set func(b []byte)) []byte {
		b := good()
		set(b[off:])
		fixCRC(b)
		return b
	}
	big := batchOf([]*kgo.Record{{Value: make([]byte, 5000), Timestamp: time.Now()}}, 0)
	future := recordsFor("future", 2, 1)
	future[1].Timestamp = time.Now().Add(2 * time.Hour)
	twoBatches := append(good(), good()...)
	cases := []struct {
		name    string
		records []byte
		acks    int16
		want    *kerr.Error
	}{
		{"bad crc", func() []byte { b := good(); b[len(b)-1] ^= 1; return b }(), 1, kerr.CorruptMessage},
		{"magic 1", withHeader(16, func(b []byte) { b[0] = 1 }), 1, kerr.InvalidRecord},
		{"magic 3", withHeader(16, func(b []byte) { b[0] = 3 }), 1, kerr.CorruptMessage},
		{"batch length below any record", withHeader(8, func(b []byte) { binary.BigEndian.PutUint32(b, 10) }), 1, kerr.CorruptMessage},
		{"batch length below the header", func() []byte {
			b := good()[:40]
			binary.BigEndian.PutUint32(b[8:], 28)
			return b
		}(), 1, kerr.CorruptMessage},
		{"truncated", good()[:50], 1, kerr.InvalidRecord},
		{"empty", nil, 1, kerr.InvalidRecord},
		{"too large", big, 1, kerr.MessageTooLarge},
		{"record count above last offset delta", withHeader(57, func(b []byte) { binary.BigEndian.PutUint32(b, 4) }), 1, kerr.InvalidRecord},
		{"record count below last offset delta", withHeader(57, func(b []byte) { binary.BigEndian.PutUint32(b, 2) }), 1, kerr.InvalidRecord},
		{"records and count disagree", withHeader(23, func(b []byte) {
			binary.BigEndian.PutUint32(b, 3)      // lastOffsetDelta
			binary.BigEndian.PutUint32(b[34:], 4) // recordCount
		}), 1, kerr.InvalidRecord},
		{"base offset not 0", withHeader(0, func(b []byte) { binary.BigEndian.PutUint64(b, 7) }), 1, kerr.InvalidRecord},
		{"two batches", twoBatches, 1, kerr.InvalidRecord},
		{"control batch", withHeader(21, func(b []byte) { b[1] |= 0x20 }), 1, kerr.InvalidRecord},
		{"unknown codec", withHeader(21, func(b []byte) { b[1] |= 0x07 }), 1, kerr.CorruptMessage},
		{"gzip that does not inflate", withHeader(21, func(b []byte) { b[1] |= 0x01 }), 1, kerr.InvalidRecord},
		{"offset deltas not dense", batchOf(recordsFor("skew", 3, 1), 1), 1, kerr.InvalidRecord},
		{"producer id without sequence", withHeader(43, func(b []byte) { binary.BigEndian.PutUint64(b, 5) }), 1, kerr.InvalidRecord},
		{"timestamp an hour ahead", batchOf(future, 0), 1, kerr.InvalidTimestamp},
		{"acks 2", good(), 2, kerr.InvalidRequiredAcks},
	}
	for _, c := range cases {
		resp := produceRaw(t, k, "t", 0, c.acks, c.records)
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != c.want.Code {
			msg := ""
			if p.ErrorMessage != nil {
				msg = *p.ErrorMessage
			}
			t.Errorf("%s: error %v (%s), want %v", c.name, kerr.ErrorForCode(p.ErrorCode), msg, c.want)
		}
		if p.BaseOffset != -1 {
			t.Errorf("%s: base offset %d, want -1", c.name, p.BaseOffset)
		}
		if c.name == "offset deltas not dense" && (len(p.ErrorRecords) != 3 || p.ErrorRecords[0].RelativeOffset != 0) {
			t.Errorf("%s: record errors %+v, want one per record", c.name, p.ErrorRecords)
		}
		if c.name == "timestamp an hour ahead" && (len(p.ErrorRecords) != 1 || p.ErrorRecords[0].RelativeOffset != 1) {
			t.Errorf("%s: record errors %+v, want record 1", c.name, p.ErrorRecords)
		}
	}
	// Wrong broker, unknown topic or partition.
	follower := 3 - k.leaderOf("t", 0)
	if p := produceTo(t, k, follower, 13, "t", 0, 1, 1000, good()).Topics[0].Partitions[0]; p.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Errorf("follower: %v, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(p.ErrorCode))
	} else if p.CurrentLeader.LeaderID != int32(k.leaderOf("t", 0)) {
		t.Errorf("follower: current leader %+v, want broker %d", p.CurrentLeader, k.leaderOf("t", 0))
	}
	for _, tp := range []struct {
		topic string
		p     int32
		want  *kerr.Error // at v13, by topic id
	}{{"nosuch", 0, kerr.UnknownTopicID}, {"t", 1, kerr.UnknownTopicOrPartition}, {"t", -1, kerr.UnknownTopicOrPartition}, {"bad/name", 0, kerr.UnknownTopicID}} {
		if p := produceTo(t, k, 1, 13, tp.topic, tp.p, 1, 1000, good()).Topics[0].Partitions[0]; p.ErrorCode != tp.want.Code {
			t.Errorf("v13 %s-%d: %v, want %v", tp.topic, tp.p, kerr.ErrorForCode(p.ErrorCode), tp.want)
		}
		if p := produceTo(t, k, 1, 12, tp.topic, tp.p, 1, 1000, good()).Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("v12 %s-%d: %v, want UNKNOWN_TOPIC_OR_PARTITION", tp.topic, tp.p, kerr.ErrorForCode(p.ErrorCode))
		}
	}
	// Nothing was appended: the first good batch lands at offset 0.
	if p := produceRaw(t, k, "t", 0, -1, good()).Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("good batch after the bad ones: %+v", p)
	}
	if got := k.consumeAll("t"); len(got) != 3 {
		t.Fatalf("read %d records, want the 3 of the good batch", len(got))
	}
}

// TestKafkaProduceAcksAllWaits: acks=all waits for every in-sync replica:
// with a follower stopped (still in the ISR) the request times out with
// REQUEST_TIMED_OUT; with min.insync.replicas above the ISR it is refused
// with NOT_ENOUGH_REPLICAS and nothing is appended; once the follower runs
// again the timed-out batch is committed.
func TestKafkaProduceAcksAllWaits(t *testing.T) {
	k := startKafkaCluster(t, 2, "--session-timeout", "60s")
	k.mk("topic", "create", "t", "--replication-factor", "2")
	leader := k.leaderOf("t", 0)
	follower := 3 - leader
	k.signal(follower, syscall.SIGSTOP) // returns once it is stopped
	defer k.procs[follower].Process.Signal(syscall.SIGCONT)
	start := time.Now()
	p := produceTo(t, k, leader, 13, "t", 0, -1, 300, batchOf(recordsFor("wait", 2, 1), 0)).Topics[0].Partitions[0]
	if p.ErrorCode != kerr.RequestTimedOut.Code || p.BaseOffset != 0 {
		t.Fatalf("acks=all with a stopped follower: %v at %d, want REQUEST_TIMED_OUT at 0", kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("answered after %s, before the 300ms timeout", d)
	}
	// acks=1 does not wait.
	if p := produceTo(t, k, leader, 13, "t", 0, 1, 300, batchOf(recordsFor("one", 1, 1), 0)).Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != 2 {
		t.Fatalf("acks=1: %+v", p)
	}
	k.procs[follower].Process.Signal(syscall.SIGCONT)
	waitUntil(t, "follower caught up", 10*time.Second, func() bool { return k.describe("t").Partitions[0].HighWatermark == 3 })

	k.mk("topic", "alter", "t", "--config", "min.insync.replicas=2")
	k.kill(follower)
	waitUntil(t, "ISR shrunk to the leader", 10*time.Second, func() bool { return len(k.describe("t").Partitions[0].ISR) == 1 })
	// The broker applies the new ISR from the metadata it watches.
	var last kmsg.ProduceResponseTopicPartition
	waitUntil(t, "NOT_ENOUGH_REPLICAS", 10*time.Second, func() bool {
		last = produceTo(t, k, leader, 13, "t", 0, -1, 1000, batchOf(recordsFor("few", 1, 1), 0)).Topics[0].Partitions[0]
		return last.ErrorCode == kerr.NotEnoughReplicas.Code
	})
	if last.BaseOffset != -1 || k.describe("t").Partitions[0].LogEndOffset != 3 {
		t.Fatalf("refused batch was appended: %+v", last)
	}
}

// TestKafkaProduceLeaderKilled: the leader is SIGKILLed while a kgo
// producer (acks=all, replication factor 3) runs; kgo moves to the new
// leader, and every acknowledged record is in the log at the offset it was
// acknowledged at. Without idempotence a retried batch may be stored
// twice: duplicates are counted, not refused.
func TestKafkaProduceLeaderKilled(t *testing.T) {
	k := startKafkaCluster(t, 3)
	k.mk("topic", "create", "t", "--partitions", "2", "--replication-factor", "3", "--config", "min.insync.replicas=2")
	cl := k.client(kgo.DefaultProduceTopic("t"), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var (
		mu    sync.Mutex
		acked = map[string]*kgo.Record{}
		fails int
		wg    sync.WaitGroup
		stop  = make(chan struct{})
	)
	produced := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			r := &kgo.Record{Partition: int32(i % 2), Key: []byte("k" + strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))}
			wg.Add(1)
			cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				defer wg.Done()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					fails++
					return
				}
				acked[string(r.Key)] = r
			})
			if i%100 == 99 {
				time.Sleep(time.Millisecond) // spread the records over the failover
			}
		}
	}()
	waitUntil(t, "records before the kill", 20*time.Second, func() bool { return produced() > 2000 })
	leader := k.leaderOf("t", 0)
	k.kill(leader)
	killedAt := produced()
	waitUntil(t, "records after the kill", 30*time.Second, func() bool { return produced() > killedAt+2000 })
	close(stop)
	wg.Wait()
	if fails > 0 {
		t.Errorf("%d records failed (kgo retries until its delivery timeout)", fails)
	}
	got := k.consumeAll("t")
	at := map[[2]int64]string{}
	seen := map[string]int{}
	for _, c := range got {
		at[[2]int64{int64(c.Partition), c.Offset}] = c.Key
		seen[c.Key]++
	}
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	for key, r := range acked {
		if at[[2]int64{int64(r.Partition), r.Offset}] != key {
			t.Fatalf("record %s acknowledged at %d-%d, which holds %q", key, r.Partition, r.Offset, at[[2]int64{int64(r.Partition), r.Offset}])
		}
	}
	if p := k.describe("t").Partitions[0]; p.Leader == leader {
		t.Fatalf("partition 0 still led by the killed broker %d", leader)
	}
	t.Logf("%d records acknowledged (%d before the kill), %d read, %d duplicates from retries", len(acked), killedAt, len(got), dups)
}
