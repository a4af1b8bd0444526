package logdir

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// BenchmarkAppendIdempotent measures what the producer state check costs
// an append: the same batches appended by a non-idempotent producer to one
// leader and by an idempotent one (producer id, epoch, sequences) to
// another, in interleaved chunks, reporting
//
//	ratio-vs-plain-append  idempotent appends/s over plain appends/s
//
// Small batches (one 100-byte record) show the check's cost per batch at
// its largest; 16 KiB batches are what a busy producer sends.
//
//	go test ./logdir -run '^$' -bench AppendIdempotent -benchtime 2s
func BenchmarkAppendIdempotent(b *testing.B) {
	for _, records := range []int{1, 150} {
		b.Run(fmt.Sprintf("records=%d", records), func(b *testing.B) { benchAppendIdempotent(b, records) })
	}
}

func benchAppendIdempotent(b *testing.B, records int) {
	value := bytes.Repeat([]byte("v"), 100)
	var bb BatchBuilder
	for i := 0; i < records; i++ {
		bb.Add(1_700_000_000_000+int64(i), nil, value, nil)
	}
	plain := bytes.Clone(bb.Finish())
	var seq int32
	// The idempotent batches of a chunk are encoded (their sequence set,
	// their CRC computed) before the clock runs: the producer's work, not
	// the log's.
	// The plain side appends as many distinct buffers, so that both read
	// their batches from memory alike.
	idem, plains := make([][]byte, benchChunk), make([][]byte, benchChunk)
	for i := range idem {
		idem[i], plains[i] = bytes.Clone(plain), bytes.Clone(plain)
	}
	pl, ml := benchLog(b), benchLog(b)
	var plainActive, mkActive int64
	var plainTime time.Duration
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(benchChunk, b.N-done)
		b.StopTimer()
		start := time.Now()
		for i := 0; i < n; i++ {
			if _, err := pl.Append(0, plains[i]); err != nil {
				b.Fatal(err)
			}
		}
		plainTime += time.Since(start)
		trimLog(b, pl, &plainActive)
		for i := 0; i < n; i++ {
			copy(idem[i], bb.FinishIdempotent(42, 0, seq+int32(i*records)))
		}
		b.StartTimer()
		for i := 0; i < n; i++ {
			res, err := ml.Append(0, idem[i])
			if err != nil || res.Duplicate {
				b.Fatal(res, err)
			}
		}
		seq += int32(n * records)
		b.StopTimer()
		trimLog(b, ml, &mkActive)
		b.StartTimer()
		done += n
	}
	b.StopTimer()
	if mk := b.Elapsed(); mk > 0 && plainTime > 0 {
		b.ReportMetric(plainTime.Seconds()/mk.Seconds(), "ratio-vs-plain-append")
	}
}
