package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceRounds is how many times each broker is measured per run: the
// machine is shared, so one figure says little and the medians are
// quoted. More rounds narrow the median on a busy machine:
// go test -bench ... -args -produce-rounds 11.
var produceRounds = flag.Int("produce-rounds", 5, "rounds of each broker in BenchmarkKafkaProduce")

// BenchmarkKafkaProduce: a kgo producer sends b.N 100-byte records with
// acks=1 to one partition over TCP, against a real `mk broker` process
// and against franz-go's kfake (an in-memory Kafka) as the baseline, in
// the same run: both brokers are started once and measured in turns
// (produceRounds rounds, the order alternating), and the medians are
// reported, with the median of the rounds' mk/kfake ratios:
//
//	go test -run '^$' -bench '^BenchmarkKafkaProduce$' -benchtime 1000000x .
//
// kgo compresses with snappy by default; a Kafka broker (and mk) inflates
// every compressed batch to validate its records, which kfake does not.
// The "none" runs send uncompressed batches.
//
// With kgo's defaults (one Produce request in flight per broker when not
// idempotent, batches of up to 1 MB) the records/s are mostly the
// client's own work, which is the same for both brokers, and a shared
// machine moves them by tens of percent from round to round. What the
// broker adds is each Produce request's round trip, from the request's
// write to its response's read (kgo's HookBrokerE2E): the median round
// trip of each round is reported too, as mk-µs/req and kfake-µs/req, with
// the median of the rounds' mk/kfake ratios of them (lower is better for
// mk).
func BenchmarkKafkaProduce(b *testing.B) {
	for _, codec := range []struct {
		name  string
		codec kgo.CompressionCodec
	}{{"snappy", kgo.SnappyCompression()}, {"none", kgo.NoCompression()}} {
		b.Run(codec.name, func(b *testing.B) {
			k := startKafkaCluster(b, 1)
			k.mk("topic", "create", "p", "--partitions", "1")
			fake, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "p"))
			if err != nil {
				b.Fatal(err)
			}
			defer fake.Close()
			mk := newBenchProducer(b, k.addrs(), codec.codec)
			kf := newBenchProducer(b, fake.ListenAddrs(), codec.codec)
			var mkRates, kfRates, ratios, mkRTTs, kfRTTs, rttRatios []float64
			b.SetBytes(100)
			b.ResetTimer()
			for round := range *produceRounds {
				var m, f float64
				if round%2 == 0 {
					m, f = mk.produce(b, b.N), kf.produce(b, b.N)
				} else {
					f, m = kf.produce(b, b.N), mk.produce(b, b.N)
				}
				mkRates, kfRates, ratios = append(mkRates, m), append(kfRates, f), append(ratios, m/f)
				mkRTTs, kfRTTs = append(mkRTTs, mk.rtt()), append(kfRTTs, kf.rtt())
				rttRatios = append(rttRatios, mkRTTs[round]/kfRTTs[round])
			}
			b.StopTimer()
			b.ReportMetric(median(mkRates), "mk-records/s")
			b.ReportMetric(median(kfRates), "kfake-records/s")
			b.ReportMetric(median(ratios), "mk/kfake")
			b.ReportMetric(median(mkRTTs), "mk-µs/req")
			b.ReportMetric(median(kfRTTs), "kfake-µs/req")
			b.ReportMetric(median(rttRatios), "mk/kfake-µs/req")
			if b.N > 1 {
				b.Logf("mk/kfake by round: %s; round trips mk/kfake: %s", formatRatios(ratios), formatRatios(rttRatios))
			}
		})
	}
}

type benchProducer struct {
	cl *kgo.Client

	mu   sync.Mutex
	rtts []float64 // µs from a Produce request's write to its response's read, this round
}

// OnBrokerE2E is kgo's HookBrokerE2E: it keeps each Produce request's round
// trip.
func (p *benchProducer) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e kgo.BrokerE2E) {
	if key != int16(kmsg.Produce) || e.WriteErr != nil || e.ReadErr != nil {
		return
	}
	p.mu.Lock()
	p.rtts = append(p.rtts, float64(e.DurationE2E().Nanoseconds())/1e3)
	p.mu.Unlock()
}

// rtt is the median round trip of the last round's Produce requests, in µs.
func (p *benchProducer) rtt() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.rtts) == 0 {
		return 0
	}
	return median(p.rtts)
}

func newBenchProducer(b *testing.B, seeds []string, codec kgo.CompressionCodec) *benchProducer {
	p := new(benchProducer)
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic("p"),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(codec),
		kgo.WithHooks(p))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	// Connect and learn the metadata before the clock starts.
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte("warm")}).FirstErr(); err != nil {
		b.Fatal(err)
	}
	p.cl = cl
	return p
}

// produce sends n 100-byte records, waits for every acknowledgement and
// returns the records/s.
func (p *benchProducer) produce(b *testing.B, n int) float64 {
	ctx := context.Background()
	value := make([]byte, 100)
	var failed atomic.Int64
	var first atomic.Value
	done := func(_ *kgo.Record, err error) {
		if err != nil && failed.Add(1) == 1 {
			first.Store(err)
		}
	}
	p.mu.Lock()
	p.rtts = p.rtts[:0]
	p.mu.Unlock()
	start := time.Now()
	for range n {
		p.cl.Produce(ctx, &kgo.Record{Value: value}, done)
	}
	if err := p.cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d records failed: %v", n, first.Load())
	}
	return float64(n) / elapsed.Seconds()
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func formatRatios(xs []float64) string {
	s := ""
	for i, x := range xs {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%.2f", x)
	}
	return s
}
