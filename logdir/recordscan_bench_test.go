package logdir

import (
	"math"
	"slices"
	"testing"
	"time"
)

// BenchmarkScan: a batch as kgo sends BenchmarkKafkaProduce's records
// (8700 records of 100 zero bytes, no key), checked by Scan ("new") and
// by the walk validation did before ("old": Reset, then a Skip that
// called a function per varint), alternately in the same process, b.N
// times each. It reports the median time of each and old/new, the median
// of the rounds' ratios: the machine is shared, so single timings say
// little.
func BenchmarkScan(b *testing.B) {
	records := func(n int) payload {
		var p payload
		for i := range n {
			p.records = appendRecord(p.records, int64(i/1000), int32(i), nil, make([]byte, 100), nil)
		}
		p.count = int32(n)
		return p
	}
	batch, streamed := records(8700), records(50000)
	// Records with a key and a header: Scan's own reading does not take
	// them, every one goes to skipRecordBody.
	var headed payload
	for i := range 8000 {
		headed.records = appendRecord(headed.records, int64(i/1000), int32(i), []byte("key-0001"), make([]byte, 100), []Header{{Key: []byte("trace"), Value: []byte("0123456789")}})
	}
	headed.count = 8000
	bounds := TimestampBounds{Check: true, Now: 5, BeforeMax: math.MaxInt64, AfterMax: 3600_000}
	for _, c := range []struct {
		name    string
		codec   Codec
		payload payload
	}{
		{"none", CodecNone, batch},
		{"snappy-block", codecSnappyBlock, batch},
		{"snappy-xerial", CodecSnappy, batch},
		// kgo's StreamingCompression: up to 1 MB compressed, here the
		// 50000 records kgo buffers at most.
		{"snappy-xerial-50000", CodecSnappy, streamed},
		{"snappy-block-headers", codecSnappyBlock, headed},
		{"lz4", CodecLZ4, batch},
		{"gzip", CodecGzip, batch},
	} {
		payload := c.payload.records
		batch := compressRecords(b, c.codec, c.payload.count, payload)
		b.Run(c.name, func(b *testing.B) {
			var it RecordIter
			run := func(walk func(*RecordIter, []byte, TimestampBounds) (ScanResult, error)) float64 {
				start := time.Now()
				if res, err := walk(&it, batch, bounds); err != nil || !res.Clean {
					b.Fatal(res, err)
				}
				return float64(time.Since(start).Nanoseconds())
			}
			var olds, news, ratios []float64
			for i := range b.N {
				var o, n float64
				if i%2 == 0 {
					o, n = run(skipVerdict), run((*RecordIter).Scan)
				} else {
					n, o = run((*RecordIter).Scan), run(skipVerdict)
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

type payload struct {
	records []byte
	count   int32
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
