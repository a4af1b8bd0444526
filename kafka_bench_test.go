package main

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkKafkaProduce: a kgo producer sends 100-byte records with
// acks=1 to one partition over TCP, against a real `mk broker` process
// and, in the same run, against franz-go's kfake (an in-memory Kafka)
// as the baseline. Compare the two records/s figures:
//
//	go test -run '^$' -bench KafkaProduce -benchtime 2000000x .
//
// kgo compresses with snappy by default; a Kafka broker (and mk) inflates
// every compressed batch to validate its records, which kfake does not.
// The "none" runs send uncompressed batches.
func BenchmarkKafkaProduce(b *testing.B) {
	for _, codec := range []struct {
		name  string
		codec kgo.CompressionCodec
	}{{"snappy", kgo.SnappyCompression()}, {"none", kgo.NoCompression()}} {
		b.Run("mk/"+codec.name, func(b *testing.B) {
			k := startKafkaCluster(b, 1)
			k.mk("topic", "create", "p", "--partitions", "1")
			benchProduce(b, k.addrs(), codec.codec)
		})
		b.Run("kfake/"+codec.name, func(b *testing.B) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "p"))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			benchProduce(b, c.ListenAddrs(), codec.codec)
		})
	}
}

func benchProduce(b *testing.B, seeds []string, codec kgo.CompressionCodec) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic("p"),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(codec))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	// Connect and learn the metadata before the clock starts.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("warm")}).FirstErr(); err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 100)
	var failed atomic.Int64
	var first atomic.Value
	done := func(_ *kgo.Record, err error) {
		if err != nil && failed.Add(1) == 1 {
			first.Store(err)
		}
	}
	b.SetBytes(int64(len(value)))
	b.ResetTimer()
	for range b.N {
		cl.Produce(ctx, &kgo.Record{Value: value}, done)
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d records failed: %v", n, first.Load())
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
