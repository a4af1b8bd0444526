package main

import (
	"bytes"
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkKafkaProduceIdempotence: what idempotence costs a producer of a
// real `mk broker` process. Two kgo producers send 100-byte records with
// acks=all (which idempotence needs) to one partition each over TCP, one
// idempotent (InitProducerId, numbered batches, the broker's duplicate and
// sequence check under the partition lock), one not, in interleaved chunks
// of 20,000 records so that a burst of load on the shared machine hits
// both. It reports
//
//	ratio-vs-plain  idempotent records/s over non-idempotent records/s
//
// The target: at least 0.95.
//
//	go test -run '^$' -bench KafkaProduceIdempotence -benchtime 400000x .
func BenchmarkKafkaProduceIdempotence(b *testing.B) {
	for _, codec := range []struct {
		name  string
		codec kgo.CompressionCodec
	}{{"none", kgo.NoCompression()}, {"snappy", kgo.SnappyCompression()}} {
		b.Run(codec.name, func(b *testing.B) {
			k := startKafkaCluster(b, 1)
			k.mk("topic", "create", "p", "--partitions", "2")
			client := func(idempotent bool, partition int32) *kgo.Client {
				opts := []kgo.Opt{kgo.SeedBrokers(k.addrs()...), kgo.DefaultProduceTopic("p"),
					kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
					kgo.ProducerBatchCompression(codec.codec)}
				if !idempotent {
					// kgo sends one request at a time without
					// idempotence by default, five with it: five for
					// both (Kafka's max.in.flight.requests.per.connection).
					opts = append(opts, kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(5))
				}
				cl, err := kgo.NewClient(opts...)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(cl.Close)
				if err := cl.ProduceSync(context.Background(), &kgo.Record{Partition: partition, Value: []byte("warm")}).FirstErr(); err != nil {
					b.Fatal(err)
				}
				return cl
			}
			idem, plain := client(true, 0), client(false, 1)
			value := make([]byte, 100)
			run := func(cl *kgo.Client, partition int32, n int) time.Duration {
				start := time.Now()
				var firstErr error
				for range n {
					cl.Produce(context.Background(), &kgo.Record{Partition: partition, Value: value}, func(_ *kgo.Record, err error) {
						if err != nil && firstErr == nil {
							firstErr = err
						}
					})
				}
				if err := cl.Flush(context.Background()); err != nil {
					b.Fatal(err)
				}
				if firstErr != nil {
					b.Fatal(firstErr)
				}
				return time.Since(start)
			}
			const chunk = 20000
			var idemTime, plainTime time.Duration
			b.SetBytes(int64(len(value)))
			b.ResetTimer()
			for done := 0; done < b.N; done += chunk {
				n := min(chunk, b.N-done)
				b.StopTimer()
				plainTime += run(plain, 1, n)
				b.StartTimer()
				idemTime += run(idem, 0, n)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/idemTime.Seconds(), "records/s")
			b.ReportMetric(plainTime.Seconds()/idemTime.Seconds(), "ratio-vs-plain")
		})
	}
}

// BenchmarkMkProduceIdempotence: `mk produce --acks all` of 100-byte lines
// into a one-partition topic of a real broker, idempotent (the default)
// and with --idempotence=false, whole processes in alternation on the same
// input, reporting
//
//	ratio-vs-plain  idempotent lines/s over non-idempotent lines/s
//
// The target: at least 0.95. One op is one line.
//
//	go test -run '^$' -bench MkProduceIdempotence -benchtime 3000000x .
func BenchmarkMkProduceIdempotence(b *testing.B) {
	k := startKafkaCluster(b, 1)
	k.mk("topic", "create", "p", "--partitions", "1")
	k.mk("topic", "create", "q", "--partitions", "1")
	const chunk = 500000
	line := bytes.Repeat([]byte("x"), 99)
	line = append(line, '\n')
	input := bytes.Repeat(line, chunk)
	run := func(topic string, n int, args ...string) time.Duration {
		cmd := exec.Command("mk", append([]string{"--dir", k.dir, "produce", topic, "--acks", "all"}, args...)...)
		cmd.Stdin = bytes.NewReader(input[:n*len(line)])
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("mk produce %v: %v\n%s", args, err, stderr.String())
		}
		return time.Since(start)
	}
	var idem, plain time.Duration
	b.SetBytes(int64(len(line)))
	b.ResetTimer()
	for done := 0; done < b.N; done += chunk {
		n := min(chunk, b.N-done)
		b.StopTimer()
		plain += run("q", n, "--idempotence=false")
		b.StartTimer()
		idem += run("p", n)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/idem.Seconds(), "lines/s")
	b.ReportMetric(plain.Seconds()/idem.Seconds(), "ratio-vs-plain")
}
