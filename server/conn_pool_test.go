package server

import (
	"bufio"
	"encoding/binary"
	"io"
	"runtime"
	"testing"
)

// TestLargeRequestsReuseBuffers: requests larger than a connection keeps
// (here ApiVersions v0 padded to 3 MiB, which Kafka's decoding ignores
// the rest of) are read into pooled buffers. Growing a buffer per request
// costs at least twice the request each; pooled, a run of them allocates
// a few buffers of their class (4 MiB) in all: sync.Pool keeps one per P
// where any P may not find it, so up to GOMAXPROCS, plus slack. Sent back
// to back, each is read to its own end only: all are answered, in order.
func TestLargeRequestsReuseBuffers(t *testing.T) {
	_, addr, _ := testServer(t, Config{})
	nc := dial(t, addr)
	const size = 3 << 20
	frame := func(corr int32) []byte {
		body := header(apiVersionsKey, 0, corr, "pool")
		body = append(body, make([]byte, size-len(body))...)
		return sized(body)
	}
	r := bufio.NewReader(nc)
	answer := func(want int32) {
		t.Helper()
		var hdr [8]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			t.Fatalf("answer %d: %v", want, err)
		}
		if corr := int32(binary.BigEndian.Uint32(hdr[4:])); corr != want {
			t.Fatalf("answer with correlation id %d, want %d", corr, want)
		}
		if _, err := r.Discard(int(binary.BigEndian.Uint32(hdr[:])) - 4); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := nc.Write(frame(1)); err != nil {
		t.Fatal(err)
	}
	answer(1)
	n := 4*runtime.GOMAXPROCS(0) + 10
	var all []byte
	for i := range n {
		all = append(all, frame(int32(2+i))...)
	}
	before := totalAlloc()
	errc := make(chan error, 1)
	go func() {
		_, err := nc.Write(all)
		errc <- err
	}()
	for i := range n {
		answer(int32(2 + i))
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	got := totalAlloc() - before
	t.Logf("%d requests of %d bytes allocated %d bytes", n, size, got)
	if limit := uint64(runtime.GOMAXPROCS(0)+2) * 4 << 20; got > limit {
		t.Fatalf("%d requests of %d bytes allocated %d bytes, want at most %d", n, size, got, limit)
	}
}
