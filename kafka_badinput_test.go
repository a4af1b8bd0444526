package main

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/server"
)

// procStatus reads a process's memory figures from /proc/PID/status, in
// bytes: VmRSS (resident now) and VmHWM (the peak resident size).
func procStatus(t testing.TB, pid int) (rss, hwm int64) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatalf("broker process %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[2] != "kB" {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = n << 10
		case "VmHWM:":
			hwm = n << 10
		}
	}
	return rss, hwm
}

// openFDs counts a process's open file descriptors.
func openFDs(t testing.TB, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		t.Fatalf("broker process %d: %v", pid, err)
	}
	return len(ents)
}

// framedRequest frames a request as a client does: size, header v1 (v2 with
// empty tagged fields when flexible), body.
func framedRequest(corr int32, req kmsg.Request) []byte {
	b := []byte{0, 0, 0, 0}
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 2)
	b = append(b, "mk"...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// badInputs are what a broker must survive, one per connection: it closes
// the connection (or answers, for the ApiVersions of a future version and
// the valid request of a client that leaves without reading the answer).
func badInputs() map[string][]byte {
	metadata := kmsg.NewPtrMetadataRequest()
	metadata.SetVersion(4)
	valid := framedRequest(1, metadata)
	badVersion := bytes.Clone(valid)
	binary.BigEndian.PutUint16(badVersion[6:], 99)
	unknownKey := bytes.Clone(valid)
	binary.BigEndian.PutUint16(unknownKey[4:], 1000)
	futureApiVersions := framedRequest(1, kmsg.NewPtrApiVersionsRequest())
	binary.BigEndian.PutUint16(futureApiVersions[6:], 99)
	return map[string][]byte{
		"garbage":                         []byte("GET / HTTP/1.1\r\nHost: mk\r\n\r\n"),
		"2 GiB":                           {0x80, 0, 0, 0},
		"negative size":                   {0xff, 0xff, 0xff, 0xfe},
		"over socket.request.max.bytes":   binary.BigEndian.AppendUint32(nil, server.MaxRequestBytes+1),
		"100 MiB announced, 64 KiB sent":  append(binary.BigEndian.AppendUint32(nil, server.MaxRequestBytes), make([]byte, 64<<10)...),
		"truncated request":               valid[:len(valid)-3],
		"truncated header":                {0, 0, 0, 12, 0, 3, 0, 4, 0, 0, 0, 1, 0, 9, 'x'},
		"unknown api key":                 unknownKey,
		"unsupported version":             badVersion,
		"future ApiVersions":              futureApiVersions,
		"valid, answer not read":          valid,
		"nothing":                         nil,
		"malformed body":                  append(valid[:len(valid)-5:len(valid)-5], 0x7f, 0xff, 0xff, 0xff, 0),
		"valid then garbage":              append(bytes.Clone(valid), "garbage garbage"...),
		"100 MiB announced, nothing sent": binary.BigEndian.AppendUint32(nil, server.MaxRequestBytes),
	}
}

// TestKafkaBrokerSurvivesBadInput: a real broker process is sent a
// thousand connections at once, each with a kind of bad input (or none),
// all dropped. It lets every one go, goes on serving Kafka clients, and
// its memory stays bounded: the peak resident size grows by less than
// 64 MiB (a request is allocated as its bytes arrive, not as announced:
// 1,000 clients announcing 100 MiB each would otherwise ask for 100 GB).
func TestKafkaBrokerSurvivesBadInput(t *testing.T) {
	k := startKafkaCluster(t, 1)
	k.mk("topic", "create", "t")
	addr := k.addrs()[0]
	pid, _ := k.registration(1)
	ctx := testContext(t)
	if _, err := k.admin().Metadata(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	fds := openFDs(t, pid)
	rss0, hwm0 := procStatus(t, pid)

	inputs := badInputs()
	names := make([]string, 0, len(inputs))
	for name := range inputs {
		names = append(names, name)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	dialErrs := 0
	start := make(chan struct{})
	for i := range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				mu.Lock()
				dialErrs++
				mu.Unlock()
				return
			}
			defer nc.Close()
			if i%3 == 0 {
				nc.(*net.TCPConn).SetLinger(0) // a reset, not a clean close
			}
			nc.Write(inputs[names[i%len(names)]])
		}()
	}
	close(start)
	wg.Wait()
	if dialErrs > 0 {
		t.Fatalf("%d of 1000 connections could not be made", dialErrs)
	}

	// Every connection let go: the broker's descriptors are back to what
	// they were (a few may differ: segment files, the metadata watcher).
	deadline := time.Now().Add(20 * time.Second)
	for n := openFDs(t, pid); n > fds+5; n = openFDs(t, pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the broker holds %d descriptors 20s after the clients went, %d before", n, fds)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, bounded by the deadline
	}
	rss1, hwm1 := procStatus(t, pid)
	t.Logf("broker RSS %.1f MiB before, %.1f MiB after 1,000 bad connections (peak %.1f MiB, before %.1f MiB)",
		mib(rss0), mib(rss1), mib(hwm1), mib(hwm0))
	if grown := hwm1 - max(hwm0, rss0); grown > 64<<20 {
		t.Errorf("the broker's peak RSS grew by %.1f MiB, want under 64 MiB", mib(grown))
	}

	// Still the same process, still serving.
	if p, _ := k.registration(1); p != pid || !processAlive(pid) {
		t.Fatalf("broker 1 is not the process it was (pid %d, now %d)", pid, p)
	}
	md, err := k.admin().Metadata(ctx, "t")
	if err != nil || md.Topics["t"].Err != nil {
		t.Fatalf("metadata after the flood: %v %v", err, md.Topics["t"].Err)
	}
	// And one of the inputs, on a connection of its own, gets the
	// answer KIP-511 gives: a v0 ApiVersions with UNSUPPORTED_VERSION.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write(inputs["future ApiVersions"])
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(nc, size[:]); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(nc, body); err != nil {
		t.Fatal(err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	if err := resp.ReadFrom(body[4:]); err != nil || resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) == 0 {
		t.Fatalf("ApiVersions v99: %v, error code %d, %d keys", err, resp.ErrorCode, len(resp.ApiKeys))
	}
}

// processAlive: pid is a process that has not exited (a child that died
// stays in /proc as a zombie, state Z, until it is waited for).
func processAlive(pid int) bool {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	return i > 0 && i+2 < len(data) && data[i+2] != 'Z'
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
