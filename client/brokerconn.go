package client

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/server"
)

// A producer's connection to one broker's Unix socket
// (<dir>/brokers/<id>/kafka.sock), speaking the Kafka protocol as any
// Kafka client does: Produce requests written back to back without
// waiting (up to maxInFlight), answers read in order by a goroutine of
// its own and handed to the producer.

// produceVersion is the Produce version mk's producer sends: the highest
// that names topics (v13 names them by id); flexible (v9+), and with the
// leader hint of KIP-951 (v10+) in NOT_LEADER_OR_FOLLOWER answers.
const produceVersion = 12

// maxInFlight is the requests a connection may have unanswered, Kafka's
// max.in.flight.requests.per.connection default.
const maxInFlight = 5

// sendBuffer is the socket send buffer a producer asks for (SO_SNDBUF).
const sendBuffer = 2 << 20

// produceRequest is one Produce request sent and not yet answered.
type produceRequest struct {
	corr     int32
	batches  []*batch // one per partition, as a Produce request carries
	deadline time.Time
	version  int16
}

// connResult is an answer read from a connection, or the error that
// broke it (then req, if any, was not answered).
type connResult struct {
	conn *brokerConn
	req  *produceRequest
	resp *kmsg.ProduceResponse
	err  error
}

type brokerConn struct {
	broker   int
	nc       net.Conn
	sent     chan *produceRequest // to the reader, in the order sent
	inflight int                  // requests sent and not answered (producer's goroutine)
	// deadlines of the requests unanswered, oldest first.
	deadlines   []time.Time
	broken      bool
	closeReason error // why the producer gave the connection up
	corr        int32
	buf         []byte      // a request's bytes other than its records, reused
	bufs        net.Buffers // a request's parts, reused
}

// dialBroker connects to broker id's socket and starts reading answers,
// which it hands to deliver.
func dialBroker(id int, path string, acksNone bool, deliver func(connResult)) (*brokerConn, error) {
	nc, err := server.DialUnixPath(path)
	if err != nil {
		return nil, fmt.Errorf("connect to broker %d: %w", id, err)
	}
	// A socket send buffer that holds a whole request of the default
	// batch size (1 MB), so that one writev sends it: with the kernel's
	// default (about 200 KiB) a request took six writes, each but the
	// last ending in EAGAIN and a wait in the poller. The kernel caps it
	// at net.core.wmem_max; smaller is only slower.
	nc.SetWriteBuffer(sendBuffer)
	bc := &brokerConn{broker: id, nc: nc, sent: make(chan *produceRequest, maxInFlight)}
	go bc.read(acksNone, deliver)
	return bc, nil
}

// read reads the answers to the requests sent, in order, until the
// connection breaks or is closed; then it reports the break once, and
// every request still unanswered after it.
func (bc *brokerConn) read(acksNone bool, deliver func(connResult)) {
	r := bufio.NewReaderSize(bc.nc, 64<<10)
	var body []byte
	var err error
	if acksNone {
		// No answers come; the broker closes the connection when a
		// request fails (Kafka's way of telling an acks=0 producer).
		_, err = io.Copy(io.Discard, r)
		if err == nil {
			err = io.EOF
		}
		deliver(connResult{conn: bc, err: fmt.Errorf("broker %d closed the connection: %w", bc.broker, err)})
		for range bc.sent {
		}
		return
	}
	for req := range bc.sent {
		if err == nil {
			var resp *kmsg.ProduceResponse
			resp, body, err = readProduceResponse(r, body, req)
			if err == nil {
				deliver(connResult{conn: bc, req: req, resp: resp})
				continue
			}
			err = fmt.Errorf("connection to broker %d: %w", bc.broker, err)
		}
		deliver(connResult{conn: bc, req: req, err: err})
	}
}

func readProduceResponse(r *bufio.Reader, body []byte, req *produceRequest) (*kmsg.ProduceResponse, []byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, body, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 64<<20 {
		return nil, body, fmt.Errorf("answer of %d bytes", n)
	}
	if cap(body) < int(n) {
		body = make([]byte, n)
	}
	body = body[:n]
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, body, err
	}
	rd := kbin.Reader{Src: body}
	if corr := rd.Int32(); corr != req.corr {
		return nil, body, fmt.Errorf("answer to request %d, expected %d", corr, req.corr)
	}
	resp := kmsg.NewPtrProduceResponse()
	resp.SetVersion(req.version)
	if resp.IsFlexible() {
		kmsg.SkipTags(&rd)
	}
	if err := rd.Complete(); err != nil {
		return nil, body, err
	}
	if err := resp.ReadFrom(rd.Src); err != nil {
		return nil, body, fmt.Errorf("malformed produce answer: %w", err)
	}
	return resp, body, nil
}

// send writes req (its batches already chosen) on the connection.
func (bc *brokerConn) send(req *produceRequest, topic string, acks int16) error {
	bc.corr++
	req.corr, req.version = bc.corr, produceVersion
	timeout := int32(max(time.Until(req.deadline), time.Millisecond).Milliseconds())
	bufs := appendProduceRequest(bc.bufs[:0], bc.buf[:0], req.corr, acks, timeout, topic, req.batches)
	bc.bufs = bufs[:0]
	if n := cap(bufs[0]); n <= 64<<10 {
		bc.buf = bufs[0][:0]
	}
	// A broker that stopped reading (SIGSTOP) must not hold the producer
	// past the records' delivery timeout.
	bc.nc.SetWriteDeadline(req.deadline)
	if _, err := bufs.WriteTo(bc.nc); err != nil {
		return fmt.Errorf("send to broker %d: %w", bc.broker, err)
	}
	if acks != 0 {
		bc.sent <- req // never blocks: at most maxInFlight are unanswered
		bc.inflight++
		bc.deadlines = append(bc.deadlines, req.deadline)
	}
	return nil
}

// appendProduceRequest encodes a Produce request (produceVersion, a
// flexible version) with its size and header, as Kafka's
// ProduceRequest.json lays it out, into buffers to be written with one
// writev: the records are not copied into the request. meta holds
// everything but the records (its parts sliced in between them).
//
//	size int32, api key int16, api version int16, correlation id int32,
//	client id (int16 length, bytes), no tagged fields (0)
//	transactional id: compact nullable string, null (0)
//	acks int16, timeout ms int32
//	topics: compact array (n+1), each: name (compact string),
//	  partitions: compact array (n+1), each: index int32,
//	    records (compact bytes: length+1, bytes), no tagged fields (0)
//	  no tagged fields (0)
//	no tagged fields (0)
func appendProduceRequest(bufs net.Buffers, meta []byte, corr int32, acks int16, timeout int32, topic string, batches []*batch) net.Buffers {
	b := append(meta, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, 0) // api key: Produce
	b = binary.BigEndian.AppendUint16(b, uint16(produceVersion))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, uint16(len(clientID)))
	b = append(b, clientID...)
	b = append(b, 0) // header tagged fields
	b = append(b, 0) // transactional id: null
	b = binary.BigEndian.AppendUint16(b, uint16(acks))
	b = binary.BigEndian.AppendUint32(b, uint32(timeout))
	b = binary.AppendUvarint(b, 1+1) // one topic
	b = binary.AppendUvarint(b, uint64(len(topic))+1)
	b = append(b, topic...)
	b = binary.AppendUvarint(b, uint64(len(batches))+1)
	// The records go between the parts of meta: remember where each part
	// ends, and slice meta once it is complete (appending may move it).
	ends := make([]int, 0, len(batches)+1)
	size := 0
	for _, bt := range batches {
		b = binary.BigEndian.AppendUint32(b, uint32(bt.w.partition))
		b = binary.AppendUvarint(b, uint64(len(bt.data))+1)
		ends = append(ends, len(b))
		b = append(b, 0) // partition tagged fields
		size += len(bt.data)
	}
	b = append(b, 0, 0) // topic and request tagged fields
	ends = append(ends, len(b))
	binary.BigEndian.PutUint32(b[len(meta):], uint32(len(b)-len(meta)-4+size))
	from := len(meta)
	for i, bt := range batches {
		bufs = append(bufs, b[from:ends[i]], bt.data)
		from = ends[i]
	}
	return append(bufs, b[from:])
}

// clientID is what mk's producer calls itself in its requests.
const clientID = "mk-produce"

// close closes the connection; the reader reports the requests left.
func (bc *brokerConn) close() {
	if !bc.broken {
		bc.broken = true
		bc.nc.Close()
		close(bc.sent)
	}
}
