package main

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Group benchmarks, mk against franz-go's kfake (an in-memory Kafka) in the
// same run with the same kgo settings, so that the figures are ratios on a
// shared, noisy machine:
//
//	go test -run '^$' -bench KafkaGroup -benchtime 10x .

// BenchmarkKafkaGroupRebalance is the time from a member's LeaveGroup to
// every partition being owned again by the two members left (kgo's
// OnPartitionsAssigned: ms-owned), and, when the brokers serve Produce and
// Fetch, to every partition being consumed again while a producer writes
// to all of them (ms-consumed); kgo heartbeats every 100 ms so that the
// coordinator's part is not hidden behind the default 3 s heartbeat.
func BenchmarkKafkaGroupRebalance(b *testing.B) {
	for _, bal := range []struct {
		name string
		b    func() kgo.GroupBalancer
	}{{"range", kgo.RangeBalancer}, {"cooperative-sticky", kgo.CooperativeStickyBalancer}} {
		var data bool
		b.Run("mk/"+bal.name, func(b *testing.B) {
			k := startKafkaCluster(b, 1, "--group-initial-rebalance-delay", "0s")
			k.mk("topic", "create", "t", "--partitions", "6", "--replication-factor", "1")
			data = servesDataPath(b, k)
			benchRebalance(b, k.addrs(), bal.b, data)
		})
		b.Run("kfake/"+bal.name, func(b *testing.B) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, "t"))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			benchRebalance(b, c.ListenAddrs(), bal.b, data)
		})
	}
}

// servesDataPath reports whether the brokers serve Produce, ListOffsets
// and Fetch.
func servesDataPath(t testing.TB, k *kafkaCluster) bool {
	vs, err := k.admin().ApiVersions(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		for _, key := range []kmsg.Key{kmsg.Produce, kmsg.Fetch, kmsg.ListOffsets} {
			if _, _, ok := v.KeyVersions(key.Int16()); !ok {
				return false
			}
		}
	}
	return true
}

// consumedAgain records, per partition, when a record was last consumed
// and by whom.
type consumedAgain struct {
	mu   sync.Mutex
	last map[int32]struct {
		at     time.Time
		member string
	}
}

func (c *consumedAgain) record(member string) func(*kgo.Record) {
	return func(r *kgo.Record) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.last[r.Partition] = struct {
			at     time.Time
			member string
		}{time.Now(), member}
	}
}

// waitAfter waits until every one of n partitions had a record consumed
// after since by another member than gone.
func (c *consumedAgain) waitAfter(b *testing.B, n int32, since time.Time, gone string) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		c.mu.Lock()
		done := true
		for p := range n {
			l, ok := c.last[p]
			if !ok || !l.at.After(since) || l.member == gone {
				done = false
			}
		}
		c.mu.Unlock()
		if done {
			return
		}
		if time.Now().After(deadline) {
			b.Fatal("partitions not consumed again within 60 s")
		}
		time.Sleep(time.Millisecond) // poll interval, bounded by the deadline
	}
}

func benchRebalance(b *testing.B, addrs []string, balancer func() kgo.GroupBalancer, data bool) {
	b.StopTimer()
	stop := make(chan struct{})
	defer close(stop)
	if data {
		// A record to every partition every 5 ms.
		cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				for p := range int32(6) {
					cl.Produce(context.Background(), &kgo.Record{Topic: "t", Partition: p, Value: []byte("x")}, nil)
				}
			}
		}()
	}
	var owned, consumed time.Duration
	for range b.N {
		group := "g" + strconv.FormatInt(benchGroups.Add(1), 10)
		o := newOwnership()
		c := &consumedAgain{last: map[int32]struct {
			at     time.Time
			member string
		}{}}
		var ms []*groupMember
		for _, name := range []string{"m1", "m2", "m3"} {
			var onRecord func(*kgo.Record)
			if data {
				onRecord = c.record(name)
			}
			ms = append(ms, startGroupMember(b, addrs, name, group, o, onRecord, kgo.Balancers(balancer()), kgo.HeartbeatInterval(100*time.Millisecond)))
		}
		o.waitBalanced(b, 6, "m1", "m2", "m3")
		b.StartTimer()
		start := time.Now()
		ms[0].close()
		o.waitBalanced(b, 6, "m2", "m3")
		owned += time.Since(start)
		if data {
			c.waitAfter(b, 6, start, "m1")
			consumed += time.Since(start)
		}
		b.StopTimer()
		o.check(b)
		ms[1].close()
		ms[2].close()
	}
	b.ReportMetric(float64(owned.Microseconds())/1e3/float64(b.N), "ms-owned")
	if data {
		b.ReportMetric(float64(consumed.Microseconds())/1e3/float64(b.N), "ms-consumed")
	}
}

// BenchmarkKafkaGroupConsume is the throughput of a group consuming a
// backlog in a topic of 6 partitions, against one kgo consumer that is not
// in a group, on mk and on kfake: a group should cost little over a plain
// consumer (the coordinator is off the fetch path). Each iteration reads
// the backlog three times back to back, with a plain consumer, a group of
// one and a group of three (in one process on this machine: no more CPU
// for three), taking turns at going first, so that the ratios
// group1/plain and group3/plain compare runs under the same load. Throughput is the backlog over the time from
// the clients' start to its last record, a group's join included.
func BenchmarkKafkaGroupConsume(b *testing.B) {
	const records, size = 1000000, 100
	b.Run("mk", func(b *testing.B) {
		k := startKafkaCluster(b, 1, "--group-initial-rebalance-delay", "0s")
		requireDataPath(b, k)
		k.mk("topic", "create", "t", "--partitions", "6", "--replication-factor", "1")
		fill(b, k.client(), records, size)
		benchConsume(b, k.addrs(), records)
	})
	b.Run("kfake", func(b *testing.B) {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, "t"))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		fill(b, cl, records, size)
		benchConsume(b, c.ListenAddrs(), records)
	})
}

func fill(b *testing.B, cl *kgo.Client, n, size int) {
	value := make([]byte, size)
	var rs []*kgo.Record
	for i := range n {
		rs = append(rs, &kgo.Record{Topic: "t", Key: []byte(strconv.Itoa(i)), Value: value})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
}

// benchGroups numbers the groups of the benchmarks: a group consumes from
// the start only once (it commits).
var benchGroups atomic.Int64

func benchConsume(b *testing.B, addrs []string, records int) {
	var plain, g1, g3, r1, r3 float64
	for i := range b.N {
		// The three take turns at going first (the first of a round
		// may find colder caches).
		var rate [4]float64
		for j := range 3 {
			members := []int{0, 1, 3}[(i+j)%3]
			rate[members] = consumeBacklog(b, addrs, records, members)
		}
		p, x, y := rate[0], rate[1], rate[3]
		plain, g1, g3 = plain+p, g1+x, g3+y
		r1, r3 = r1+x/p, r3+y/p
	}
	n := float64(b.N)
	b.ReportMetric(plain/n, "plain-records/s")
	b.ReportMetric(g1/n, "group1-records/s")
	b.ReportMetric(g3/n, "group3-records/s")
	b.ReportMetric(r1/n, "group1/plain")
	b.ReportMetric(r3/n, "group3/plain")
}

// consumeBacklog reads the topic's backlog of records from its start with
// a plain consumer (members 0) or a new group of members, and returns
// records/s.
func consumeBacklog(b *testing.B, addrs []string, records, members int) float64 {
	var n atomic.Int64
	done := make(chan struct{})
	count := func(*kgo.Record) {
		if n.Add(1) == int64(records) {
			close(done)
		}
	}
	start := time.Now()
	var stop func()
	if members == 0 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			for {
				fs := cl.PollFetches(context.Background())
				if fs.IsClientClosed() {
					return
				}
				fs.EachRecord(count)
			}
		}()
		stop = cl.Close
	} else {
		o := newOwnership()
		var ms []*groupMember
		group := "bench" + strconv.FormatInt(benchGroups.Add(1), 10)
		for j := range members {
			ms = append(ms, startGroupMember(b, addrs, "m"+strconv.Itoa(j), group, o, count, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())))
		}
		stop = func() {
			for _, m := range ms {
				m.close()
			}
		}
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("%d of %d records consumed in 2 minutes", n.Load(), records)
	}
	rate := float64(records) / time.Since(start).Seconds()
	stop()
	return rate
}
