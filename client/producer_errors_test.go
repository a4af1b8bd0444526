package client

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/coord"
)

// A partition whose leader, alive in the metadata, refuses every batch
// with a retriable error (NOT_LEADER_OR_FOLLOWER: it has not taken up its
// role) is retried until the Timeout; the error then names the partition
// and the broker's last answer, not only that time ran out. The broker is
// a stand-in on broker 1's socket that answers every Produce so.
func TestProducerTimeoutSaysLastAnswer(t *testing.T) {
	c, err := coord.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	answered := make(chan struct{}, 1000)
	standInBroker(t, c, 1, func(nc net.Conn) { refuseProduce(nc, kerr.NotLeaderForPartition.Code, answered) })
	if _, err := c.CreateTopic("t", 1, 1, nil); err != nil {
		t.Fatal(err)
	}

	p, err := NewProducer(c, "t", ProducerOptions{Acks: AcksLeader, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(0, time.Now().UnixMilli(), nil, []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	err = p.Close()
	if len(answered) < 2 {
		t.Errorf("the broker answered %d produce requests, want retries", len(answered))
	}
	want := "partition t-0: not acknowledged within 500ms; last: broker 1 answered NOT_LEADER_FOR_PARTITION: not the leader"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("a message of several lines: %q", err)
	}
}

// refuseProduce answers every Produce request on nc with code for each of
// its partitions, and the message "not the leader".
func refuseProduce(nc net.Conn, code int16, answered chan<- struct{}) {
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
		// Request header v2: key, version, correlation id, client id,
		// no tagged fields.
		version := int16(binary.BigEndian.Uint16(frame[2:]))
		corr := binary.BigEndian.Uint32(frame[4:])
		n := int(int16(binary.BigEndian.Uint16(frame[8:])))
		body := frame[10+max(n, 0)+1:]
		req := kmsg.NewPtrProduceRequest()
		req.Version = version
		if err := req.ReadFrom(body); err != nil {
			return
		}
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		msg := "not the leader"
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition, sp.ErrorCode, sp.BaseOffset, sp.ErrorMessage = rp.Partition, code, -1, &msg
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		out := binary.BigEndian.AppendUint32(make([]byte, 4), corr)
		out = append(out, 0) // response header v1: no tagged fields
		out = resp.AppendTo(out)
		binary.BigEndian.PutUint32(out, uint32(len(out)-4))
		if _, err := nc.Write(out); err != nil {
			return
		}
		answered <- struct{}{}
	}
}

// A batch whose leader did not answer within the Timeout fails the
// batches queued behind it at once (they wait for the same leader), unless
// the partition has a new leader meanwhile: then they go to it. Broker 1
// is a stand-in that never answers, broker 2 one that takes every batch;
// the leadership moves from 1 to 2 while the first batch waits.
func TestProducerExpiryEndsAtNewLeader(t *testing.T) {
	c, err := coord.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for id, serve := range map[int]func(net.Conn){1: readForever, 2: func(nc net.Conn) { refuseProduce(nc, 0, make(chan struct{}, 100)) }} {
		standInBroker(t, c, id, serve)
	}
	if _, err := c.CreateTopic("t", 1, 2, nil); err != nil {
		t.Fatal(err)
	}
	setLeader := func(leader int) {
		t.Helper()
		if _, err := c.UpdateTopic("t", func(tp *coord.Topic) error {
			tp.Partitions[0].Leader, tp.Partitions[0].ISR = leader, []int{1, 2}
			tp.Partitions[0].LeaderEpoch++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	setLeader(1)
	const timeout = time.Second
	p, err := NewProducer(c, "t", ProducerOptions{Acks: AcksLeader, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(0, time.Now().UnixMilli(), nil, []byte("a"), nil); err != nil {
		t.Fatal(err)
	}
	p.SendNow() // sent to broker 1, which never answers
	// The second record comes later than the first by more than the
	// grace the producer gives a silent broker past the Timeout, so that
	// its own Timeout has not run out when the first batch fails: the
	// scenario's shape, not a wait for a condition.
	time.Sleep(timeout / 3)
	if err := p.Send(0, time.Now().UnixMilli(), nil, []byte("b"), nil); err != nil {
		t.Fatal(err)
	}
	p.SendNow() // queued behind the first
	setLeader(2)
	err = p.Close()
	if p.Acked != 1 || p.Failed != 1 {
		t.Fatalf("acknowledged %d, failed %d (%v); want the second record taken by the new leader", p.Acked, p.Failed, err)
	}
	if want := "partition t-0: broker 1 did not answer within 1s: its records may or may not be stored"; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}
