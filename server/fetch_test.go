package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/coord"
	"mk/replica"
)

// testBroker is broker 1 of a new cluster, in this process: its replica
// manager and a Server on a loopback TCP port.
type testBroker struct {
	c    *coord.Cluster
	mgr  *replica.Manager
	srv  *Server
	addr string
}

func startTestBroker(t testing.TB, topics ...string) *testBroker {
	return startTestBrokerN(t, 1, topics...)
}

// startTestBrokerN is startTestBroker with topics of n partitions.
func startTestBrokerN(t testing.TB, n int, topics ...string) *testBroker {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "cluster")
	c, err := coord.Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := c.RegisterBroker(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	for _, name := range topics {
		if _, err := c.CreateTopic(name, n, 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	mgr := replica.NewManager(c, 1, replica.Options{})
	ready := make(chan struct{})
	stopped := make(chan struct{})
	go func() { defer close(stopped); mgr.Run(ctx, ready) }()
	t.Cleanup(func() { cancel(); <-stopped })
	<-ready
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Cluster: c, Replicas: mgr, BrokerID: 1, Logf: t.Logf})
	srv.Serve(l, false)
	t.Cleanup(srv.Close)
	return &testBroker{c: c, mgr: mgr, srv: srv, addr: l.Addr().String()}
}

// appendRequest frames a request as a client sends it.
func appendRequest(dst []byte, corr int32, req kmsg.Request) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = kbin.AppendInt16(dst, req.Key())
	dst = kbin.AppendInt16(dst, req.GetVersion())
	dst = kbin.AppendInt32(dst, corr)
	dst = kbin.AppendNullableString(dst, kmsg.StringPtr("test"))
	if req.IsFlexible() {
		dst = append(dst, 0)
	}
	dst = req.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// readResponse reads one framed response and returns its correlation id
// and the body after the header.
func readResponse(t testing.TB, r io.Reader, flexible bool) (int32, []byte) {
	t.Helper()
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		t.Fatalf("read response: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatalf("read response: %v", err)
	}
	corr := int32(binary.BigEndian.Uint32(body))
	if flexible {
		return corr, body[5:]
	}
	return corr, body[4:]
}

// waitingFetch is a v12 fetch of partition 0 of topic at offset, that
// waits up to maxWait for a byte.
func waitingFetch(topic string, offset int64, maxWait time.Duration) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.MaxWaitMillis = int32(maxWait.Milliseconds())
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = 0, offset, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// fetchEvents records when fetch handlers start waiting and return.
func fetchEvents(t *testing.T) (waiting, done chan struct{}) {
	waiting, done = make(chan struct{}, 16), make(chan struct{}, 16)
	testHookFetchWaiting = func() { waiting <- struct{}{} }
	testHookFetchDone = func() { done <- struct{}{} }
	t.Cleanup(func() { testHookFetchWaiting, testHookFetchDone = nil, nil })
	return waiting, done
}

func within(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not happen", what)
	}
}

// A client that disconnects during a long poll ends it: the handler
// returns long before max wait (a minute here), and the broker serves the
// next client.
func TestFetchClientGoneEndsLongPoll(t *testing.T) {
	waiting, done := fetchEvents(t)
	b := startTestBroker(t, "t")
	nc, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(appendRequest(nil, 7, waitingFetch("t", 0, time.Minute))); err != nil {
		t.Fatal(err)
	}
	within(t, waiting, "the fetch waiting")
	nc.Close()
	within(t, done, "the fetch handler returning after its client went away")

	nc2, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 0
	if _, err := nc2.Write(appendRequest(nil, 8, req)); err != nil {
		t.Fatal(err)
	}
	if corr, _ := readResponse(t, nc2, false); corr != 8 {
		t.Fatalf("correlation id %d", corr)
	}
}

// Closing the server (the broker stopping) ends a long poll: Close, which
// waits for every handler, returns long before max wait.
func TestFetchServerCloseEndsLongPoll(t *testing.T) {
	waiting, done := fetchEvents(t)
	b := startTestBroker(t, "t")
	nc, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write(appendRequest(nil, 7, waitingFetch("t", 0, time.Minute))); err != nil {
		t.Fatal(err)
	}
	within(t, waiting, "the fetch waiting")
	closed := make(chan struct{})
	go func() { b.srv.Close(); close(closed) }()
	within(t, done, "the fetch handler returning")
	within(t, closed, "Server.Close returning")
}

// A client that sends its next request while a fetch waits (pipelining)
// gets both answers, in order: the watch for a closed connection leaves
// the next request's bytes where the connection's reader finds them.
func TestFetchPipelinedDuringLongPoll(t *testing.T) {
	waiting, _ := fetchEvents(t)
	b := startTestBroker(t, "t")
	nc, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write(appendRequest(nil, 1, waitingFetch("t", 0, 300*time.Millisecond))); err != nil {
		t.Fatal(err)
	}
	within(t, waiting, "the fetch waiting")
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 0
	if _, err := nc.Write(appendRequest(nil, 2, av)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(nc)
	corr, body := readResponse(t, r, true)
	if corr != 1 {
		t.Fatalf("first answer has correlation id %d, want 1", corr)
	}
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 12
	if err := resp.ReadFrom(body); err != nil || len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("fetch answer %+v: %v", resp, err)
	}
	if corr, _ := readResponse(t, r, false); corr != 2 {
		t.Fatalf("second answer has correlation id %d, want 2", corr)
	}
}

// BenchmarkFetchManyPartitions: the broker's cost of a fetch of 100
// partitions that have nothing new (max wait 0): resolving each, reading
// its state, answering. One request and response per iteration.
func BenchmarkFetchManyPartitions(b *testing.B) {
	const parts = 100
	tb := startTestBrokerN(b, parts, "t")
	t, err := tb.c.Topic("t")
	if err != nil {
		b.Fatal(err)
	}
	nc, err := net.Dial("tcp", tb.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	req := waitingFetch("t", 0, 0)
	req.Version = 16
	req.Topics[0].TopicID = topicID(t.ID)
	for p := int32(1); p < parts; p++ {
		rp := req.Topics[0].Partitions[0]
		rp.Partition = p
		req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
	}
	wire := appendRequest(nil, 1, req)
	r := bufio.NewReader(nc)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := nc.Write(wire); err != nil {
			b.Fatal(err)
		}
		readResponse(b, r, true)
	}
}
