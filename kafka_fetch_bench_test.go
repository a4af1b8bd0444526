package main

import (
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/logdir"
)

// benchFetchRecords is how many 100-byte records the fetch benchmark
// reads per iteration.
const benchFetchRecords = 500_000

// BenchmarkKafkaFetch: a kgo consumer (no group) reads one partition of
// 100-byte records from the beginning through TCP, from an mk broker
// process and from franz-go's kfake (an in-memory Kafka) in the same run,
// with the same client options and the same record batches: mk's are
// written by mk produce, and kfake is given those batches byte for byte.
// The two are read alternately, each iteration one read of each, so that
// the load of a shared machine weighs on both alike; the benchmark reports
// each one's records/s and their ratio.
func BenchmarkKafkaFetch(b *testing.B) {
	k := startKafkaCluster(b, 1)
	k.mk("topic", "create", "bench", "--partitions", "1")
	value := strings.Repeat("v", 100)
	var in strings.Builder
	for range benchFetchRecords {
		in.WriteString(value)
		in.WriteByte('\n')
	}
	k.mkIn(in.String(), "produce", "bench", "--partition", "0", "--acks", "1")
	batches := readBatches(b, filepath.Join(k.dir, "brokers", "1", "bench-0"))

	fake, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer fake.Close()
	fillKfake(b, fake.ListenAddrs(), "bench", batches)

	b.ReportAllocs()
	b.ResetTimer()
	var mkTime, fakeTime time.Duration
	for range b.N {
		mkTime += consumeBench(b, k.addrs())
		fakeTime += consumeBench(b, fake.ListenAddrs())
	}
	n := float64(benchFetchRecords) * float64(b.N)
	b.ReportMetric(n/mkTime.Seconds(), "mk-records/s")
	b.ReportMetric(n/fakeTime.Seconds(), "kfake-records/s")
	b.ReportMetric(fakeTime.Seconds()/mkTime.Seconds(), "mk/kfake")
}

// readBatches reads the committed batches of a partition replica.
func readBatches(b *testing.B, dir string) [][]byte {
	rd, err := logdir.OpenReader(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer rd.Close()
	var out [][]byte
	var offset int64
	for {
		buf, _, err := rd.ReadCommitted(nil, offset, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		if len(buf) == 0 {
			return out
		}
		for rest := buf; len(rest) > 0; {
			var batch []byte
			batch, rest, _ = logdir.NextBatch(rest)
			out = append(out, batch)
			offset = logdir.BatchLastOffset(batch) + 1
		}
	}
}

// fillKfake produces the batches as they are to partition 0 of topic.
func fillKfake(b *testing.B, addrs []string, topic string, batches [][]byte) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	md := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	md.Topics = append(md.Topics, mt)
	mresp, err := md.RequestWith(ctx, cl)
	if err != nil || len(mresp.Topics) != 1 {
		b.Fatalf("kfake metadata: %v", err)
	}
	// kfake takes one batch per partition per request, based at offset 0
	// as a producer sends it (the base offset is outside the CRC).
	for _, batch := range batches {
		batch = append([]byte(nil), batch...)
		logdir.SetBaseOffset(batch, 0)
		req := kmsg.NewPtrProduceRequest()
		req.Acks = 1
		req.TimeoutMillis = 30_000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic, rt.TopicID = topic, mresp.Topics[0].TopicID
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			b.Fatal(err)
		}
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			b.Fatalf("kfake produce: error %d", code)
		}
	}
}

// consumeBench reads benchFetchRecords records from the start of
// partition 0 of "bench" with a new client and returns how long it took.
func consumeBench(b *testing.B, addrs []string) time.Duration {
	start := time.Now()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addrs...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"bench": {0: kgo.NewOffset().AtStart()}}),
	)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := 0
	for n < benchFetchRecords {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			b.Fatalf("read %d of %d records: %v", n, benchFetchRecords, err)
		}
		fs.EachError(func(t string, p int32, err error) { b.Fatalf("fetch %s/%d: %v", t, p, err) })
		n += fs.NumRecords()
	}
	return time.Since(start)
}

// servesProduce says whether the brokers at addrs serve the Produce API.
func servesProduce(tb testing.TB, addrs []string) bool {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(testContext(tb), cl)
	if err != nil {
		tb.Fatal(err)
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == 0 {
			return true
		}
	}
	return false
}

// BenchmarkKafkaProduceConsumeLatency: a kgo producer sends a record every
// millisecond (1,000 records/s, acks=1, one partition) and a kgo consumer
// long-polling the partition receives it; the benchmark reports the
// percentiles of the time from send to receive, for an mk broker process
// and for kfake in the same run.
func BenchmarkKafkaProduceConsumeLatency(b *testing.B) {
	k := startKafkaCluster(b, 1)
	if !servesProduce(b, k.addrs()) {
		b.Skip("the broker does not serve Produce yet")
	}
	fake, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		b.Fatal(err)
	}
	defer fake.Close()
	b.Run("mk", func(b *testing.B) {
		topic := latencyTopic()
		k.mk("topic", "create", topic, "--partitions", "1")
		benchLatency(b, k.addrs(), topic)
	})
	b.Run("kfake", func(b *testing.B) {
		topic := latencyTopic()
		cl, err := kgo.NewClient(kgo.SeedBrokers(fake.ListenAddrs()...))
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, nil, topic); err != nil {
			b.Fatal(err)
		}
		benchLatency(b, fake.ListenAddrs(), topic)
	})
}

// latencyTopic names a new topic for each run of a latency benchmark, so
// that its consumer starts at the warm-up record.
func latencyTopic() string {
	latencyRuns++
	return "lat" + strconv.Itoa(latencyRuns)
}

var latencyRuns int

func benchLatency(b *testing.B, addrs []string, topic string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.ProducerLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	cons, err := kgo.NewClient(kgo.SeedBrokers(addrs...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(5*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	defer cons.Close()
	// The topic is new for each run: the consumer is caught up once it
	// has the warm-up record, and then waits in a long poll.
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("warm-up")}).FirstErr(); err != nil {
		b.Fatal(err)
	}
	for {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			b.Fatal("the consumer did not start")
		}
		if fs.NumRecords() > 0 {
			break
		}
	}
	sent := make([]time.Time, b.N)
	lat := make([]time.Duration, 0, b.N)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(lat) < b.N {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			now := time.Now()
			fs.EachRecord(func(r *kgo.Record) {
				if i, err := strconv.Atoi(string(r.Value)); err == nil && i < len(sent) {
					lat = append(lat, now.Sub(sent[i]))
				}
			})
		}
	}()
	b.ResetTimer()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for i := range b.N {
		<-tick.C
		sent[i] = time.Now()
		prod.Produce(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte(strconv.Itoa(i))}, nil)
	}
	<-done
	b.StopTimer()
	if len(lat) < b.N {
		b.Fatalf("received %d of %d records", len(lat), b.N)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
}
