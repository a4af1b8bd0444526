package main

import (
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Group benchmarks, mk against franz-go's kfake (an in-memory Kafka) in the
// same run with the same kgo settings, so that the figures are ratios on a
// shared, noisy machine:
//
//	go test -run '^$' -bench KafkaGroup -benchtime 10x .

// BenchmarkKafkaGroupRebalance is the time from a member's LeaveGroup to
// every partition being owned again by the two members left (kgo's
// OnPartitionsAssigned), with kgo heartbeating every 100 ms so that the
// coordinator's part is not hidden behind the default 3 s heartbeat.
func BenchmarkKafkaGroupRebalance(b *testing.B) {
	for _, bal := range []struct {
		name string
		b    func() kgo.GroupBalancer
	}{{"range", kgo.RangeBalancer}, {"cooperative-sticky", kgo.CooperativeStickyBalancer}} {
		b.Run("mk/"+bal.name, func(b *testing.B) {
			k := startKafkaCluster(b, 1, "--group-initial-rebalance-delay", "0s")
			k.mk("topic", "create", "t", "--partitions", "6", "--replication-factor", "1")
			benchRebalance(b, k.addrs(), bal.b)
		})
		b.Run("kfake/"+bal.name, func(b *testing.B) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, "t"))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			benchRebalance(b, c.ListenAddrs(), bal.b)
		})
	}
}

func benchRebalance(b *testing.B, addrs []string, balancer func() kgo.GroupBalancer) {
	b.StopTimer()
	var total time.Duration
	for i := range b.N {
		group := "g" + strconv.Itoa(i)
		o := newOwnership()
		var ms []*groupMember
		for _, name := range []string{"m1", "m2", "m3"} {
			ms = append(ms, newGroupMember(b, addrs, name, group, o, kgo.Balancers(balancer()), kgo.HeartbeatInterval(100*time.Millisecond)))
		}
		o.waitBalanced(b, 6, "m1", "m2", "m3")
		b.StartTimer()
		start := time.Now()
		ms[0].close()
		o.waitBalanced(b, 6, "m2", "m3")
		total += time.Since(start)
		b.StopTimer()
		o.check(b)
		ms[1].close()
		ms[2].close()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/rebalance")
}
