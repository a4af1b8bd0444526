package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/coord"
	"mk/replica"
)

// FuzzRequest feeds arbitrary bytes to the server as a client's byte
// stream (framing, header, version negotiation, body decoding and the
// handlers) and as one request's body. Whatever the bytes, the server must
// not panic, must let the connection go, and must allocate no more than a
// bounded multiple of the bytes it was sent:
//
//	go test ./server -run '^$' -fuzz FuzzRequest -fuzztime 5m
//
// Without -fuzz it runs the seeds: a request of every served API at its
// lowest and highest version, and garbage.
func FuzzRequest(f *testing.F) {
	s, lg := fuzzServer(f)
	for _, k := range servedKeys() {
		a := apis[k]
		for _, v := range []int16{a.min, a.max} {
			req := kmsg.RequestForKey(k)
			req.SetVersion(v)
			f.Add(encodeRequest(1, req))
		}
	}
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(12)
	name := "orders"
	meta.Topics = []kmsg.MetadataRequestTopic{{Topic: &name}, {TopicID: [16]byte{1}}}
	f.Add(encodeRequest(2, meta))
	f.Add(append(encodeRequest(3, kmsg.NewPtrApiVersionsRequest()), encodeRequest(4, meta)...))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte{0x80, 0, 0, 0})
	f.Add(sized(header(18, 99, 7, "future")))

	f.Fuzz(func(t *testing.T, data []byte) {
		// As a byte stream: the connection reads requests from it until
		// it ends or one is refused.
		client, server := net.Pipe()
		c := newConn(s, server, false)
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.serve()
			server.Close()
		}()
		go io.Copy(io.Discard, client) // the answers, if any
		client.Write(data)
		client.Close()
		<-done
		if strings.Contains(lg.String(), "internal error") {
			t.Fatalf("a handler panicked:\n%s", lg)
		}

		// As one request (header and body, no size): handle must
		// return an answer or an error, without panicking, allocating
		// at most a bounded multiple of the request's size.
		before := totalAlloc()
		c = newConn(s, nil, false)
		c.handle(data)
		// kmsg allocates an array's elements when it reads the array's
		// length, which is at most the bytes left: at most the size of
		// the largest element (80 bytes) per byte of the request.
		if got, limit := totalAlloc()-before, uint64(128*len(data)+(1<<20)); got > limit {
			t.Fatalf("a request of %d bytes allocated %d bytes (limit %d)", len(data), got, limit)
		}
	})
}

// fuzzServer is a server of broker 1 of a cluster whose Metadata does not
// create topics (auto.create.topics.enable=false): fuzzed requests must
// not fill the disk with topics.
func fuzzServer(f *testing.F) (*Server, *logs) {
	dir := filepath.Join(f.TempDir(), "cluster")
	if _, err := coord.Init(dir); err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(dir, "cluster.json")
	data, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	var cf map[string]any
	if err := json.Unmarshal(data, &cf); err != nil {
		f.Fatal(err)
	}
	cfg, _ := cf["config"].(map[string]any)
	if cfg == nil {
		cfg = map[string]any{}
	}
	cfg["auto.create.topics.enable"] = "false"
	cf["config"] = cfg
	data, _ = json.Marshal(cf)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		f.Fatal(err)
	}
	c, err := coord.Open(dir)
	if err != nil {
		f.Fatal(err)
	}
	if c.ClusterConfig().AutoCreateTopics {
		f.Fatal("auto.create.topics.enable is still on")
	}
	// Only a handler's panic is kept: refused requests, the common case,
	// would make the log grow with every input.
	lg := &logs{}
	logf := func(format string, args ...any) {
		if line := fmt.Sprintf(format, args...); strings.Contains(line, "internal error") {
			lg.logf("%s", line)
		}
	}
	s := New(Config{Cluster: c, Replicas: replica.NewManager(c, 1, replica.Options{}), BrokerID: 1, IdleTimeout: -1, Logf: logf})
	f.Cleanup(s.Close)
	return s, lg
}
