package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/logdir"
)

// mkIn runs an mk command against the cluster with stdin and returns its
// stdout.
func (k *kafkaCluster) mkIn(stdin string, args ...string) string {
	k.t.Helper()
	cmd := exec.Command("mk", append([]string{"--dir", k.dir}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		k.t.Fatalf("mk %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// sentRecord is a record as written with mk produce --input json and where
// it was acknowledged.
type sentRecord struct {
	partition int32
	offset    int64
	key       []byte // nil: no key
	value     []byte
	headers   []kgo.RecordHeader
	timestamp int64
}

// produceJSON writes records with mk produce --input json and fills in
// the offsets mk acknowledged them at.
func (k *kafkaCluster) produceJSON(topic string, recs []sentRecord) {
	k.t.Helper()
	var in strings.Builder
	for _, r := range recs {
		obj := map[string]any{
			"value":          base64.StdEncoding.EncodeToString(r.value),
			"value_encoding": "base64",
			"partition":      r.partition,
			"timestamp":      r.timestamp,
		}
		if r.key != nil {
			obj["key"] = base64.StdEncoding.EncodeToString(r.key)
			obj["key_encoding"] = "base64"
		}
		var hs []map[string]string
		for _, h := range r.headers {
			hs = append(hs, map[string]string{"key": h.Key, "value": string(h.Value)})
		}
		if hs != nil {
			obj["headers"] = hs
		}
		line, _ := json.Marshal(obj)
		in.Write(line)
		in.WriteByte('\n')
	}
	out := k.mkIn(in.String(), "produce", topic, "--input", "json", "--print-offsets")
	// Offsets are printed as partitions acknowledge, in order within
	// each partition.
	printed := map[int32][]int64{}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != topic {
			k.t.Fatalf("mk produce --print-offsets: %q", l)
		}
		p, _ := strconv.Atoi(f[1])
		o, _ := strconv.ParseInt(f[2], 10, 64)
		printed[int32(p)] = append(printed[int32(p)], o)
	}
	if len(lines) != len(recs) {
		k.t.Fatalf("mk produce acknowledged %d records, want %d:\n%s", len(lines), len(recs), out)
	}
	for i := range recs {
		p := recs[i].partition
		if len(printed[p]) == 0 {
			k.t.Fatalf("partition %d acknowledged fewer records than were sent to it", p)
		}
		recs[i].offset, printed[p] = printed[p][0], printed[p][1:]
	}
}

// consumeAll consumes with a group-less kgo consumer until n records came
// back or the context ends.
func consumeAll(t testing.TB, cl *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	ctx := testContext(t)
	var got []*kgo.Record
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d records of %d before the deadline", len(got), n)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, p, err)
		})
		got = append(got, fs.Records()...)
	}
	return got
}

// TestKafkaFetchMkProduced: records written by mk produce (keys, none,
// headers, timestamps, binary values) come back to a kgo consumer reading
// from the beginning with their partitions, offsets and every field.
func TestKafkaFetchMkProduced(t *testing.T) {
	k := startKafkaCluster(t, 3)
	k.mk("topic", "create", "events", "--partitions", "3", "--replication-factor", "2")
	var recs []sentRecord
	base := time.Now().Add(-time.Hour).UnixMilli()
	for i := range 300 {
		r := sentRecord{partition: int32(i % 3), timestamp: base + int64(i)*1000, value: []byte{0, byte(i), 0xff, '\n', byte(i >> 8)}}
		if i%4 != 0 {
			r.key = []byte(fmt.Sprintf("key-%d\x00\x01", i))
		}
		if i%5 == 0 {
			r.headers = []kgo.RecordHeader{{Key: "h1", Value: []byte("v" + strconv.Itoa(i))}, {Key: "empty", Value: []byte{}}}
		}
		recs = append(recs, r)
	}
	// Two produce runs, so the log holds batches from separate appends.
	k.produceJSON("events", recs[:150])
	k.produceJSON("events", recs[150:])

	cl := k.client(kgo.ConsumeTopics("events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := consumeAll(t, cl, len(recs))
	if len(got) != len(recs) {
		t.Fatalf("consumed %d records, want %d", len(got), len(recs))
	}
	type at struct {
		p int32
		o int64
	}
	byPos := map[at]*kgo.Record{}
	for _, r := range got {
		if _, dup := byPos[at{r.Partition, r.Offset}]; dup {
			t.Fatalf("partition %d offset %d consumed twice", r.Partition, r.Offset)
		}
		byPos[at{r.Partition, r.Offset}] = r
	}
	for i, want := range recs {
		r := byPos[at{want.partition, want.offset}]
		if r == nil {
			t.Fatalf("record %d (partition %d offset %d) not consumed", i, want.partition, want.offset)
		}
		if !bytes.Equal(r.Value, want.value) || (want.key == nil) != (r.Key == nil) || !bytes.Equal(r.Key, want.key) {
			t.Fatalf("record %d: key %q value %q, want key %q value %q", i, r.Key, r.Value, want.key, want.value)
		}
		if r.Timestamp.UnixMilli() != want.timestamp {
			t.Fatalf("record %d: timestamp %d, want %d", i, r.Timestamp.UnixMilli(), want.timestamp)
		}
		if len(r.Headers) != len(want.headers) {
			t.Fatalf("record %d: headers %v, want %v", i, r.Headers, want.headers)
		}
		for j, h := range want.headers {
			if r.Headers[j].Key != h.Key || !bytes.Equal(r.Headers[j].Value, h.Value) {
				t.Fatalf("record %d: headers %v, want %v", i, r.Headers, want.headers)
			}
		}
	}
	// In offset order within each partition.
	last := map[int32]int64{}
	for _, r := range got {
		if o, ok := last[r.Partition]; ok && r.Offset != o+1 {
			t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, o)
		}
		last[r.Partition] = r.Offset
	}
}

// produceLines writes n records "prefix-i" to one partition of topic with
// mk produce.
func (k *kafkaCluster) produceLines(topic string, partition, n int, prefix string, args ...string) {
	k.t.Helper()
	var in strings.Builder
	for i := range n {
		fmt.Fprintf(&in, "%s-%d\n", prefix, i)
	}
	k.mkIn(in.String(), append([]string{"produce", topic, "--partition", strconv.Itoa(partition)}, args...)...)
}

// TestKafkaFetchFromOffset: a consumer started at an offset gets the
// records from that offset on, and nothing before it.
func TestKafkaFetchFromOffset(t *testing.T) {
	k := startKafkaCluster(t, 1)
	k.mk("topic", "create", "t", "--partitions", "1")
	k.produceLines("t", 0, 500, "r")
	cl := k.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"t": {0: kgo.NewOffset().At(321)}}))
	got := consumeAll(t, cl, 500-321)
	for i, r := range got {
		if r.Offset != int64(321+i) || string(r.Value) != "r-"+strconv.Itoa(321+i) {
			t.Fatalf("record %d: offset %d value %q", i, r.Offset, r.Value)
		}
	}
}

// rawFetch sends one Fetch request to broker id and returns its only
// partition's answer.
func rawFetch(t testing.TB, cl *kgo.Client, broker int32, req *kmsg.FetchRequest) (*kmsg.FetchResponse, *kmsg.FetchResponseTopicPartition) {
	t.Helper()
	ctx := testContext(t)
	resp, err := req.RequestWith(ctx, cl.Broker(int(broker)))
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch response: %+v", resp)
	}
	return resp, &resp.Topics[0].Partitions[0]
}

// fetchRequest is a one-partition Fetch request naming the topic both
// ways (kgo sends the highest version both sides know: v13+ by id).
func fetchRequest(topic string, id [16]byte, partition int32, offset int64, epoch int32, maxWait time.Duration) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.MaxWaitMillis = int32(maxWait.Milliseconds())
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.CurrentLeaderEpoch, rp.PartitionMaxBytes = partition, offset, epoch, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// partitionInfo is a partition's leader, epoch and replicas and its
// topic's id, as Metadata says.
func partitionInfo(t testing.TB, cl *kgo.Client, topic string, partition int32) (leader, epoch int32, replicas []int32, id [16]byte) {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testContext(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, mt := range resp.Topics {
		for _, p := range mt.Partitions {
			if p.Partition == partition {
				return p.Leader, p.LeaderEpoch, p.Replicas, mt.TopicID
			}
		}
	}
	t.Fatalf("no partition %s/%d in the metadata", topic, partition)
	return
}

// TestKafkaFetchLongPollWoken: a fetch at the end of the log with a max
// wait of 60 s is answered with the record that a producer writes after it
// started: the partition's commit wakes it. (Had it not woken, it would
// have come back empty at max wait.) The partition has two replicas, so
// the commit is the leader moving the high watermark once the follower has
// the record.
func TestKafkaFetchLongPollWoken(t *testing.T) {
	k := startKafkaCluster(t, 2)
	k.mk("topic", "create", "t", "--partitions", "1", "--replication-factor", "2")
	k.produceLines("t", 0, 3, "before")
	cl := k.client()
	leader, epoch, _, id := partitionInfo(t, cl, "t", 0)
	done := make(chan *kmsg.FetchResponseTopicPartition, 1)
	go func() {
		_, p := rawFetch(t, cl, leader, fetchRequest("t", id, 0, 3, epoch, time.Minute))
		done <- p
	}()
	// The fetch is waiting or about to: either way the produce below must
	// be what answers it.
	k.produceLines("t", 0, 1, "after")
	var p *kmsg.FetchResponseTopicPartition
	select {
	case p = <-done:
	case <-time.After(50 * time.Second):
		t.Fatal("the fetch was not answered")
	}
	if p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
		t.Fatalf("fetch answered error %d with %d bytes: not woken by the produce", p.ErrorCode, len(p.RecordBatches))
	}
	if p.HighWatermark != 4 {
		t.Fatalf("high watermark %d, want 4", p.HighWatermark)
	}
}

// TestKafkaFetchOffsetOutOfRange: a fetch past the log end is
// OFFSET_OUT_OF_RANGE, and a kgo consumer started there resets to the
// start as told.
func TestKafkaFetchOffsetOutOfRange(t *testing.T) {
	k := startKafkaCluster(t, 1)
	k.mk("topic", "create", "t", "--partitions", "1")
	k.produceLines("t", 0, 10, "r")
	cl := k.client()
	_, _, _, id := partitionInfo(t, cl, "t", 0)
	_, p := rawFetch(t, cl, 1, fetchRequest("t", id, 0, 11, -1, 0))
	if err := kerr.ErrorForCode(p.ErrorCode); !errors.Is(err, kerr.OffsetOutOfRange) {
		t.Fatalf("fetch past the end: %v, want OFFSET_OUT_OF_RANGE", err)
	}
	if p.HighWatermark != -1 || p.LogStartOffset != -1 {
		t.Fatalf("offsets with an error: high watermark %d log start %d, want -1", p.HighWatermark, p.LogStartOffset)
	}
	// At the end exactly: no error, nothing to return.
	_, p = rawFetch(t, cl, 1, fetchRequest("t", id, 0, 10, -1, 0))
	if p.ErrorCode != 0 || len(p.RecordBatches) != 0 || p.HighWatermark != 10 || p.LastStableOffset != 10 || p.LogStartOffset != 0 {
		t.Fatalf("fetch at the end: %+v", p)
	}

	// Fetch sessions are declined: a full fetch asking for one gets
	// session id 0; an incremental fetch names a session that does not
	// exist.
	req := fetchRequest("t", id, 0, 0, -1, 0)
	req.SessionEpoch = 0
	resp, _ := rawFetch(t, cl, 1, req)
	if resp.ErrorCode != 0 || resp.SessionID != 0 {
		t.Fatalf("full fetch asking for a session: error %d, session %d", resp.ErrorCode, resp.SessionID)
	}
	req.SessionID, req.SessionEpoch = 5, 3
	resp, err := req.RequestWith(testContext(t), cl.Broker(1))
	if err != nil || resp.ErrorCode != kerr.FetchSessionIDNotFound.Code || len(resp.Topics) != 0 {
		t.Fatalf("incremental fetch: %+v %v, want FETCH_SESSION_ID_NOT_FOUND", resp, err)
	}
	// No such topic id, no such partition.
	_, p = rawFetch(t, cl, 1, fetchRequest("t", [16]byte{1, 2, 3}, 0, 0, -1, 0))
	if !errors.Is(kerr.ErrorForCode(p.ErrorCode), kerr.UnknownTopicID) {
		t.Fatalf("fetch of an unknown topic id: error %d, want UNKNOWN_TOPIC_ID", p.ErrorCode)
	}
	_, p = rawFetch(t, cl, 1, fetchRequest("t", id, 7, 0, -1, 0))
	if !errors.Is(kerr.ErrorForCode(p.ErrorCode), kerr.UnknownTopicOrPartition) {
		t.Fatalf("fetch of partition 7 of 1: error %d, want UNKNOWN_TOPIC_OR_PARTITION", p.ErrorCode)
	}

	c2 := k.client(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"t": {0: kgo.NewOffset().At(1000)}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	got := consumeAll(t, c2, 10)
	if got[0].Offset != 0 || string(got[0].Value) != "r-0" {
		t.Fatalf("after the reset: first record offset %d %q, want 0", got[0].Offset, got[0].Value)
	}
}

// TestKafkaFetchLeaderEpoch: a fetch with a current leader epoch older
// than the leader's is FENCED_LEADER_EPOCH, a newer one
// UNKNOWN_LEADER_EPOCH; a fetch sent to a broker that does not lead the
// partition is NOT_LEADER_OR_FOLLOWER and, at v16+, names the leader and
// its address (KIP-951).
func TestKafkaFetchLeaderEpoch(t *testing.T) {
	k := startKafkaCluster(t, 3)
	k.mk("topic", "create", "t", "--partitions", "1", "--replication-factor", "2")
	k.produceLines("t", 0, 5, "r")
	cl := k.client()
	leader, epoch, replicas, id := partitionInfo(t, cl, "t", 0)
	// Move leadership so that the epoch is above 0 and an older one exists.
	k.kill(int(leader))
	var newLeader, newEpoch int32
	deadline := time.Now().Add(20 * time.Second)
	for {
		cl.ForceMetadataRefresh()
		newLeader, newEpoch, _, _ = partitionInfo(t, cl, "t", 0)
		if newLeader >= 0 && newLeader != leader && newEpoch > epoch {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new leader after killing broker %d", leader)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, bounded by the deadline
	}
	for _, c := range []struct {
		epoch int32
		want  error
	}{{newEpoch - 1, kerr.FencedLeaderEpoch}, {newEpoch + 1, kerr.UnknownLeaderEpoch}, {newEpoch, nil}, {-1, nil}} {
		_, p := rawFetch(t, cl, newLeader, fetchRequest("t", id, 0, 0, c.epoch, 0))
		if err := kerr.ErrorForCode(p.ErrorCode); !errors.Is(err, c.want) || c.want == nil && err != nil {
			t.Fatalf("fetch with epoch %d (leader at %d): %v, want %v", c.epoch, newEpoch, err, c.want)
		}
		if c.want == nil && len(p.RecordBatches) == 0 {
			t.Fatalf("fetch with epoch %d: no records", c.epoch)
		}
	}
	// A broker that is not the leader: the third one, which holds no
	// replica.
	var other int32 = -1
	for id := int32(1); id <= 3; id++ {
		if id != leader && !slices.Contains(replicas, id) {
			other = id
		}
	}
	req := fetchRequest("t", id, 0, 0, -1, 0)
	resp, p := rawFetch(t, cl, other, req)
	if err := kerr.ErrorForCode(p.ErrorCode); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Fatalf("fetch from broker %d: %v, want NOT_LEADER_OR_FOLLOWER", other, err)
	}
	if p.CurrentLeader.LeaderID != newLeader || p.CurrentLeader.LeaderEpoch != newEpoch {
		t.Fatalf("current leader %+v, want %d at epoch %d", p.CurrentLeader, newLeader, newEpoch)
	}
	if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != newLeader {
		t.Fatalf("node endpoints %+v, want broker %d", resp.Brokers, newLeader)
	}
	// The old leader, back as a follower, does not serve consumers either.
	k.start(int(leader))
	k.waitAddress(int(leader))
	c2 := k.client()
	_, p = rawFetch(t, c2, leader, fetchRequest("t", id, 0, 0, -1, 0))
	if err := kerr.ErrorForCode(p.ErrorCode); !errors.Is(err, kerr.NotLeaderForPartition) || len(p.RecordBatches) != 0 {
		t.Fatalf("fetch from the follower: %v with %d bytes, want NOT_LEADER_OR_FOLLOWER", err, len(p.RecordBatches))
	}
}

// describedPartition is a partition as mk describe topic -o json shows it.
type describedPartition struct {
	Partition      int32 `json:"partition"`
	Leader         int32 `json:"leader"`
	LeaderEpoch    int32 `json:"leader_epoch"`
	LogStartOffset int64 `json:"log_start_offset"`
	HighWatermark  int64 `json:"high_watermark"`
	LogEndOffset   int64 `json:"log_end_offset"`
}

func (k *kafkaCluster) describePartitions(topic string) []describedPartition {
	k.t.Helper()
	var d struct {
		Partitions []describedPartition `json:"partitions"`
	}
	if err := json.Unmarshal([]byte(k.mk("describe", "topic", topic, "-o", "json")), &d); err != nil {
		k.t.Fatal(err)
	}
	return d.Partitions
}

// TestKafkaListOffsets: kadm's earliest, latest and by-time offsets agree
// with what mk describe topic says and with the records' timestamps; max
// timestamp (KIP-734) finds the newest record; an unknown special
// timestamp is UNSUPPORTED_VERSION, a partition named twice
// INVALID_REQUEST.
func TestKafkaListOffsets(t *testing.T) {
	k := startKafkaCluster(t, 2)
	k.mk("topic", "create", "t", "--partitions", "2", "--replication-factor", "2")
	base := time.Now().Add(-time.Hour).UnixMilli()
	var recs []sentRecord
	for i := range 40 {
		ts := base + int64(i)*1000
		if i == 25 {
			ts = base + 100_000 // the newest record, in the middle of partition 1
		}
		recs = append(recs, sentRecord{partition: int32(i % 2), timestamp: ts, value: []byte(strconv.Itoa(i))})
	}
	k.produceJSON("t", recs)
	adm := k.admin()
	ctx := testContext(t)
	starts, err := adm.ListStartOffsets(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range k.describePartitions("t") {
		s, _ := starts.Lookup("t", d.Partition)
		e, _ := ends.Lookup("t", d.Partition)
		if s.Err != nil || e.Err != nil || s.Offset != d.LogStartOffset || e.Offset != d.HighWatermark || e.Offset != 20 {
			t.Fatalf("partition %d: start %+v end %+v, mk describe says %+v", d.Partition, s, e, d)
		}
		if e.LeaderEpoch != d.LeaderEpoch {
			t.Fatalf("partition %d: latest offset's leader epoch %d, mk describe says %d", d.Partition, e.LeaderEpoch, d.LeaderEpoch)
		}
	}
	// Record 12 (partition 0, offset 6) is the first at or after base+11500.
	after, err := adm.ListOffsetsAfterMilli(ctx, base+11_500, "t")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := after.Lookup("t", 0); o.Err != nil || o.Offset != 6 || o.Timestamp != base+12_000 {
		t.Fatalf("partition 0 after %d: %+v, want offset 6 at %d", base+11_500, o, base+12_000)
	}
	// Record 13 (offset 6 of partition 1) is at base+13000.
	if o, _ := after.Lookup("t", 1); o.Err != nil || o.Offset != 6 || o.Timestamp != base+13_000 {
		t.Fatalf("partition 1 after %d: %+v, want offset 6", base+11_500, o)
	}
	// Past every record: kadm answers the end offset (Kafka said -1).
	after, err = adm.ListOffsetsAfterMilli(ctx, base+1_000_000, "t")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := after.Lookup("t", 0); o.Err != nil || o.Offset != 20 {
		t.Fatalf("after every record: %+v, want the end offset 20", o)
	}
	maxes, err := adm.ListMaxTimestampOffsets(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := maxes.Lookup("t", 1); o.Err != nil || o.Offset != 12 || o.Timestamp != base+100_000 {
		t.Fatalf("max timestamp of partition 1: %+v, want offset 12 at %d", o, base+100_000)
	}
	if o, _ := maxes.Lookup("t", 0); o.Err != nil || o.Offset != 19 || o.Timestamp != base+38_000 {
		t.Fatalf("max timestamp of partition 0: %+v, want offset 19", o)
	}

	// Raw requests: bad special timestamp, a partition named twice.
	cl := k.client()
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "t"
	for _, c := range []struct {
		p  int32
		ts int64
	}{{0, -7}, {1, -1}, {1, -2}} {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = c.p, c.ts
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	leader, _, _, _ := partitionInfo(t, cl, "t", 0)
	resp, err := req.RequestWith(ctx, cl.Broker(int(leader)))
	if err != nil {
		t.Fatal(err)
	}
	got := resp.Topics[0].Partitions
	if len(got) != 3 || got[0].ErrorCode != kerr.UnsupportedVersion.Code || got[1].ErrorCode != kerr.InvalidRequest.Code || got[2].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("list offsets with a bad timestamp and a partition twice: %+v", got)
	}
}

// TestKafkaDeleteRecords: kadm's DeleteRecords moves the log start of the
// leader and of its follower; a consumer from the start begins there,
// ListOffsets and mk describe agree, a fetch below it is out of range, and
// an offset past the high watermark is OFFSET_OUT_OF_RANGE.
func TestKafkaDeleteRecords(t *testing.T) {
	k := startKafkaCluster(t, 2)
	// Small segments, so that whole segments go.
	k.mk("topic", "create", "t", "--partitions", "1", "--replication-factor", "2", "--config", "segment.bytes=2000")
	k.produceLines("t", 0, 300, "r", "--batch-size", "200")
	adm := k.admin()
	ctx := testContext(t)
	res, err := adm.DeleteRecords(ctx, offsetsFor("t", 0, 137))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := res.Lookup("t", 0)
	if r.Err != nil || r.LowWatermark != 137 {
		t.Fatalf("delete records: %+v, want low watermark 137", r)
	}
	for _, d := range k.describePartitions("t") {
		if d.LogStartOffset != 137 {
			t.Fatalf("mk describe: %+v, want log start 137", d)
		}
	}
	starts, err := adm.ListStartOffsets(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := starts.Lookup("t", 0); s.Offset != 137 {
		t.Fatalf("start offset %+v, want 137", s)
	}
	// Both replicas moved their start (the low watermark is the least
	// of theirs), and delete the segments wholly below it: the first
	// segment left starts at or below 137 and the one before it is gone.
	// A replica removes them after it commits the new start, so the
	// follower's may still be there when the leader answers (Kafka's
	// follower leaves them to its next retention pass).
	for id := 1; id <= 2; id++ {
		st := readStateFile(t, k, id, "t", 0)
		if st["log-start-offset"] != 137 {
			t.Fatalf("broker %d's replica: log start %d, want 137", id, st["log-start-offset"])
		}
		var logs []string
		waitUntilFetch(t, fmt.Sprintf("broker %d to remove the segments below 137", id), func() bool {
			logs, _ = filepath.Glob(filepath.Join(k.dir, "brokers", strconv.Itoa(id), "t-0", "*.log"))
			slices.Sort(logs)
			first, _ := strconv.ParseInt(strings.TrimSuffix(filepath.Base(logs[0]), ".log"), 10, 64)
			return first != 0
		})
		if first, _ := strconv.ParseInt(strings.TrimSuffix(filepath.Base(logs[0]), ".log"), 10, 64); first > 137 {
			t.Fatalf("broker %d's replica: segments %v after deleting below 137", id, logs)
		}
	}
	cl := k.client(kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := consumeAll(t, cl, 300-137)
	if got[0].Offset != 137 || string(got[0].Value) != "r-137" {
		t.Fatalf("first record consumed: offset %d %q, want 137", got[0].Offset, got[0].Value)
	}
	raw := k.client()
	leader, _, _, id := partitionInfo(t, raw, "t", 0)
	_, p := rawFetch(t, raw, leader, fetchRequest("t", id, 0, 100, -1, 0))
	if !errors.Is(kerr.ErrorForCode(p.ErrorCode), kerr.OffsetOutOfRange) {
		t.Fatalf("fetch below the log start: error %d, want OFFSET_OUT_OF_RANGE", p.ErrorCode)
	}
	// Past the high watermark.
	res, err = adm.DeleteRecords(ctx, offsetsFor("t", 0, 301))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := res.Lookup("t", 0); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
		t.Fatalf("delete past the high watermark: %+v, want OFFSET_OUT_OF_RANGE", r)
	}
	// The follower does not delete: NOT_LEADER_OR_FOLLOWER.
	_, _, replicas, _ := partitionInfo(t, raw, "t", 0)
	follower := replicas[0]
	if follower == leader {
		follower = replicas[1]
	}
	dr := kmsg.NewPtrDeleteRecordsRequest()
	drt := kmsg.NewDeleteRecordsRequestTopic()
	drt.Topic = "t"
	drp := kmsg.NewDeleteRecordsRequestTopicPartition()
	drp.Partition, drp.Offset = 0, 200
	drt.Partitions = append(drt.Partitions, drp)
	dr.Topics = append(dr.Topics, drt)
	dresp, err := dr.RequestWith(ctx, raw.Broker(int(follower)))
	if err != nil {
		t.Fatal(err)
	}
	if p := dresp.Topics[0].Partitions[0]; p.ErrorCode != kerr.NotLeaderForPartition.Code || p.LowWatermark != -1 {
		t.Fatalf("delete records on the follower: %+v", p)
	}
	// A follower that does not follow (stopped) holds the answer until
	// the request's timeout: REQUEST_TIMED_OUT with the low watermark so
	// far. The leader's log start has moved all the same.
	// Stopped for good before the request: a follower thread still
	// running after kill returns could copy the new log start.
	if err := stopProcess(k.procs[int(follower)].Process.Pid); err != nil {
		t.Fatal(err)
	}
	dr.TimeoutMillis = 300
	dr.Topics[0].Partitions[0].Offset = 250
	dresp, err = dr.RequestWith(ctx, raw.Broker(int(leader)))
	k.procs[int(follower)].Process.Signal(syscall.SIGCONT)
	if err != nil {
		t.Fatal(err)
	}
	if p := dresp.Topics[0].Partitions[0]; p.ErrorCode != kerr.RequestTimedOut.Code || p.LowWatermark != 137 {
		t.Fatalf("delete records with a stopped follower: %+v, want REQUEST_TIMED_OUT at 137", p)
	}
	if st := readStateFile(t, k, int(leader), "t", 0); st["log-start-offset"] != 250 {
		t.Fatalf("leader's log start %d, want 250", st["log-start-offset"])
	}
	waitUntilFetch(t, "the follower to follow the log start to 250", func() bool {
		return readStateFile(t, k, int(follower), "t", 0)["log-start-offset"] == 250
	})
	// -1 deletes up to the high watermark.
	res, err = adm.DeleteRecords(ctx, offsetsFor("t", 0, -1))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := res.Lookup("t", 0); r.Err != nil || r.LowWatermark != 300 {
		t.Fatalf("delete to the high watermark: %+v, want low watermark 300", r)
	}
}

// waitUntilFetch polls cond until it holds, for at most 20 s.
func waitUntilFetch(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

func offsetsFor(topic string, partition int32, offset int64) kadm.Offsets {
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: topic, Partition: partition, At: offset})
	return os
}

// readStateFile reads a replica's state file (name value lines).
func readStateFile(t testing.TB, k *kafkaCluster, broker int, topic string, partition int) map[string]int64 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(k.dir, "brokers", strconv.Itoa(broker), topic+"-"+strconv.Itoa(partition), "state"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, l := range strings.Split(string(data), "\n") {
		if name, v, ok := strings.Cut(strings.TrimSpace(l), " "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			out[name] = n
		}
	}
	return out
}

// TestKafkaOffsetForLeaderEpoch: the end offset of each epoch, as a
// consumer checks after a leader change (KIP-320).
func TestKafkaOffsetForLeaderEpoch(t *testing.T) {
	k := startKafkaCluster(t, 2)
	k.mk("topic", "create", "t", "--partitions", "1", "--replication-factor", "2")
	k.produceLines("t", 0, 10, "a")
	cl := k.client()
	leader, epoch, _, _ := partitionInfo(t, cl, "t", 0)
	k.kill(int(leader))
	var newLeader, newEpoch int32
	deadline := time.Now().Add(20 * time.Second)
	for {
		cl.ForceMetadataRefresh()
		newLeader, newEpoch, _, _ = partitionInfo(t, cl, "t", 0)
		if newLeader >= 0 && newLeader != leader && newEpoch > epoch {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new leader after killing broker %d", leader)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, bounded by the deadline
	}
	k.produceLines("t", 0, 5, "b")
	ask := func(current, e int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.ReplicaID = -1
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = 0, current, e
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(testContext(t), cl.Broker(int(newLeader)))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0]
	}
	// The old epoch ended where the new one began (10); the current one
	// ends at the log end (15).
	if p := ask(newEpoch, epoch); p.ErrorCode != 0 || p.LeaderEpoch != epoch || p.EndOffset != 10 {
		t.Fatalf("epoch %d: %+v, want it to end at 10", epoch, p)
	}
	if p := ask(-1, newEpoch); p.ErrorCode != 0 || p.LeaderEpoch != newEpoch || p.EndOffset != 15 {
		t.Fatalf("epoch %d: %+v, want it to end at 15", newEpoch, p)
	}
	if p := ask(newEpoch+1, newEpoch); p.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Fatalf("with a current epoch from the future: %+v", p)
	}
	if p := ask(newEpoch-1, newEpoch); p.ErrorCode != kerr.FencedLeaderEpoch.Code {
		t.Fatalf("with a stale current epoch: %+v", p)
	}

	// ListOffsets names the epochs too: earliest is in the first epoch,
	// latest in the current one; a stale current epoch is fenced.
	list := func(current int32, ts int64) kmsg.ListOffsetsResponseTopicPartition {
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.Timestamp = 0, current, ts
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(testContext(t), cl.Broker(int(newLeader)))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0]
	}
	if p := list(newEpoch, -2); p.ErrorCode != 0 || p.Offset != 0 || p.LeaderEpoch != epoch {
		t.Fatalf("earliest: %+v, want offset 0 in epoch %d", p, epoch)
	}
	if p := list(newEpoch, -1); p.ErrorCode != 0 || p.Offset != 15 || p.LeaderEpoch != newEpoch {
		t.Fatalf("latest: %+v, want offset 15 in epoch %d", p, newEpoch)
	}
	if p := list(newEpoch-1, -1); p.ErrorCode != kerr.FencedLeaderEpoch.Code || p.Offset != -1 {
		t.Fatalf("latest with a stale epoch: %+v", p)
	}
}

// TestKafkaFetchTopicDeleted: a long poll on a topic that is deleted
// meanwhile is answered at once with UNKNOWN_TOPIC_OR_PARTITION (had the
// deletion not woken it, it would have come back at max wait without an
// error), and the broker goes on serving.
func TestKafkaFetchTopicDeleted(t *testing.T) {
	k := startKafkaCluster(t, 1)
	k.mk("topic", "create", "doomed", "--partitions", "1")
	k.mk("topic", "create", "other", "--partitions", "1")
	k.produceLines("doomed", 0, 3, "r")
	k.produceLines("other", 0, 3, "r")
	cl := k.client()
	_, _, _, id := partitionInfo(t, cl, "doomed", 0)
	done := make(chan *kmsg.FetchResponseTopicPartition, 1)
	go func() {
		_, p := rawFetch(t, cl, 1, fetchRequest("doomed", id, 0, 3, -1, time.Minute))
		done <- p
	}()
	k.mk("topic", "delete", "doomed")
	var p *kmsg.FetchResponseTopicPartition
	select {
	case p = <-done:
	case <-time.After(50 * time.Second):
		t.Fatal("the fetch was not answered")
	}
	if err := kerr.ErrorForCode(p.ErrorCode); !errors.Is(err, kerr.UnknownTopicOrPartition) && !errors.Is(err, kerr.UnknownTopicID) {
		t.Fatalf("fetch of a deleted topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	_, _, _, oid := partitionInfo(t, cl, "other", 0)
	if _, p := rawFetch(t, cl, 1, fetchRequest("other", oid, 0, 0, -1, 0)); p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
		t.Fatalf("fetch of another topic after the deletion: %+v", p)
	}
}

// batchesIn splits a fetch's record batches and returns their base and
// last offsets.
func batchesIn(t testing.TB, b []byte) [][2]int64 {
	t.Helper()
	var out [][2]int64
	for len(b) > 0 {
		batch, rest, err := logdir.NextBatch(b)
		if err != nil {
			t.Fatalf("fetched bytes are not whole batches: %v", err)
		}
		if err := logdir.VerifyBatch(batch); err != nil {
			t.Fatal(err)
		}
		out = append(out, [2]int64{logdir.BatchBaseOffset(batch), logdir.BatchLastOffset(batch)})
		b = rest
	}
	return out
}

// TestKafkaFetchSizes: partition max bytes and max bytes bound the
// answer in whole batches, except that the first partition with data
// returns one whole batch however small the limits (KIP-74); partitions
// are read in request order; read_committed is answered with the high
// watermark as last stable offset and an empty list of aborted
// transactions.
func TestKafkaFetchSizes(t *testing.T) {
	k := startKafkaCluster(t, 1)
	k.mk("topic", "create", "t", "--partitions", "2")
	// Batches of a few records each: --batch-size 200.
	k.produceLines("t", 0, 100, "zero", "--batch-size", "200")
	k.produceLines("t", 1, 100, "one", "--batch-size", "200")
	cl := k.client()
	_, _, _, id := partitionInfo(t, cl, "t", 0)
	fetch := func(maxBytes, partMax int32, isolation int8, parts ...int32) *kmsg.FetchResponse {
		req := kmsg.NewPtrFetchRequest()
		req.MaxBytes = maxBytes
		req.IsolationLevel = isolation
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "t", id
		for _, p := range parts {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.PartitionMaxBytes = p, partMax
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(testContext(t), cl.Broker(1))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// Limits of one byte: one whole batch from the first partition,
	// nothing from the second.
	resp := fetch(1, 1, 0, 1, 0)
	ps := resp.Topics[0].Partitions
	if len(ps) != 2 || ps[0].Partition != 1 || ps[1].Partition != 0 {
		t.Fatalf("partitions answered %+v, want 1 then 0", ps)
	}
	if bs := batchesIn(t, ps[0].RecordBatches); len(bs) != 1 || bs[0][0] != 0 {
		t.Fatalf("first partition: batches %v, want the first one only", bs)
	}
	if len(ps[1].RecordBatches) != 0 || ps[1].HighWatermark != 100 {
		t.Fatalf("second partition past max bytes: %d bytes, high watermark %d", len(ps[1].RecordBatches), ps[1].HighWatermark)
	}
	// A partition max of 1000 bytes: whole batches within 1000 bytes from
	// each partition; read_uncommitted has no aborted transaction list.
	resp = fetch(1<<20, 1000, 0, 0, 1)
	for _, p := range resp.Topics[0].Partitions {
		n := len(p.RecordBatches)
		bs := batchesIn(t, p.RecordBatches)
		if n > 1000 || len(bs) < 2 || bs[0][0] != 0 {
			t.Fatalf("partition %d: %d bytes in batches %v", p.Partition, n, bs)
		}
		if p.AbortedTransactions != nil {
			t.Fatalf("read_uncommitted: aborted transactions %v, want null", p.AbortedTransactions)
		}
	}
	// read_committed: the same records, last stable offset = high
	// watermark, an empty aborted transaction list.
	resp = fetch(1<<20, 1<<20, 1, 0)
	p := resp.Topics[0].Partitions[0]
	if p.LastStableOffset != 100 || p.HighWatermark != 100 || p.AbortedTransactions == nil || len(p.AbortedTransactions) != 0 {
		t.Fatalf("read_committed: %+v", p)
	}
	if bs := batchesIn(t, p.RecordBatches); bs[len(bs)-1][1] != 99 {
		t.Fatalf("read_committed: batches %v, want up to offset 99", bs)
	}
}

// TestKafkaFetchLongPollWokenByProduce: as TestKafkaFetchLongPollWoken,
// with one replica and a kgo producer: the Produce that appends is the
// commit that wakes the fetch.
func TestKafkaFetchLongPollWokenByProduce(t *testing.T) {
	k := startKafkaCluster(t, 1)
	if !servesProduce(t, k.addrs()) {
		t.Skip("the broker does not serve Produce yet")
	}
	k.mk("topic", "create", "t", "--partitions", "1")
	cl := k.client(kgo.DefaultProduceTopic("t"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx := testContext(t)
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	leader, epoch, _, id := partitionInfo(t, cl, "t", 0)
	done := make(chan *kmsg.FetchResponseTopicPartition, 1)
	go func() {
		_, p := rawFetch(t, cl, leader, fetchRequest("t", id, 0, 1, epoch, time.Minute))
		done <- p
	}()
	// Several produces in a row: the fetch is answered by the first that
	// lands after it started waiting.
	var p *kmsg.FetchResponseTopicPartition
	for i := 0; p == nil; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("after-" + strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		select {
		case p = <-done:
		case <-time.After(100 * time.Millisecond): // a produce per 100 ms until answered, bounded by ctx
			if ctx.Err() != nil {
				t.Fatal("the fetch was not answered")
			}
		}
	}
	if p.ErrorCode != 0 || len(p.RecordBatches) == 0 || p.HighWatermark < 2 {
		t.Fatalf("fetch answered error %d with %d bytes, high watermark %d: not woken by the produce", p.ErrorCode, len(p.RecordBatches), p.HighWatermark)
	}
}

// TestKafkaFetchCorruptBatch: a batch whose bytes were damaged on disk is
// never served: a fetch from before it gets the good batches before it,
// a fetch of it is CORRUPT_MESSAGE without records.
func TestKafkaFetchCorruptBatch(t *testing.T) {
	k := startKafkaCluster(t, 1)
	k.mk("topic", "create", "t", "--partitions", "1")
	k.produceLines("t", 0, 50, "r", "--batch-size", "200")
	seg := filepath.Join(k.dir, "brokers", "1", "t-0", "00000000000000000000.log")
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	// Damage a record byte of the third batch (past its header).
	first, rest, _ := logdir.NextBatch(data)
	second, _, _ := logdir.NextBatch(rest)
	third := int64(len(first) + len(second))
	thirdBase := logdir.BatchBaseOffset(rest[len(second):])
	f, err := os.OpenFile(seg, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{data[third+70] ^ 0xff}, third+70); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cl := k.client()
	_, _, _, id := partitionInfo(t, cl, "t", 0)
	_, p := rawFetch(t, cl, 1, fetchRequest("t", id, 0, thirdBase, -1, 0))
	if !errors.Is(kerr.ErrorForCode(p.ErrorCode), kerr.CorruptMessage) || len(p.RecordBatches) != 0 {
		t.Fatalf("fetch of the damaged batch: error %d, %d bytes", p.ErrorCode, len(p.RecordBatches))
	}
	// From the start: the two batches before it.
	_, p = rawFetch(t, cl, 1, fetchRequest("t", id, 0, 0, -1, 0))
	if bs := batchesIn(t, p.RecordBatches); p.ErrorCode != 0 || len(bs) != 2 || bs[1][1] != thirdBase-1 {
		t.Fatalf("fetch from the start: error %d, batches %v, want the two before offset %d", p.ErrorCode, bs, thirdBase)
	}
}

// TestKafkaFetchLongPollManyPartitions: a long poll of several partitions
// is woken by a commit to any one of them, and answers it.
func TestKafkaFetchLongPollManyPartitions(t *testing.T) {
	k := startKafkaCluster(t, 2)
	k.mk("topic", "create", "t", "--partitions", "4", "--replication-factor", "2")
	cl := k.client()
	leader, epoch, _, id := partitionInfo(t, cl, "t", 0)
	// The partitions this broker leads (assignment spreads leaders).
	req := fetchRequest("t", id, 0, 0, epoch, time.Minute)
	req.Topics[0].Partitions = nil
	var led []int32
	for p := int32(0); p < 4; p++ {
		if l, e, _, _ := partitionInfo(t, cl, "t", p); l == leader {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.CurrentLeaderEpoch, rp.PartitionMaxBytes = p, e, 1<<20
			req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
			led = append(led, p)
		}
	}
	if len(led) < 2 {
		t.Fatalf("broker %d leads partitions %v: want two or more", leader, led)
	}
	done := make(chan *kmsg.FetchResponse, 1)
	go func() {
		resp, err := req.RequestWith(testContext(t), cl.Broker(int(leader)))
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	last := led[len(led)-1]
	k.produceLines("t", int(last), 1, "wake")
	var resp *kmsg.FetchResponse
	select {
	case resp = <-done:
	case <-time.After(50 * time.Second):
		t.Fatal("the fetch was not answered")
	}
	for _, p := range resp.Topics[0].Partitions {
		if p.ErrorCode != 0 || (p.Partition == last) != (len(p.RecordBatches) > 0) {
			t.Fatalf("partition %d: error %d, %d bytes; only partition %d was written", p.Partition, p.ErrorCode, len(p.RecordBatches), last)
		}
	}
}
