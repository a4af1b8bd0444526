package client

import (
	"context"
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
// accepts the connection, but answers nothing.
const initProducerIDWait = 2 * time.Second

// initProducerIDHedge is how long a broker may take to answer before the
// next one is asked as well (InitProducerId without a transactional id
// may go to any broker, as a Kafka client sends it to any node): a broker
// answers in milliseconds, so one that has not after this is stopped or
// stuck (waiting for meta/lock, say), and the producer does not wait out
// initProducerIDWait for it. The first answer is taken; an id a slower
// broker gives meanwhile is never used, which costs nothing (ids only
// grow, and are never reused).
const initProducerIDHedge = 200 * time.Millisecond

// ProducerID is an idempotent producer's id and epoch.
type ProducerID struct {
	ID    int64
	Epoch int16
}

// InitProducerID asks the live brokers for a producer id until one gives
// it, the deadline passes or ctx ends (its error then). Brokers whose
// process is stopped (SIGSTOP, by /proc) are asked last, and a broker
// that does not answer within initProducerIDHedge has the next one asked
// as well. Connections that fail and retriable answers (a broker starting
// or stopping, the metadata lock held by a stopped process) are retried;
// an answer Kafka calls fatal is not.
func InitProducerID(ctx context.Context, c *coord.Cluster, deadline time.Time) (ProducerID, error) {
	backoff := 5 * time.Millisecond
	var last error
	for {
		if err := ctx.Err(); err != nil {
			return ProducerID{}, err
		}
		infos, err := c.Brokers()
		if err != nil {
			return ProducerID{}, err
		}
		var ids, stopped []int
		for _, b := range infos {
			switch {
			case !b.Alive:
			case coord.ProcessStopped(b.Pid):
				stopped = append(stopped, b.ID)
			default:
				ids = append(ids, b.ID)
			}
		}
		// Spread producers over the brokers; the stopped ones last.
		rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		ids = append(ids, stopped...)
		if len(ids) > 0 {
			pid, fatal, err := askProducerID(ctx, c, ids, deadline)
			if err == nil || fatal {
				return pid, err
			}
			last = err
		}
		if last == nil {
			last = fmt.Errorf("no broker is running in %s", c.Dir())
		}
		if time.Now().Add(backoff).After(deadline) {
			return ProducerID{}, fmt.Errorf("%w: no producer id within the timeout: %v", ErrNotAcknowledged, last)
		}
		select { // a broker restarting: a matter of milliseconds, bounded by the deadline
		case <-time.After(backoff):
		case <-ctx.Done():
			return ProducerID{}, ctx.Err()
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

// askProducerID asks the brokers ids, in order, for a producer id: the
// next one as soon as the last asked fails, or after initProducerIDHedge
// without its answer; each is waited for at most initProducerIDWait, and
// none is asked after the deadline. It returns the first id given, or the
// last failure (fatal: one Kafka calls fatal, or ctx's end).
func askProducerID(ctx context.Context, c *coord.Cluster, ids []int, deadline time.Time) (pid ProducerID, fatal bool, err error) {
	type answer struct {
		id  int
		pid ProducerID
		err error
	}
	ctx, cancel := context.WithCancel(ctx) // ends the asks still waiting
	defer cancel()
	answers := make(chan answer, len(ids))
	next, pending := 0, 0
	ask := func() bool {
		now := time.Now()
		if next == len(ids) || !now.Before(deadline) {
			return false
		}
		id := ids[next]
		next++
		pending++
		wait := now.Add(initProducerIDWait)
		if deadline.Before(wait) {
			wait = deadline
		}
		go func() {
			pid, err := initProducerIDFrom(ctx, c.SocketPath(id), wait)
			answers <- answer{id, pid, err}
		}()
		return true
	}
	hedge := time.NewTimer(initProducerIDHedge)
	defer hedge.Stop()
	ask()
	var last error
	for pending > 0 {
		select {
		case a := <-answers:
			pending--
			if a.err == nil {
				return a.pid, false, nil
			}
			if err := ctx.Err(); err != nil {
				return ProducerID{}, true, err
			}
			var ke *kerr.Error
			if errors.As(a.err, &ke) && !ke.Retriable {
				return ProducerID{}, true, fmt.Errorf("broker %d refused a producer id: %w", a.id, a.err)
			}
			last = fmt.Errorf("broker %d: %w", a.id, a.err)
			if ask() {
				hedge.Reset(initProducerIDHedge)
			}
		case <-hedge.C:
			if ask() {
				hedge.Reset(initProducerIDHedge)
			}
		case <-ctx.Done():
			return ProducerID{}, true, ctx.Err()
		}
	}
	return ProducerID{}, false, last
}

// initProducerIDFrom sends one InitProducerId request on a new connection
// to the broker socket at path; ctx ending closes the connection.
func initProducerIDFrom(ctx context.Context, path string, deadline time.Time) (ProducerID, error) {
	nc, err := server.DialUnixPath(path)
	if err != nil {
		return ProducerID{}, err
	}
	defer nc.Close()
	defer context.AfterFunc(ctx, func() { nc.Close() })()
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
