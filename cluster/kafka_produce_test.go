package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/client"
	"mk/coord"
	"mk/logdir"
)

// Bugs the scripts' run over the wire found in the Kafka producer.

// TestKafkaProduceReusedBuffers: the caller reuses its buffers as soon as
// Send returns (mk produce's line reader does), while kgo holds records
// until they are acknowledged: every record keeps the bytes it was sent
// with.
func TestKafkaProduceReusedBuffers(t *testing.T) {
	k := dial(t, startKfake(t))
	if _, err := k.CreateTopic(ctx(t), TopicSpec{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	p, err := k.NewProducer(ctx(t), "t", ProducerOptions{Acks: client.AcksAll})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	buf := make([]byte, 0, 64)
	hv := make([]byte, 0, 16)
	for i := range n {
		buf = fmt.Appendf(buf[:0], "k%d", i)
		key := buf[:len(buf):len(buf)]
		value := fmt.Appendf(buf[len(buf):], "value-%d", i)
		hv = fmt.Appendf(hv[:0], "h%d", i)
		if err := p.Send(0, time.Now().UnixMilli(), key, value, []logdir.Header{{Key: []byte("n"), Value: hv}}); err != nil {
			t.Fatal(err)
		}
		// Scribble over what was sent, as the next line would.
		for j := range buf[:cap(buf)] {
			buf[:cap(buf)][j] = 'x'
		}
		for j := range hv {
			hv[j] = 'x'
		}
	}
	// Empty and null values stay what they are.
	if err := p.Send(0, time.Now().UnixMilli(), nil, []byte{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Send(0, time.Now().UnixMilli(), nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	var got []string
	err = k.Consume(ctx(t), ConsumeSpec{Topics: []string{"t"}, Partition: -1, Start: client.StartSpec{Offset: client.Earliest}},
		func(topic string, partition int32, r *logdir.Record) error {
			s := fmt.Sprintf("%s=%s", r.Key, r.Value)
			for _, h := range r.Headers {
				s += fmt.Sprintf(" %s:%s", h.Key, h.Value)
			}
			if r.Value == nil {
				s += " null"
			}
			got = append(got, s)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n+2 {
		t.Fatalf("consumed %d records, want %d", len(got), n+2)
	}
	for i := range n {
		if want := fmt.Sprintf("k%d=value-%d n:h%d", i, i, i); got[i] != want {
			t.Fatalf("record %d: %q, want %q", i, got[i], want)
		}
	}
	if got[n] != "=" || got[n+1] != "= null" {
		t.Fatalf("empty and null values: %q %q", got[n], got[n+1])
	}
}

// TestKafkaProduceOldTimestamps: a record stamped long ago (--input json
// copies timestamps) is delivered, not timed out at once: the delivery
// timeout runs from when the record was sent.
func TestKafkaProduceOldTimestamps(t *testing.T) {
	k := dial(t, startKfake(t))
	if _, err := k.CreateTopic(ctx(t), TopicSpec{Name: "t", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	p, err := k.NewProducer(ctx(t), "t", ProducerOptions{Acks: client.AcksAll, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	old := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC).UnixMilli()
	for i := range 3 {
		if err := p.Send(-1, old+int64(i), nil, []byte("old"), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil || p.Acked() != 3 {
		t.Fatalf("acked %d: %v", p.Acked(), err)
	}
	var stamps []int64
	err = k.Consume(ctx(t), ConsumeSpec{Topics: []string{"t"}, Partition: -1, Start: client.StartSpec{Offset: client.Earliest}},
		func(_ string, _ int32, r *logdir.Record) error {
			stamps = append(stamps, r.Timestamp)
			return nil
		})
	if err != nil || len(stamps) != 3 {
		t.Fatalf("consumed %v: %v", stamps, err)
	}
	for _, s := range stamps {
		if s < old || s > old+2 {
			t.Fatalf("timestamp %d, want the record's own (%d..%d)", s, old, old+2)
		}
	}
}

// TestKafkaProduceTimeout: a record that is not acknowledged within the
// timeout fails (delivery.timeout.ms): here its partition's only broker
// is gone.
func TestKafkaProduceTimeout(t *testing.T) {
	c := startKfake(t)
	k := dial(t, c, func(o *KafkaOptions) { o.Timeout = 2 * time.Second })
	if _, err := k.CreateTopic(ctx(t), TopicSpec{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	p, err := k.NewProducer(ctx(t), "t", ProducerOptions{Acks: client.AcksAll, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	start := time.Now()
	if err := p.Send(0, time.Now().UnixMilli(), nil, []byte("lost"), nil); err != nil {
		t.Fatal(err)
	}
	err = p.Close()
	if err == nil || p.Failed() != 1 {
		t.Fatalf("failed %d: %v", p.Failed(), err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("failed after %s, want about the 1s timeout", d)
	}
}

// TestKafkaProduceAcksNoneOffsets: with acks=0 a broker does not answer,
// so the offsets of the records are not known: OnAck says -1.
func TestKafkaProduceAcksNoneOffsets(t *testing.T) {
	k := dial(t, startKfake(t))
	if _, err := k.CreateTopic(ctx(t), TopicSpec{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var bases []int64
	produce(t, k, "t", ProducerOptions{Acks: client.AcksNone, OnAck: func(_ int32, base int64, _ int) {
		mu.Lock()
		bases = append(bases, base)
		mu.Unlock()
	}}, [2]string{"", "a"}, [2]string{"", "b"})
	mu.Lock()
	defer mu.Unlock()
	if len(bases) != 2 || bases[0] != -1 || bases[1] != -1 {
		t.Fatalf("offsets %v, want -1 -1", bases)
	}
}

// backupIter is kgo's view of the writable partitions' buffered records:
// indexes 0..n-1, none buffered.
type backupIter struct{ n, i int }

func (b *backupIter) Next() (int, int64) { b.i++; return b.i - 1, 0 }
func (b *backupIter) Rem() int           { return b.n - b.i }

// TestPartitionerNewBatch: kgo sets a record's Partition when it buffers
// it and, when the record starts a new batch (KIP-480), asks the
// partitioner again for the same record; with a partition unavailable
// (one of two writable: kgo passes n=1) the second answer must be an
// index among the writable partitions, not the partition kgo chose
// ("invalid record partitioning choice of 1 from 1 available").
func TestPartitionerNewBatch(t *testing.T) {
	tp := mkPartitioner{kgo.UniformBytesPartitioner(16<<10, true, true, nil)}.ForTopic("t")
	bp := tp.(kgo.TopicBackupPartitioner)
	nb := tp.(kgo.TopicPartitionerOnNewBatch)
	for i := range 20 {
		r := &kgo.Record{Value: []byte("v"), Partition: autoPartition}
		if tp.RequiresConsistency(r) {
			t.Fatal("a record without key or partition requires consistency")
		}
		if pick := bp.PartitionByBackup(r, 1, &backupIter{n: 1}); pick != 0 {
			t.Fatalf("record %d: pick %d of 1", i, pick)
		}
		r.Partition = 1 // the only writable partition, as kgo records it
		nb.OnNewBatch()
		if pick := bp.PartitionByBackup(r, 1, &backupIter{n: 1}); pick != 0 {
			t.Fatalf("record %d, new batch: pick %d of 1", i, pick)
		}
	}
	// A record the user sent to partition 1 goes there, asked twice.
	r := &kgo.Record{Value: []byte("v"), Partition: 1}
	if !tp.RequiresConsistency(r) {
		t.Fatal("a named partition does not require consistency")
	}
	for range 2 {
		if pick := bp.PartitionByBackup(r, 2, &backupIter{n: 2}); pick != 1 {
			t.Fatalf("named partition 1: pick %d", pick)
		}
		nb.OnNewBatch()
	}
}

// TestNoLeaderError: a partition without a leader is said as mk says it
// of a local cluster, with the reason the metadata gives.
func TestNoLeaderError(t *testing.T) {
	for _, c := range []struct {
		p    kadm.PartitionDetail
		want string
	}{
		{kadm.PartitionDetail{Partition: 0, Leader: -1, Replicas: []int32{2}, ISR: []int32{2}, OfflineReplicas: []int32{2}}, "partition t-0 has no live leader: broker 2 is down"},
		{kadm.PartitionDetail{Partition: 1, Leader: -1, Replicas: []int32{1, 2}, ISR: []int32{1}, OfflineReplicas: []int32{2, 1}}, "partition t-1 has no live leader: broker 1 is down"},
		{kadm.PartitionDetail{Partition: 2, Leader: -1, Replicas: []int32{1, 2}, OfflineReplicas: []int32{1, 2}}, "partition t-2 has no live leader: its replicas are down"},
		{kadm.PartitionDetail{Partition: 3, Leader: -1, Replicas: []int32{1}, ISR: []int32{1}}, "partition t-3 has no live leader"},
	} {
		c.p.Err = kerr.LeaderNotAvailable
		err := noLeader("t", c.p)
		if err.Error() != c.want || !errors.Is(err, client.ErrNoLeader) || !errors.Is(err, kerr.LeaderNotAvailable) {
			t.Errorf("got %q, want %q (ErrNoLeader and the Kafka error)", err, c.want)
		}
	}
}

// TestBrokerErr: a broker's error message is the error's text, as Kafka's
// clients show an ApiError; the code still gives the exit status.
func TestBrokerErr(t *testing.T) {
	err := brokerErr("create topic t", kerr.InvalidReplicationFactor, "replication factor 3 is larger than the 2 live brokers")
	if err.Error() != "replication factor 3 is larger than the 2 live brokers" || !errors.Is(err, coord.ErrInvalidReplicationFactor) {
		t.Fatalf("with a message: %q", err)
	}
	err = brokerErr("create topic t", kerr.InvalidReplicationFactor, "")
	if !strings.HasPrefix(err.Error(), "create topic t: ") || !strings.Contains(err.Error(), "INVALID_REPLICATION_FACTOR") || !errors.Is(err, coord.ErrInvalidReplicationFactor) {
		t.Fatalf("without a message: %q", err)
	}
}

// TestKafkaConsumeFromTimeRace: a consumer from a time asks for the end
// offsets, then for the offsets by time; where no record is at or after
// the time, kadm asks again for the end. A record appended in between
// (here: the broker answers the first end offsets and the by-time request
// as of before the record) is still consumed.
func TestKafkaConsumeFromTimeRace(t *testing.T) {
	c := startKfake(t)
	k := dial(t, c)
	if _, err := k.CreateTopic(ctx(t), TopicSpec{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	from := time.Now().UnixMilli()
	produce(t, k, "t", ProducerOptions{Acks: client.AcksAll}, [2]string{"", "raced"})
	// Answer as the partition was before the record: ends 0, and nothing
	// at or after the time; later requests see the record.
	answered := map[int64]bool{}
	c.ControlKey(int16(kmsg.ListOffsets), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.ListOffsetsRequest)
		ts := req.Topics[0].Partitions[0].Timestamp
		if answered[ts] || (ts != -1 && ts < 0) {
			return nil, nil, false
		}
		c.KeepControl()
		answered[ts] = true
		resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewListOffsetsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewListOffsetsResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.Timestamp = -1
				sp.Offset = 0 // the end before the record
				if ts >= 0 {
					sp.Offset = -1 // none at or after the time
				}
				sp.LeaderEpoch = -1
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	var got []string
	cctx, cancel := context.WithTimeout(ctx(t), 10*time.Second)
	defer cancel()
	err := k.Consume(cctx, ConsumeSpec{Topics: []string{"t"}, Partition: -1, Start: client.StartSpec{ByTime: true, FromTime: from}, Follow: true},
		func(_ string, _ int32, r *logdir.Record) error {
			got = append(got, string(r.Value))
			return client.ErrStop
		})
	if err != nil || len(got) != 1 || got[0] != "raced" {
		t.Fatalf("consumed %v: %v (the record appended between the answers was skipped)", got, err)
	}
}

// TestKafkaProduceIdle: what lingers is sent when the input goes idle,
// not held for the linger (a line typed into mk produce shows at once).
func TestKafkaProduceIdle(t *testing.T) {
	defer func(d time.Duration) { linger = d }(linger)
	linger = time.Minute
	k := dial(t, startKfake(t))
	if _, err := k.CreateTopic(ctx(t), TopicSpec{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	p, err := k.NewProducer(ctx(t), "t", ProducerOptions{Acks: client.AcksAll})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// The first record waits for the topic's metadata (kgo partitions it
	// when that comes, and it then lingers); the next are partitioned as
	// they are sent.
	if err := p.Send(0, time.Now().UnixMilli(), nil, []byte("first"), nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := p.Send(0, time.Now().UnixMilli(), nil, []byte("typed"), nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Idle(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx(t), 10*time.Second)
	defer cancel()
	var got string
	err = k.Consume(cctx, ConsumeSpec{Topics: []string{"t"}, Partition: -1, Start: client.StartSpec{Offset: 1}, Follow: true},
		func(_ string, _ int32, r *logdir.Record) error {
			got = string(r.Value)
			return client.ErrStop
		})
	if err != nil || got != "typed" {
		t.Fatalf("after Idle: %q %v (held %s: lingered?)", got, err, time.Since(start))
	}
}

// TestKafkaProduceRecycledRecords: records are reused once kgo is done
// with them; records named to a partition and records the partitioner
// places, interleaved, each land where they should.
func TestKafkaProduceRecycledRecords(t *testing.T) {
	k := dial(t, startKfake(t))
	if _, err := k.CreateTopic(ctx(t), TopicSpec{Name: "t", Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	p, err := k.NewProducer(ctx(t), "t", ProducerOptions{Acks: client.AcksAll, BatchBytes: 512})
	if err != nil {
		t.Fatal(err)
	}
	const n = 6000
	for i := range n {
		part, v := int32(-1), fmt.Sprintf("auto-%d", i)
		if i%3 == 0 {
			part, v = 2, fmt.Sprintf("named-%d", i)
		}
		if err := p.Send(part, time.Now().UnixMilli(), nil, []byte(v), nil); err != nil {
			t.Fatal(err)
		}
		if i%500 == 0 {
			p.Idle()
		}
	}
	if err := p.Close(); err != nil || p.Acked() != n {
		t.Fatalf("acked %d: %v", p.Acked(), err)
	}
	seen := map[string]bool{}
	err = k.Consume(ctx(t), ConsumeSpec{Topics: []string{"t"}, Partition: -1, Start: client.StartSpec{Offset: client.Earliest}},
		func(_ string, partition int32, r *logdir.Record) error {
			v := string(r.Value)
			if strings.HasPrefix(v, "named-") && partition != 2 {
				t.Errorf("%s in partition %d, want 2", v, partition)
			}
			seen[v] = true
			return nil
		})
	if err != nil || len(seen) != n {
		t.Fatalf("consumed %d distinct records of %d: %v", len(seen), n, err)
	}
}

// TestKafkaProduceLargeRecords: batches are bounded by maxBatchBytes, and
// a record larger than that, within the topic's max.message.bytes, is
// still sent, in its place among the others, and told to OnRecord.
func TestKafkaProduceLargeRecords(t *testing.T) {
	k := dial(t, startKfake(t))
	if _, err := k.CreateTopic(ctx(t), TopicSpec{Name: "big", Partitions: 1, Config: map[string]string{"max.message.bytes": "3000000"}}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	offsets := map[int64]int64{}
	p, err := k.NewProducer(ctx(t), "big", ProducerOptions{Acks: client.AcksAll, Idempotent: true, OnRecord: func(index int64, _ int32, offset int64, failed bool) {
		mu.Lock()
		defer mu.Unlock()
		if failed {
			t.Errorf("record %d failed", index)
		}
		offsets[index] = offset
	}})
	if err != nil {
		t.Fatal(err)
	}
	values := []string{"a", strings.Repeat("x", 1500000), "b", strings.Repeat("y", maxBatchBytes), "c"}
	for _, v := range values {
		if err := p.Send(0, time.Now().UnixMilli(), nil, []byte(v), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if p.Acked() != int64(len(values)) || p.Failed() != 0 {
		t.Fatalf("acked %d failed %d", p.Acked(), p.Failed())
	}
	for i := range values {
		if offsets[int64(i)] != int64(i) {
			t.Fatalf("offsets by index %v", offsets)
		}
	}
	var got collected
	if err := k.Consume(ctx(t), ConsumeSpec{Topics: []string{"big"}, Partition: -1, Start: client.StartSpec{Offset: client.Earliest}}, got.handler(0)); err != nil {
		t.Fatal(err)
	}
	recs := got.get()
	if len(recs) != len(values) {
		t.Fatalf("consumed %d records", len(recs))
	}
	for i, r := range recs {
		if want := fmt.Sprintf("big/0/%d =%s", i, values[i]); r != want {
			t.Fatalf("record %d: %.40q..., want %.40q...", i, r, want)
		}
	}
}
