package server

import (
	"bufio"
	"encoding/binary"
	"io"
	"testing"
)

// TestLargeRequestsReuseBuffers: requests larger than a connection keeps
// (here ApiVersions v0 padded to 3 MiB, which Kafka's decoding ignores
// the rest of) are read into pooled buffers: after the first, ten of them
// cost less than half a request's size each in new memory (growing a
// buffer per request costs twice the request). Sent back to back, each
// is read to its own end only: all are answered, in order.
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
	const n = 10
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
	if got > n*size/2 {
		t.Fatalf("%d requests of %d bytes allocated %d bytes, want at most %d", n, size, got, n*size/2)
	}
}
