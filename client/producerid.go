package client

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/coord"
	"mk/server"
)

// An idempotent producer's identity, as a Kafka producer gets it at start:
// an InitProducerId request, without a transactional id, to any live
// broker, here on its Unix socket. The broker gives an id no producer had
// before (from a block it claimed in meta/producer-ids.json) and epoch 0.

// initProducerIDVersion: the first flexible version; the broker serves 0-5.
const initProducerIDVersion = 2

// initProducerIDWait bounds one broker's answer: a broker stopped
// (SIGSTOP) before its session timeout ran out still looks alive and
// accepts the connection, but answers nothing; the next one is asked.
const initProducerIDWait = 2 * time.Second

// ProducerID is an idempotent producer's id and epoch.
type ProducerID struct {
	ID    int64
	Epoch int16
}

// InitProducerID asks the live brokers, in turn, for a producer id until
// one gives it or the deadline passes. Connections that fail and
// retriable answers (a broker starting or stopping, the metadata lock held
// by a stopped process) are retried; an answer Kafka calls fatal is not.
func InitProducerID(c *coord.Cluster, deadline time.Time) (ProducerID, error) {
	backoff := 5 * time.Millisecond
	var last error
	for {
		ids, err := c.LiveBrokers()
		if err != nil {
			return ProducerID{}, err
		}
		start := rand.IntN(max(len(ids), 1)) // spread producers over the brokers
		for i := range ids {
			id := ids[(start+i)%len(ids)]
			wait := time.Now().Add(initProducerIDWait)
			if deadline.Before(wait) {
				wait = deadline
			}
			if !time.Now().Before(wait) {
				break // no time left: last stays the answer that took it
			}
			pid, err := initProducerIDFrom(c.SocketPath(id), wait)
			if err == nil {
				return pid, nil
			}
			var ke *kerr.Error
			if errors.As(err, &ke) && !ke.Retriable {
				return ProducerID{}, fmt.Errorf("broker %d refused a producer id: %w", id, err)
			}
			last = fmt.Errorf("broker %d: %w", id, err)
		}
		if last == nil {
			last = fmt.Errorf("no broker is running in %s", c.Dir())
		}
		if time.Now().Add(backoff).After(deadline) {
			return ProducerID{}, fmt.Errorf("%w: no producer id within the timeout: %v", ErrNotAcknowledged, last)
		}
		time.Sleep(backoff) // a broker restarting: a matter of milliseconds, bounded by the deadline
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

// initProducerIDFrom sends one InitProducerId request on a new connection
// to the broker socket at path.
func initProducerIDFrom(path string, deadline time.Time) (ProducerID, error) {
	nc, err := server.DialUnixPath(path)
	if err != nil {
		return ProducerID{}, err
	}
	defer nc.Close()
	nc.SetDeadline(deadline)
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = initProducerIDVersion
	req.TransactionTimeoutMillis = 60000
	resp := kmsg.NewPtrInitProducerIDResponse()
	if err := roundTrip(nc, req, resp); err != nil {
		return ProducerID{}, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return ProducerID{}, err
	}
	return ProducerID{resp.ProducerID, resp.ProducerEpoch}, nil
}

// roundTrip writes req (Kafka's framing: size, request header v2 for a
// flexible request, body) and reads its answer into resp.
func roundTrip(nc net.Conn, req kmsg.Request, resp kmsg.Response) error {
	const corr = 1
	b := make([]byte, 4, 64)
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, corr)
	b = binary.BigEndian.AppendUint16(b, 2) // client id "mk"
	b = append(b, "mk"...)
	if req.IsFlexible() {
		b = append(b, 0) // no tagged fields
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	if _, err := nc.Write(b); err != nil {
		return err
	}
	var size [4]byte
	if _, err := io.ReadFull(nc, size[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 1<<20 {
		return fmt.Errorf("answer of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(nc, body); err != nil {
		return err
	}
	if c := binary.BigEndian.Uint32(body); c != corr {
		return fmt.Errorf("answer to request %d, sent %d", c, corr)
	}
	body = body[4:]
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && len(body) > 0 {
		body = body[1:] // response header v1: no tagged fields
	}
	return resp.ReadFrom(body)
}
