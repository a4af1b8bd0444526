package server

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/coord"
	"mk/replica"
)

// testServer is a Server of broker 1 of a new cluster directory, serving
// TCP on the loopback interface. Its replica manager is not running: the
// tests here are about the connection, not the partitions. Its log lines
// are collected in the returned logs.
func testServer(t testing.TB, cfg Config) (*Server, string, *logs) {
	t.Helper()
	c, err := coord.Init(filepath.Join(t.TempDir(), "cluster"))
	if err != nil {
		t.Fatal(err)
	}
	lg := &logs{}
	cfg.Cluster, cfg.BrokerID, cfg.Logf = c, 1, lg.logf
	cfg.Replicas = replica.NewManager(c, 1, replica.Options{})
	s := New(cfg)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Serve(l, false)
	t.Cleanup(s.Close)
	return s, l.Addr().String(), lg
}

type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// encodeRequest frames req as a client sends it: size, header (v1, or v2
// with its tagged fields when the request is flexible), body.
func encodeRequest(corr int32, req kmsg.Request) []byte {
	b := []byte{0, 0, 0, 0}
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 4)
	b = append(b, "test"...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// readAnswer reads one response to req from nc and returns its
// correlation id.
func readAnswer(t testing.TB, nc net.Conn, req kmsg.Request, resp kmsg.Response) int32 {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(nc, size[:]); err != nil {
		t.Fatalf("read response size: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(nc, body); err != nil {
		t.Fatalf("read response: %v", err)
	}
	corr := int32(binary.BigEndian.Uint32(body))
	body = body[4:]
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && resp.Key() != apiVersionsKey {
		body = body[1:] // empty tagged fields of header v1
	}
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("decode %s response: %v", kmsg.NameForKey(resp.Key()), err)
	}
	return corr
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// apiVersions asks for the served versions on a new connection: the proof
// that the server still serves.
func apiVersions(t testing.TB, addr string) *kmsg.ApiVersionsResponse {
	t.Helper()
	nc := dial(t, addr)
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "mk-test", "1.0"
	if _, err := nc.Write(encodeRequest(1, req)); err != nil {
		t.Fatal(err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	if corr := readAnswer(t, nc, req, resp); corr != 1 {
		t.Fatalf("correlation id %d, want 1", corr)
	}
	if resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		t.Fatalf("ApiVersions: error %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
	nc.Close()
	return resp
}

// expectClosed waits for the server to close nc without answering.
func expectClosed(t testing.TB, nc net.Conn) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	n, err := nc.Read(b[:])
	switch {
	case n > 0:
		t.Fatalf("the server answered (first byte %#x) where it should close the connection", b[0])
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Fatal("the connection is still open after 10s")
	case err == nil:
		t.Fatal("read returned nothing and no error")
	}
}

// waitConns waits until the server holds n connections.
func waitConns(t testing.TB, s *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		got := len(s.conns)
		s.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server holds %d connections after 10s, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

func header(key, version int16, corr int32, clientID string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, uint16(len(clientID)))
	return append(b, clientID...)
}

func sized(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// TestBadInputClosesTheConnection: each kind of bad input closes its own
// connection without an answer, as Kafka closes it, and the server goes on
// serving new connections.
func TestBadInputClosesTheConnection(t *testing.T) {
	s, addr, lg := testServer(t, Config{})
	metadataV99 := kmsg.NewPtrMetadataRequest()
	metadataV99.SetVersion(12)
	badVersion := encodeRequest(1, metadataV99)
	binary.BigEndian.PutUint16(badVersion[6:], 99)
	leaderAndISR := kmsg.NewPtrLeaderAndISRRequest() // Kafka's inter-broker API: mk does not serve it
	for _, tc := range []struct {
		name string
		send []byte
		log  string
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"), "request of 1195725856 bytes refused"},
		{"2 GiB", []byte{0x80, 0, 0, 0}, "request of -2147483648 bytes refused"},
		{"just over socket.request.max.bytes", binary.BigEndian.AppendUint32(nil, MaxRequestBytes+1), "request of 104857601 bytes refused"},
		{"negative size", []byte{0xff, 0xff, 0xff, 0xff}, "request of -1 bytes refused"},
		{"zero size", []byte{0, 0, 0, 0}, "request of 0 bytes refused"},
		{"shorter than a header", sized([]byte{0, 3, 0, 1, 0, 0, 0, 1}), "request of 8 bytes refused"},
		{"client id past the end", sized(append(header(3, 1, 1, ""), 0, 0)[:10]), ""},
		{"truncated client id", sized(header(3, 1, 1, "client")[:12]), "truncated request header"},
		{"unknown api key", sized(header(1000, 0, 1, "c")), "unknown api key 1000"},
		{"negative api key", sized(header(-1, 0, 1, "c")), "unknown api key -1"},
		{"an api mk does not serve", encodeRequest(1, leaderAndISR), "unknown api key 4"},
		{"unsupported version", badVersion, "unsupported version 99 of Metadata"},
		{"negative version", sized(header(3, -1, 1, "c")), "unsupported version -1 of Metadata"},
		{"malformed body", sized(append(header(3, 1, 1, "c"), 0, 0, 0, 5)), "malformed Metadata v1 request"},
		{"flexible header without its tags", sized(header(3, 9, 1, "c")), "truncated request header"},
		{"truncated ApiVersions v3", sized(append(header(18, 3, 1, "c"), 0)), "malformed ApiVersions v3 request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc := dial(t, addr)
			if _, err := nc.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, nc)
			if tc.log != "" && !strings.Contains(lg.String(), tc.log) {
				t.Errorf("log lacks %q:\n%s", tc.log, lg)
			}
			apiVersions(t, addr)
		})
	}
	waitConns(t, s, 0)
}

// TestApiVersionsUnsupportedVersion: KIP-511. An ApiVersions of a version
// the broker does not know is answered, not closed: at v0, with
// UNSUPPORTED_VERSION and ApiVersions' own range alone (Kafka's
// getErrorResponse), so that the client retries with one of them. The
// connection stays usable.
func TestApiVersionsUnsupportedVersion(t *testing.T) {
	_, addr, _ := testServer(t, Config{})
	nc := dial(t, addr)
	// A future version: a client sends its newest, whose body this broker
	// cannot parse.
	frame := sized(append(append(header(apiVersionsKey, 77, 5, "future-client"), 0), 0xde, 0xad, 0xbe, 0xef))
	if _, err := nc.Write(frame); err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(0)
	resp := kmsg.NewPtrApiVersionsResponse()
	if corr := readAnswer(t, nc, req, resp); corr != 5 {
		t.Fatalf("correlation id %d, want 5", corr)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("error code %d, want UNSUPPORTED_VERSION (%d)", resp.ErrorCode, kerr.UnsupportedVersion.Code)
	}
	ranges := map[int16][2]int16{}
	for _, k := range resp.ApiKeys {
		ranges[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	if r := ranges[apiVersionsKey]; len(ranges) != 1 || r != [2]int16{apis[apiVersionsKey].min, apis[apiVersionsKey].max} {
		t.Fatalf("ranges %v, want ApiVersions' alone", ranges)
	}
	// The client retries at a version from the answer, on the same
	// connection.
	req.SetVersion(ranges[apiVersionsKey][1])
	req.ClientSoftwareName, req.ClientSoftwareVersion = "future-client", "9.0"
	if _, err := nc.Write(encodeRequest(6, req)); err != nil {
		t.Fatal(err)
	}
	resp = kmsg.NewPtrApiVersionsResponse()
	if corr := readAnswer(t, nc, req, resp); corr != 6 || resp.ErrorCode != 0 {
		t.Fatalf("retry: correlation id %d, error %d", corr, resp.ErrorCode)
	}
}

// TestPipelinedRequestsAnsweredInOrder: requests sent together, before
// any answer is read, are answered in the order they were sent.
func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	_, addr, _ := testServer(t, Config{})
	nc := dial(t, addr)
	var reqs []kmsg.Request
	var frames []byte
	for i := range 10 {
		var req kmsg.Request
		if i%2 == 0 {
			req = kmsg.NewPtrMetadataRequest()
			req.SetVersion(int16(i))
		} else {
			req = kmsg.NewPtrApiVersionsRequest()
			req.SetVersion(int16(i % 3))
		}
		reqs = append(reqs, req)
		frames = append(frames, encodeRequest(int32(100+i), req)...)
	}
	if _, err := nc.Write(frames); err != nil {
		t.Fatal(err)
	}
	for i, req := range reqs {
		if corr := readAnswer(t, nc, req, req.ResponseKind()); corr != int32(100+i) {
			t.Fatalf("response %d has correlation id %d, want %d", i, corr, 100+i)
		}
	}
}

// TestClientGoneMidRequestOrResponse: a client that sends half a request
// and goes, or sends many and goes without reading the answers, costs the
// server that connection only.
func TestClientGoneMidRequestOrResponse(t *testing.T) {
	s, addr, _ := testServer(t, Config{})
	// Mid-request: half a body, then a reset.
	nc := dial(t, addr)
	frame := encodeRequest(1, kmsg.NewPtrMetadataRequest())
	nc.Write(frame[:len(frame)/2])
	nc.(*net.TCPConn).SetLinger(0)
	nc.Close()
	// Mid-response: a thousand requests, then a reset before reading
	// the answers, which the server is still writing.
	nc = dial(t, addr)
	var frames []byte
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(1)
	for i := range 1000 {
		frames = append(frames, encodeRequest(int32(i), req)...)
	}
	nc.Write(frames)
	var first [4]byte
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(nc, first[:]); err != nil {
		t.Fatal(err)
	}
	nc.(*net.TCPConn).SetLinger(0)
	nc.Close()
	waitConns(t, s, 0)
	apiVersions(t, addr)
}

// TestIdleConnectionClosed: connections.max.idle.ms. A connection that
// sends nothing, or stops in the middle of a request, is closed after the
// idle timeout; one that keeps sending requests is not.
func TestIdleConnectionClosed(t *testing.T) {
	// Long enough that a loaded machine does not stall the busy client
	// past it between two of its requests.
	s, addr, lg := testServer(t, Config{IdleTimeout: time.Second})
	idle := dial(t, addr)
	stalled := dial(t, addr)
	frame := encodeRequest(1, kmsg.NewPtrMetadataRequest())
	stalled.Write(frame[:6])
	busy := dial(t, addr)
	req := kmsg.NewPtrApiVersionsRequest()
	stop := time.Now().Add(2500 * time.Millisecond) // requests through two and a half idle timeouts
	for i := int32(0); time.Now().Before(stop); i++ {
		busy.Write(encodeRequest(i, req))
		if corr := readAnswer(t, busy, req, kmsg.NewPtrApiVersionsResponse()); corr != i {
			t.Fatalf("correlation id %d, want %d", corr, i)
		}
	}
	expectClosed(t, idle)
	expectClosed(t, stalled)
	if !strings.Contains(lg.String(), "idle for 1s") || !strings.Contains(lg.String(), "not sent within 1s") {
		t.Errorf("log:\n%s", lg)
	}
	busy.Close()
	waitConns(t, s, 0)
}

// TestHandlerPanicClosesOnlyItsConnection: a bug that panics in a handler
// is logged with its stack and closes that client's connection; the broker
// and its other connections go on.
func TestHandlerPanicClosesOnlyItsConnection(t *testing.T) {
	_, addr, lg := testServer(t, Config{})
	const key = 4 // LeaderAndISR: not served by mk, so free for this test
	apis[key] = api{name: "LeaderAndISR", min: 0, max: 7, handle: func(*request) (kmsg.Response, error) {
		var m map[string]int
		m["boom"]++ // a nil map write: a bug
		return nil, nil
	}}
	defer delete(apis, key)
	other := dial(t, addr)
	nc := dial(t, addr)
	nc.Write(encodeRequest(1, kmsg.NewPtrLeaderAndISRRequest()))
	expectClosed(t, nc)
	if !strings.Contains(lg.String(), "internal error handling a request (LeaderAndISR v0)") || !strings.Contains(lg.String(), "conn_test.go") {
		t.Errorf("log lacks the panic and its stack:\n%s", lg)
	}
	req := kmsg.NewPtrApiVersionsRequest()
	other.Write(encodeRequest(2, req))
	if corr := readAnswer(t, other, req, kmsg.NewPtrApiVersionsResponse()); corr != 2 {
		t.Fatalf("correlation id %d", corr)
	}
}

// totalAlloc is the bytes this process has allocated so far.
func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// TestAnnouncedSizeIsNotAllocated: memory goes to the bytes a client
// sends, not to the size it announces. A request that announces the
// largest size allowed (100 MiB) and sends 1 KiB costs a few KiB (the test
// allows 256 KiB: other goroutines allocate too); one that
// announces 2 GiB costs nothing.
func TestAnnouncedSizeIsNotAllocated(t *testing.T) {
	s := New(Config{})
	for _, tc := range []struct {
		name      string
		announced uint32
		send      int
		max       uint64
	}{
		{"100 MiB announced, 1 KiB sent", MaxRequestBytes, 1 << 10, 256 << 10},
		{"2 GiB announced", 2 << 30, 1 << 10, 256 << 10},
		{"4 GiB - 1 announced", 1<<32 - 1, 1 << 10, 256 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := net.Pipe()
			c := newConn(s, server, false)
			done := make(chan struct{})
			before := totalAlloc()
			go func() {
				defer close(done)
				c.serve()
				server.Close() // as Server.untrack does
			}()
			client.Write(binary.BigEndian.AppendUint32(nil, tc.announced))
			client.Write(make([]byte, tc.send)) // returns early when the server has closed
			client.Close()
			<-done
			if got := totalAlloc() - before; got > tc.max {
				t.Fatalf("allocated %d bytes, want at most %d", got, tc.max)
			}
		})
	}
}

// TestLargeRequestArrivesInPieces: a body larger than every buffer, sent
// in small pieces, is read whole (the growing buffer keeps what arrived).
func TestLargeRequestArrivesInPieces(t *testing.T) {
	_, addr, _ := testServer(t, Config{})
	nc := dial(t, addr)
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(4) // AllowAutoTopicCreation false
	for i := range 20000 {
		name := strings.Repeat("nosuch-topic-", 4) + strconv.Itoa(i)
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = &name
		req.Topics = append(req.Topics, rt)
	}
	frame := encodeRequest(9, req)
	if len(frame) < 1<<20 {
		t.Fatalf("frame of %d bytes: want more than 1 MiB", len(frame))
	}
	for len(frame) > 0 {
		n := min(len(frame), 7777)
		if _, err := nc.Write(frame[:n]); err != nil {
			t.Fatal(err)
		}
		frame = frame[n:]
	}
	resp := kmsg.NewPtrMetadataResponse()
	if corr := readAnswer(t, nc, req, resp); corr != 9 {
		t.Fatalf("correlation id %d", corr)
	}
	if len(resp.Topics) != 20000 || resp.Topics[19999].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("%d topics in the answer", len(resp.Topics))
	}
}

// TestThousandConnectionsOpenedAndDropped: a thousand clients connect at
// once, some send bad input, and all go; the server lets every one go and
// goes on serving.
func TestThousandConnectionsOpenedAndDropped(t *testing.T) {
	s, addr, _ := testServer(t, Config{})
	var wg sync.WaitGroup
	for i := range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer nc.Close()
			switch i % 4 {
			case 1:
				nc.Write([]byte("garbage garbage garbage"))
			case 2:
				nc.Write(binary.BigEndian.AppendUint32(nil, MaxRequestBytes))
				nc.Write(bytes.Repeat([]byte{1}, 100))
			case 3:
				nc.Write(encodeRequest(1, kmsg.NewPtrApiVersionsRequest()))
			}
		}()
	}
	wg.Wait()
	waitConns(t, s, 0)
	apiVersions(t, addr)
}

// TestValidSoftwareField: KIP-511's pattern for the client software name
// and version.
func TestValidSoftwareField(t *testing.T) {
	for s, want := range map[string]bool{
		"kgo": true, "librdkafka": true, "2.0.2": true, "v1.22.3": true, "a": true, "apache-kafka-java": true,
		"": false, "-kgo": false, "kgo-": false, ".1": false, "1.": false, "a b": false, "é": false, "a_b": false,
	} {
		if got := validSoftwareField(s); got != want {
			t.Errorf("validSoftwareField(%q) = %v, want %v", s, got, want)
		}
	}
}
