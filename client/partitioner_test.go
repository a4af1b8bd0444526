package client

import (
	"testing"
)

// Kafka's own vectors: clients/src/test/java/org/apache/kafka/common/utils/
// UtilsTest.java, testMurmur2.
var kafkaMurmur2Vectors = []struct {
	in   []byte
	want int32
}{
	{[]byte("21"), -973932308},
	{[]byte("foobar"), -790332482},
	{[]byte("a-little-bit-long-string"), -985981536},
	{[]byte("a-little-bit-longer-string"), -1486304829},
	{[]byte("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971},
	{[]byte{'a', 'b', 'c'}, 479470107},
}

// Vectors computed with the JVM Kafka client 1.0.0 (burdiyan/kafkautil's
// partitioner_test.go) and librdkafka's rdmurmur2.c (as quoted in
// segmentio/kafka-go's balancer_test.go), which match Java's murmur2.
var otherMurmur2Vectors = []struct {
	in   []byte
	want uint32
}{
	{[]byte{12, 42, 56, 24, 109, 111}, 274204207},
	{[]byte("kafka"), 0xd067cf64},
	{[]byte("giberish123456789"), 0x8f552b0c},
	{[]byte("1234"), 0x9fc97b14},
	{[]byte("234"), 0xe7c009ca},
	{[]byte("34"), 0x873930da},
	{[]byte("4"), 0x5a4b5ca1},
	{[]byte("PreAmbleWillBeRemoved,ThePrePartThatIs"), 0x78424f1c},
	{[]byte("reAmbleWillBeRemoved,ThePrePartThatIs"), 0x4a62b377},
	{[]byte("eAmbleWillBeRemoved,ThePrePartThatIs"), 0xe0e4e09e},
	{[]byte("AmbleWillBeRemoved,ThePrePartThatIs"), 0x62b8b43f},
	{[]byte(""), 0x106e08d9},
	{nil, 0x106e08d9},
}

// toPositive(murmur2(key)) as librdkafka's tests/0048-partitioner.c expects
// for its murmur2_random partitioner (quoted in segmentio/kafka-go).
var positiveMurmur2Vectors = []struct {
	in   []byte
	want int32
}{
	{[]byte(""), 0x106e08d9},
	{[]byte("23456"), 0x058d780f},
	{[]byte("this is another string with more length to it perhaps"), 0x4f7703da},
	{[]byte("hejsan"), 0x5ec19395},
}

func TestMurmur2(t *testing.T) {
	for _, v := range kafkaMurmur2Vectors {
		if got := Murmur2(v.in); got != v.want {
			t.Errorf("Murmur2(%q) = %d, want %d", v.in, got, v.want)
		}
	}
	for _, v := range otherMurmur2Vectors {
		if got := Murmur2(v.in); uint32(got) != v.want {
			t.Errorf("Murmur2(%q) = %#x, want %#x", v.in, uint32(got), v.want)
		}
	}
	for _, v := range positiveMurmur2Vectors {
		if got := ToPositive(Murmur2(v.in)); got != v.want {
			t.Errorf("ToPositive(Murmur2(%q)) = %#x, want %#x", v.in, got, v.want)
		}
	}
}

func TestToPositive(t *testing.T) {
	for _, v := range []struct{ in, want int32 }{
		{0, 0}, {42, 42}, {-42, 2147483606}, {-1, 2147483647}, {-2147483648, 0}, {2147483647, 2147483647},
	} {
		if got := ToPositive(v.in); got != v.want {
			t.Errorf("ToPositive(%d) = %d, want %d", v.in, got, v.want)
		}
	}
}

// TestKeyPartition checks the partition Kafka's clients choose for a key:
// kafka-python's test_partitioner.py (1000 partitions) and the JVM-derived
// toPositive results of burdiyan/kafkautil (toPositive, not abs).
func TestKeyPartition(t *testing.T) {
	tests := []struct {
		key        []byte
		partitions int
		want       int32
	}{
		{[]byte(""), 1000, 681},
		{[]byte("a"), 1000, 524},
		{[]byte("ab"), 1000, 434},
		{[]byte("abc"), 1000, 107},
		{[]byte("123456789"), 1000, 566},
		{[]byte{0, ' '}, 1000, 742},
		{[]byte("21"), 1 << 30, 1173551340 % (1 << 30)},
		{[]byte("foobar"), 7, 1357151166 % 7},
		{[]byte("hejsan"), 17, 0x5ec19395 % 17},
		{[]byte("anything"), 1, 0},
	}
	for _, tt := range tests {
		if got := KeyPartition(tt.key, tt.partitions); got != tt.want {
			t.Errorf("KeyPartition(%q, %d) = %d, want %d", tt.key, tt.partitions, got, tt.want)
		}
	}
}

func TestKeyPartitionPanicsOnNoPartitions(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("KeyPartition(key, 0) did not panic")
		}
	}()
	KeyPartition([]byte("k"), 0)
}

func TestStickyPartitionerSticksUntilFull(t *testing.T) {
	p := NewStickyPartitioner(1)
	p.StickyBytes = 100
	first := p.Partition(6, nil)
	for range 9 {
		if got := p.Partition(6, nil); got != first {
			t.Fatalf("switched before the batch was full: %d then %d", first, got)
		}
		p.Appended(10)
	}
	if got := p.Partition(6, nil); got != first {
		t.Fatalf("switched at 90 of 100 bytes")
	}
	p.Appended(10) // 100 bytes: full
	second := p.Partition(6, nil)
	if second == first {
		t.Errorf("stayed on partition %d after its batch filled", first)
	}
	p.OnBatchFull()
	if third := p.Partition(6, nil); third == second {
		t.Errorf("stayed on partition %d after OnBatchFull", second)
	}
}

func TestStickyPartitionerDeterministic(t *testing.T) {
	run := func(seed uint64) []int32 {
		p := NewStickyPartitioner(seed)
		var got []int32
		for range 50 {
			got = append(got, p.Partition(12, nil))
			p.OnBatchFull()
		}
		return got
	}
	a, b := run(7), run(7)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different choices: %v vs %v", a, b)
		}
	}
}

func TestStickyPartitionerSpreads(t *testing.T) {
	p := NewStickyPartitioner(3)
	counts := make([]int, 4)
	for range 4000 {
		counts[p.Partition(4, nil)]++
		p.OnBatchFull()
	}
	for i, c := range counts {
		if c < 800 || c > 1200 {
			t.Errorf("partition %d chosen %d times of 4000", i, c)
		}
	}
}

func TestStickyPartitionerAvailable(t *testing.T) {
	p := NewStickyPartitioner(5)
	for range 100 {
		if got := p.Partition(8, []int32{2, 5}); got != 2 && got != 5 {
			t.Fatalf("chose unavailable partition %d", got)
		}
		p.OnBatchFull()
	}
	// The current partition loses its leader: move at once.
	cur := p.Partition(8, []int32{2, 5})
	other := int32(7 - cur)
	if got := p.Partition(8, []int32{other}); got != other {
		t.Errorf("stayed on unavailable partition: got %d, want %d", got, other)
	}
	// No partition available: choose among all, as Kafka does.
	if got := p.Partition(8, []int32{}); got < 0 || got >= 8 {
		t.Errorf("got %d with none available", got)
	}
	// The topic shrinks (or metadata was stale): stay in range.
	p.OnBatchFull()
	p.Partition(8, nil)
	for range 20 {
		if got := p.Partition(2, nil); got < 0 || got >= 2 {
			t.Fatalf("partition %d out of range for 2 partitions", got)
		}
		p.OnBatchFull()
	}
	// One partition: always it.
	for range 5 {
		if got := p.Partition(1, nil); got != 0 {
			t.Fatalf("got %d of 1 partition", got)
		}
		p.OnBatchFull()
	}
}

func BenchmarkMurmur2(b *testing.B) {
	key := []byte("user-1234567890")
	b.SetBytes(int64(len(key)))
	for b.Loop() {
		Murmur2(key)
	}
}
