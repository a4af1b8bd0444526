package replica

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/logdir"
)

// kgoBatches produces n records of valueSize zero bytes (the root
// package's BenchmarkKafkaProduce's records) with a real kgo producer
// into franz-go's kfake and returns the record batches kgo sent, as they
// came over the wire. opts are added to the producer's.
func kgoBatches(tb testing.TB, n, valueSize int, opts ...kgo.Opt) [][]byte {
	tb.Helper()
	fake, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "p"))
	if err != nil {
		tb.Fatal(err)
	}
	defer fake.Close()
	var (
		mu      sync.Mutex
		batches [][]byte
	)
	fake.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		fake.KeepControl()
		mu.Lock()
		defer mu.Unlock()
		for _, t := range req.(*kmsg.ProduceRequest).Topics {
			for _, p := range t.Partitions {
				batches = append(batches, append([]byte(nil), p.Records...))
			}
		}
		return nil, nil, false
	})
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(fake.ListenAddrs()...), kgo.DefaultProduceTopic("p"),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	value := make([]byte, valueSize)
	for range n {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				tb.Error(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		tb.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return batches
}

// validateProducedOld is validateProduced before Scan (main at e343d8b),
// measured against it in the same process: the same header checks, then
// the whole batch inflated and walked with Skip (walkProduced, which
// validateProduced still uses to list the records of a refused batch).
func validateProducedOld(batch []byte, rules batchRules) (logAppendTime int64, err error) {
	h, err := checkProducedHeader(batch, rules)
	if err != nil {
		return -1, err
	}
	it := iterPool.Get().(*logdir.RecordIter)
	defer iterPool.Put(it)
	return walkProduced(it, batch, h, rules)
}

// BenchmarkValidateKgo validates real kgo batches of 100-byte records
// (BenchmarkKafkaProduce's): snappy as kgo sends it by default (one
// block), snappy as kgo streams it with StreamingCompression (snappy-java's
// framing, 32 KiB chunks, as the Java producer writes; larger batches) and
// uncompressed. Each iteration validates one batch with the old code and
// with the new, alternately, timing each; it reports the medians and the
// median of the iterations' old/new ratios (the machine is shared).
func BenchmarkValidateKgo(b *testing.B) {
	for _, c := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"snappy", []kgo.Opt{kgo.ProducerBatchCompression(kgo.SnappyCompression())}},
		{"snappy-xerial", []kgo.Opt{kgo.ProducerBatchCompression(kgo.SnappyCompression()), kgo.StreamingCompression()}},
		{"none", []kgo.Opt{kgo.ProducerBatchCompression(kgo.NoCompression())}},
	} {
		b.Run(c.name, func(b *testing.B) {
			batches := kgoBatches(b, 200000, 100, c.opts...)
			var full [][]byte // the largest batches: what a busy producer sends
			var records int
			largest := 0
			for _, batch := range batches {
				largest = max(largest, len(batch))
			}
			for _, batch := range batches {
				if len(batch) >= largest*9/10 {
					full = append(full, batch)
				}
			}
			rules := defaultRules(time.Now().UnixMilli())
			for _, batch := range full {
				if _, err := validateProduced(batch, rules); err != nil {
					b.Fatal(err)
				}
				h, _ := logdir.ParseBatchHeader(batch)
				records += int(h.RecordCount)
			}
			b.Logf("%d batches, %d full ones of %d records and %d bytes on average", len(batches), len(full), records/len(full), largest)
			run := func(validate func([]byte, batchRules) (int64, error), batch []byte) float64 {
				start := time.Now()
				if _, err := validate(batch, rules); err != nil {
					b.Fatal(err)
				}
				return float64(time.Since(start).Nanoseconds())
			}
			var olds, news, ratios []float64
			for i := range b.N {
				batch := full[i%len(full)]
				var o, n float64
				if i%2 == 0 {
					o, n = run(validateProducedOld, batch), run(validateProduced, batch)
				} else {
					n, o = run(validateProduced, batch), run(validateProducedOld, batch)
				}
				olds, news, ratios = append(olds, o), append(news, n), append(ratios, o/n)
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(median(olds), "old-ns")
			b.ReportMetric(median(news), "new-ns")
			b.ReportMetric(median(ratios), "old/new")
		})
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
