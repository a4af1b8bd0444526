package replica

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
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
// kept to measure against in the same process: it inflates the whole
// batch, then walks it with Skip.
func validateProducedOld(batch []byte, rules batchRules) (logAppendTime int64, err error) {
	// The caller gives a whole batch of magic 2 at least 26 bytes long
	// (server.firstBatch); its header may still be cut short.
	if base := int64(binary.BigEndian.Uint64(batch)); base != 0 {
		return -1, fmt.Errorf("%w: the baseOffset of the record batch should be 0, but it is %d", ErrInvalidRecord, base)
	}
	if int64(len(batch)) > rules.maxMessageBytes {
		return -1, fmt.Errorf("%w: the record batch is %d bytes, which exceeds max.message.bytes (%d)", logdir.ErrRecordTooLarge, len(batch), rules.maxMessageBytes)
	}
	if len(batch) < logdir.BatchHeaderSize {
		return -1, fmt.Errorf("%w: record batch of %d bytes is smaller than the minimum allowed overhead %d", logdir.ErrCorrupt, len(batch), logdir.BatchHeaderSize)
	}
	// A negative record count fails the parse but is Kafka's
	// INVALID_RECORD, checked below with the other counts.
	h, herr := logdir.ParseBatchHeader(batch)
	if herr != nil && h.RecordCount >= 0 {
		return -1, herr
	}
	if crc := crc32.Checksum(batch[offAttributes:], crc32c); crc != binary.BigEndian.Uint32(batch[offCRC:]) {
		return -1, fmt.Errorf("%w: record is corrupt (stored crc = %d, computed %d)", logdir.ErrCorrupt, binary.BigEndian.Uint32(batch[offCRC:]), crc)
	}
	// LogValidator.validateBatch, for a client's batch of magic 2.
	count := int64(h.RecordCount)
	switch fromOffsets := int64(h.LastOffsetDelta) + 1; {
	case fromOffsets <= 0:
		return -1, fmt.Errorf("%w: batch has an invalid offset range [0, %d]", ErrInvalidRecord, h.LastOffsetDelta)
	case count <= 0:
		return -1, fmt.Errorf("%w: invalid reported count for record batch: %d", ErrInvalidRecord, count)
	case fromOffsets != count:
		return -1, fmt.Errorf("%w: inconsistent batch offset range [0, %d] and count of records %d", ErrInvalidRecord, h.LastOffsetDelta, count)
	case h.IsControl():
		return -1, fmt.Errorf("%w: clients are not allowed to write control records", ErrInvalidRecord)
	case h.ProducerID >= 0 && h.BaseSequence < 0:
		return -1, fmt.Errorf("%w: invalid sequence number %d in record batch with producerId %d", ErrInvalidRecord, h.BaseSequence, h.ProducerID)
	case h.IsTransactional() && h.ProducerID < 0:
		return -1, fmt.Errorf("%w: transactional batch without a producer id", ErrInvalidRecord)
	}

	it := iterPool.Get().(*logdir.RecordIter)
	defer iterPool.Put(it)
	if err := it.Reset(batch); err != nil {
		return -1, fmt.Errorf("%w: %v", ErrInvalidRecord, err)
	}
	var (
		maxTs      int64 = -1
		bad        []RecordError
		badTs      bool
		claimedLAT = h.LogAppendTime()
	)
	for i := int32(0); ; i++ {
		offset, ts, ok := it.Skip()
		if !ok {
			break
		}
		if delta := offset - h.BaseOffset; delta != int64(i) {
			// Kafka would rewrite the batch with the right offsets;
			// mk stores batches as they come.
			bad = append(bad, RecordError{i, fmt.Sprintf("offset delta %d, want %d: offsets in a batch must be dense", delta, i)})
		}
		switch {
		case !rules.logAppendTime && ts != -1:
			if d := rules.now - ts; d > rules.beforeMaxMs || -d > rules.afterMaxMs {
				badTs = true
				bad = append(bad, RecordError{i, fmt.Sprintf("timestamp %d of message with offset %d is out of range; the timestamp should be within [%d, %d]",
					ts, i, satSub(rules.now, rules.beforeMaxMs), satAdd(rules.now, rules.afterMaxMs))})
			}
		case claimedLAT:
			badTs = true
			bad = append(bad, RecordError{i, "invalid timestamp type: the producer should not set the timestamp type to LogAppendTime"})
		}
		maxTs = max(maxTs, ts)
	}
	if err := it.Err(); err != nil {
		return -1, fmt.Errorf("%w: %v", ErrInvalidRecord, err)
	}
	if len(bad) > 0 {
		e := &RecordErrors{Err: ErrInvalidRecord, Records: bad}
		if badTs {
			e.Err = ErrInvalidTimestamp
		}
		return -1, e
	}
	if rules.logAppendTime {
		logdir.SetMaxTimestamp(batch, true, rules.now)
		return rules.now, nil
	}
	logdir.SetMaxTimestamp(batch, false, maxTs)
	return -1, nil
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
