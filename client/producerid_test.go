package client

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/coord"
	"mk/server"
)

// A broker that takes an InitProducerId request and does not answer (as
// one stopped after the producer looked, or stuck) does not cost the
// producer its whole wait for that broker: another live broker is asked
// soon after, and its id taken. Broker 1 is a stand-in that reads and never
// answers, broker 2 one that gives id 42; whichever is asked first, the
// id comes within a deadline shorter than initProducerIDWait (without
// asking the next broker sooner, the half of the tries that start at
// broker 1 run out of time).
func TestInitProducerIDAsksAnotherBroker(t *testing.T) {
	c, err := coord.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for id, serve := range map[int]func(net.Conn){1: readForever, 2: giveProducerID(42)} {
		standInBroker(t, c, id, serve)
	}
	for i := range 8 {
		pid, err := InitProducerID(context.Background(), c, time.Now().Add(initProducerIDWait*3/4))
		if err != nil || pid.ID != 42 {
			t.Fatalf("try %d: %+v, %v", i, pid, err)
		}
	}
}

// readForever reads what comes on nc and answers nothing.
func readForever(nc net.Conn) {
	defer nc.Close()
	io.Copy(io.Discard, nc)
}

// giveProducerID answers every InitProducerId request on nc with id and
// epoch 0.
func giveProducerID(id int64) func(net.Conn) {
	return func(nc net.Conn) {
		defer nc.Close()
		r := bufio.NewReader(nc)
		for {
			var size [4]byte
			if _, err := io.ReadFull(r, size[:]); err != nil {
				return
			}
			frame := make([]byte, binary.BigEndian.Uint32(size[:]))
			if _, err := io.ReadFull(r, frame); err != nil {
				return
			}
			// Request header v2: key, version, correlation id, client
			// id, no tagged fields.
			version := int16(binary.BigEndian.Uint16(frame[2:]))
			corr := binary.BigEndian.Uint32(frame[4:])
			resp := kmsg.NewPtrInitProducerIDResponse()
			resp.Version = version
			resp.ProducerID = id
			out := binary.BigEndian.AppendUint32(make([]byte, 4), corr)
			out = append(out, 0) // response header v1: no tagged fields
			out = resp.AppendTo(out)
			binary.BigEndian.PutUint32(out, uint32(len(out)-4))
			if _, err := nc.Write(out); err != nil {
				return
			}
		}
	}
}

// standInBroker registers broker id in c and serves its socket with serve,
// one goroutine per connection, until the test ends: a stand-in for a
// broker that answers as a test needs (or not at all).
func standInBroker(t *testing.T, c *coord.Cluster, id int, serve func(net.Conn)) {
	t.Helper()
	s, err := c.RegisterBroker(id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := os.MkdirAll(filepath.Dir(c.SocketPath(id)), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := server.ListenUnixPath(c.SocketPath(id))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(nc)
		}
	}()
}
