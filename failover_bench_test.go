package main

import (
	"slices"
	"testing"
	"time"

	"mk/client"
	"mk/coord"
)

// BenchmarkLeaderFailover measures, inside one process (no process
// start-up in the figure), how long a partition takes to fail over as a
// producer sees it: from the SIGKILL of the leader broker to the first
// record acknowledged (acks=all) by the new leader. Three brokers,
// replication factor 3; each round kills the current leader while mk's
// producer sends one record at a time, then restarts it and waits for it
// to be back in the ISR. One round per b.N:
//
//	go test -run '^$' -bench LeaderFailover -benchtime 20x .
//
// It reports the median, the 99th percentile and the maximum in ms.
func BenchmarkLeaderFailover(b *testing.B) {
	k := startKafkaCluster(b, 3)
	k.mk("topic", "create", "f", "--replication-factor", "3")
	c, err := coord.Open(k.dir)
	if err != nil {
		b.Fatal(err)
	}
	p, err := client.NewProducer(c, "f", client.ProducerOptions{Acks: client.AcksAll, Timeout: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	value := make([]byte, 100)
	produce := func() error {
		if err := p.Send(0, time.Now().UnixMilli(), nil, value, nil); err != nil {
			return err
		}
		return p.Flush()
	}
	inSync := func() bool {
		part := k.describe("f").Partitions[0]
		return len(part.ISR) == 3 && part.HighWatermark == part.LogEndOffset
	}
	var took []time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		waitUntil(b, "every replica in the ISR", 30*time.Second, inSync)
		if err := produce(); err != nil {
			b.Fatalf("before the kill: %v", err)
		}
		leader := k.leaderOf("f", 0)
		b.StartTimer()
		killed := time.Now()
		k.kill(leader)
		for produce() != nil {
			if time.Since(killed) > 30*time.Second {
				b.Fatal("no record acknowledged within 30s of the leader's death")
			}
		}
		took = append(took, time.Since(killed))
		b.StopTimer()
		if now := k.leaderOf("f", 0); now == leader {
			b.Fatalf("broker %d still leads after its death", leader)
		}
		k.start(leader)
		k.waitAddress(leader)
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(took)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
	b.ReportMetric(ms(took[min(len(took)-1, len(took)*99/100)]), "p99-ms")
	b.ReportMetric(ms(took[len(took)-1]), "max-ms")
}
