package main

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// DescribeLogDirs and DescribeProducers driven by kadm (and raw kmsg
// requests for what kadm does not send) against real brokers; what they
// answer is checked against mk's own describe, which reads the files.

// sizedPartition is a partition of `mk describe topic -o json` with its
// replicas and size.
type sizedPartition struct {
	Partition int   `json:"partition"`
	Leader    int32 `json:"leader"`
	Replicas  []int `json:"replicas"`
	SizeBytes int64 `json:"size_bytes"`
}

func (k *kafkaCluster) sizedPartitions(topic string, args ...string) []sizedPartition {
	k.t.Helper()
	var d struct {
		Partitions []sizedPartition `json:"partitions"`
	}
	out := k.mk(append([]string{"describe", "topic", topic, "-o", "json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		k.t.Fatal(err)
	}
	return d.Partitions
}

// TestKafkaDescribeLogDirs: every broker lists its one log directory
// (<dir>/brokers/<id>, absolute) with the replicas the metadata gives it,
// each leader's size equal to what mk describe topic reads from the
// files; a filter lists only what it names (unknown topics and partitions
// out of range left out); every version answers, v4 with the file
// system's bytes; a request naming a million partitions is answered.
func TestKafkaDescribeLogDirs(t *testing.T) {
	k := startKafkaCluster(t, 3)
	k.mk("topic", "create", "orders", "--partitions", "3", "--replication-factor", "2")
	ctx := testContext(t)
	cl := k.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range 20 {
		r := &kgo.Record{Topic: "orders", Partition: int32(i % 2), Value: []byte("record " + strconv.Itoa(i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	parts := k.sizedPartitions("orders")
	if len(parts) != 3 || parts[0].SizeBytes <= 0 || parts[1].SizeBytes <= 0 || parts[2].SizeBytes != 0 {
		t.Fatalf("mk describe topic: %+v", parts)
	}
	adm := kadm.NewClient(cl)
	all, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("%d brokers answered, want 3: %+v", len(all), all)
	}
	for id := int32(1); id <= 3; id++ {
		dirs := all[id]
		wantDir, _ := filepath.Abs(filepath.Join(k.dir, "brokers", strconv.Itoa(int(id))))
		d, ok := dirs[wantDir]
		if len(dirs) != 1 || !ok || d.Err != nil {
			t.Fatalf("broker %d: dirs %+v, want one, %s", id, dirs, wantDir)
		}
		if d.TotalBytes <= 0 || d.UsableBytes < 0 || d.UsableBytes > d.TotalBytes {
			t.Fatalf("broker %d: total %d, usable %d bytes", id, d.TotalBytes, d.UsableBytes)
		}
		for _, p := range parts {
			got, ok := d.Topics.Lookup("orders", int32(p.Partition))
			if holds := slices.Contains(p.Replicas, int(id)); ok != holds {
				t.Fatalf("broker %d lists partition %d: %v; replicas %v", id, p.Partition, ok, p.Replicas)
			}
			if ok && (got.OffsetLag != 0 || got.IsFuture) {
				t.Fatalf("broker %d partition %d: %+v", id, p.Partition, got)
			}
			if ok && p.Leader == id && got.Size != p.SizeBytes {
				t.Fatalf("leader %d of partition %d: size %d, mk describe topic %d", id, p.Partition, got.Size, p.SizeBytes)
			}
		}
	}

	// Over the wire, describe topic shows the same sizes.
	wire := k.sizedPartitions("orders", "-b", k.addrs()[0])
	for i, p := range wire {
		if p.SizeBytes != parts[i].SizeBytes {
			t.Fatalf("describe topic -b: %+v; locally %+v", wire, parts)
		}
	}

	// describe cluster: a broker's size is its replicas' (locally read
	// from the files, over the wire from DescribeLogDirs).
	brokerSizes := func(args ...string) map[int]int64 {
		var v struct {
			Brokers []struct {
				ID        int   `json:"id"`
				SizeBytes int64 `json:"size_bytes"`
			} `json:"brokers"`
		}
		if err := json.Unmarshal([]byte(k.mk(append([]string{"describe", "cluster", "-o", "json"}, args...)...)), &v); err != nil {
			t.Fatal(err)
		}
		out := map[int]int64{}
		for _, b := range v.Brokers {
			out[b.ID] = b.SizeBytes
		}
		return out
	}
	local, remote := brokerSizes(), brokerSizes("-b", k.addrs()[0])
	for id := int32(1); id <= 3; id++ {
		if local[int(id)] != all[id].Size() || remote[int(id)] != local[int(id)] {
			t.Fatalf("broker %d: describe cluster %d bytes, -b %d, DescribeLogDirs %d", id, local[int(id)], remote[int(id)], all[id].Size())
		}
	}

	// A filter: only what it names, of what the broker holds.
	leader := parts[1].Leader
	got, err := adm.DescribeBrokerLogDirs(ctx, leader, kadm.TopicsSet{"orders": {1: {}, 7: {}}, "nosuch": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range got {
		if len(d.Topics) != 1 || len(d.Topics["orders"]) != 1 || d.Topics["orders"][1].Size != parts[1].SizeBytes {
			t.Fatalf("filtered: %+v", d.Topics)
		}
	}

	// Every version; v0-v3 have no file system bytes.
	for v := int16(0); v <= 4; v++ {
		vs := kversion.Stable()
		vs.SetMaxKeyVersion(35, v)
		req := kmsg.NewPtrDescribeLogDirsRequest()
		resp, err := req.RequestWith(ctx, k.client(kgo.MaxVersions(vs)).Broker(int(leader)))
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if resp.Version != v || len(resp.Dirs) != 1 || resp.ErrorCode != 0 || (v < 4) != (resp.Dirs[0].TotalBytes == -1) ||
			len(resp.Dirs[0].Topics) != 1 || len(resp.Dirs[0].Topics[0].Partitions) != 2 {
			t.Fatalf("v%d: %+v", v, resp)
		}
	}

	// A million partitions named: an answer with the one asked for that
	// the broker holds, and the broker goes on serving.
	req := kmsg.NewPtrDescribeLogDirsRequest()
	rt := kmsg.NewDescribeLogDirsRequestTopic()
	rt.Topic = "orders"
	for p := range int32(1 << 20) {
		rt.Partitions = append(rt.Partitions, p+1)
	}
	req.Topics = append(req.Topics, rt)
	start := time.Now()
	resp, err := req.RequestWith(ctx, cl.Broker(int(leader)))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Dirs) != 1 || len(resp.Dirs[0].Topics) != 1 || resp.Dirs[0].Topics[0].Partitions[0].Partition != 1 {
		t.Fatalf("a million partitions: %+v (in %s)", resp.Dirs, time.Since(start))
	}
	if _, err := adm.DescribeAllLogDirs(ctx, nil); err != nil {
		t.Fatalf("after a million partitions: %v", err)
	}
}

// TestKafkaDescribeProducers: an idempotent kgo producer is listed on the
// partitions it wrote, by the leader and by a follower, with its id,
// epoch, last sequence and last batch timestamp; a partition nobody wrote
// lists none; a broker without a replica answers NOT_LEADER_OR_FOLLOWER,
// an unknown topic or partition UNKNOWN_TOPIC_OR_PARTITION; a request
// repeating a partition many times gets an answer per entry.
func TestKafkaDescribeProducers(t *testing.T) {
	k := startKafkaCluster(t, 3)
	k.mk("topic", "create", "orders", "--partitions", "2", "--replication-factor", "2")
	ctx := testContext(t)
	cl := k.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("orders"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	before := time.Now().UnixMilli()
	const n = 7
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	id, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(k.client())
	dps, err := adm.DescribeProducers(ctx, kadm.TopicsSet{"orders": {0: {}, 1: {}}})
	if err != nil {
		t.Fatal(err)
	}
	p0, p1 := dps["orders"].Partitions[0], dps["orders"].Partitions[1]
	if p0.Err != nil || p1.Err != nil || len(p1.ActiveProducers) != 0 || len(p0.ActiveProducers) != 1 {
		t.Fatalf("partition 0: %+v; partition 1: %+v", p0, p1)
	}
	ap := p0.ActiveProducers[0]
	if ap.ProducerID != id || ap.ProducerEpoch != epoch || ap.LastSequence != n-1 || ap.LastTimestamp < before ||
		ap.CoordinatorEpoch != -1 || ap.CurrentTxnStartOffset != -1 {
		t.Fatalf("producer %+v; kgo's id %d epoch %d, %d records", ap, id, epoch, n)
	}

	// Asked of each broker: the replicas answer from their own state (a
	// follower once it has copied the records), the other broker does not
	// hold the partition.
	parts := k.sizedPartitions("orders")
	raw := k.client()
	ask := func(broker int, topic string, partitions ...int32) *kmsg.DescribeProducersResponse {
		t.Helper()
		req := kmsg.NewPtrDescribeProducersRequest()
		rt := kmsg.NewDescribeProducersRequestTopic()
		rt.Topic, rt.Partitions = topic, partitions
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, raw.Broker(broker))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for b := 1; b <= 3; b++ {
		if !slices.Contains(parts[0].Replicas, b) {
			resp := ask(b, "orders", 0)
			if err := code(resp.Topics[0].Partitions[0].ErrorCode); !errors.Is(err, kerr.NotLeaderForPartition) {
				t.Fatalf("broker %d without a replica: %v", b, err)
			}
			continue
		}
		waitUntil(t, "broker "+strconv.Itoa(b)+" lists the producer", 10*time.Second, func() bool {
			ps := ask(b, "orders", 0).Topics[0].Partitions[0]
			return ps.ErrorCode == 0 && len(ps.ActiveProducers) == 1 && ps.ActiveProducers[0].ProducerID == id && ps.ActiveProducers[0].LastSequence == n-1
		})
	}

	// Unknown topics and partitions, as Kafka answers them, in order.
	resp := ask(int(parts[0].Leader), "orders", 5, -1, 0)
	for i, want := range []*kerr.Error{kerr.UnknownTopicOrPartition, kerr.UnknownTopicOrPartition, nil} {
		if err := code(resp.Topics[0].Partitions[i].ErrorCode); !errors.Is(err, want) && (want != nil || err != nil) {
			t.Fatalf("entry %d: %v, want %v", i, err, want)
		}
	}
	if p := resp.Topics[0].Partitions; p[0].Partition != 5 || p[1].Partition != -1 || p[2].Partition != 0 {
		t.Fatalf("answers out of order: %+v", p)
	}
	for _, name := range []string{"nosuch", "bad/name"} {
		if err := code(ask(int(parts[0].Leader), name, 0).Topics[0].Partitions[0].ErrorCode); !errors.Is(err, kerr.UnknownTopicOrPartition) {
			t.Fatalf("topic %s: %v", name, err)
		}
	}

	// A partition named 200,000 times, with as many out of range: one
	// answer per entry, and the broker goes on serving.
	many := make([]int32, 0, 400_000)
	for i := range 200_000 {
		many = append(many, 0, int32(10+i))
	}
	resp = ask(int(parts[0].Leader), "orders", many...)
	got := resp.Topics[0].Partitions
	if len(got) != len(many) || len(got[0].ActiveProducers) != 1 || got[1].ErrorCode != kerr.UnknownTopicOrPartition.Code ||
		len(got[len(got)-2].ActiveProducers) != 1 {
		t.Fatalf("%d answers to %d entries", len(got), len(many))
	}
	if _, err := adm.DescribeProducers(ctx, kadm.TopicsSet{"orders": {0: {}}}); err != nil {
		t.Fatalf("after a large request: %v", err)
	}
}
