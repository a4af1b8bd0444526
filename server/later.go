package server

import (
	"context"
	"encoding/binary"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Answers that are ready later. An acks=all Produce is answered only
// when the in-sync replicas have its batches; meanwhile the connection
// goes on reading and handling the requests after it (the next Produce is
// appended while the previous one replicates), and the answers still go
// out in the order of the requests, as Kafka's clients expect. Kafka's
// broker holds a connection's next request until the answer is sent;
// what a client sees is the same: appends in request order, answers in
// request order. Only the wait overlaps.
//
// A connection with no deferred answer writes its answers directly. From
// its first deferred answer on, every answer goes through the
// connection's answer queue, written by a goroutine of its own.

// deferredResponse is a handler's answer whose body is complete once wait
// returns. wait gets a context that ends when the connection closes; an
// error from it closes the connection.
type deferredResponse struct {
	kmsg.Response
	wait func(ctx context.Context) error
}

// maxDeferred bounds the answers a connection may have waiting: once
// that many are, the connection reads no more requests until the oldest
// is written (backpressure on a client that pipelines without limit).
const maxDeferred = 16

// answer is one queued answer: encoded bytes, a deferred response, or a
// response that writes itself (a Fetch's batches, see fetch_response.go).
type answer struct {
	b     []byte
	d     *deferredResponse
	raw   rawResponse
	corr  int32
	close bool // write nothing, close the connection after the answers before it
}

type answerQueue struct {
	c       *conn
	view    *conn // c with its own out buffer, for raw answers
	q       chan answer
	ctx     context.Context
	cancel  context.CancelFunc
	done    sync.WaitGroup
	stopped bool
}

// deferAnswer queues d, starting the connection's answer queue if it has
// none yet.
func (c *conn) deferAnswer(corr int32, d *deferredResponse) {
	if c.later == nil {
		ctx, cancel := context.WithCancel(c.s.ctx)
		c.later = &answerQueue{c: c, view: &conn{s: c.s, nc: c.nc, unix: c.unix}, q: make(chan answer, maxDeferred), ctx: ctx, cancel: cancel}
		c.later.done.Add(1)
		go c.later.run()
	}
	c.later.q <- answer{d: d, corr: corr}
}

// run writes the queued answers in order, waiting for each deferred one.
// After a write fails it only drains the queue.
func (aq *answerQueue) run() {
	defer aq.done.Done()
	var out []byte
	failed := false
	for a := range aq.q {
		if failed {
			continue
		}
		if a.close {
			aq.c.nc.Close()
			failed = true
			continue
		}
		if a.raw != nil {
			// Through a view of the connection with an encoding buffer
			// of its own: the reader goroutine goes on encoding answers
			// in c.out meanwhile.
			if err := a.raw.writeResponse(aq.view, a.corr); err != nil {
				aq.c.nc.Close()
				failed = true
			}
			continue
		}
		b := a.b
		if a.d != nil {
			if err := a.d.wait(aq.ctx); err != nil {
				if aq.ctx.Err() == nil {
					aq.c.s.cfg.Logf("client %s: %v: closing the connection", aq.c.nc.RemoteAddr(), err)
				}
				aq.c.nc.Close()
				failed = true
				continue
			}
			out = appendFrame(out[:0], a.corr, a.d.Response)
			b = out
		}
		if err := aq.c.writeNow(b); err != nil {
			aq.c.nc.Close() // the reader stops too
			failed = true
		}
	}
}

// push queues an encoded answer behind the deferred ones.
func (aq *answerQueue) push(b []byte) {
	aq.q <- answer{b: append([]byte(nil), b...)}
}

// pushRaw queues a response that writes itself behind the deferred ones.
func (aq *answerQueue) pushRaw(corr int32, raw rawResponse) {
	aq.q <- answer{raw: raw, corr: corr}
}

// drainLater writes the answers queued, waiting for the deferred ones,
// then closes the connection: a request that closes the connection comes
// after them (Kafka would have answered them before reading it).
func (c *conn) drainLater() {
	if c.later == nil || c.later.stopped {
		return
	}
	c.later.q <- answer{close: true}
	c.later.stopped = true
	close(c.later.q)
	c.later.done.Wait()
	c.later.cancel()
}

// stopLater ends the queue when the connection's reader is done (the
// client went, the server is closing): deferred waits end, the answers
// still queued are dropped with the connection.
func (c *conn) stopLater() {
	if c.later == nil || c.later.stopped {
		return
	}
	c.later.stopped = true
	c.later.cancel()
	close(c.later.q)
	c.later.done.Wait()
}

// appendFrame encodes a response with its size and header onto dst.
func appendFrame(dst []byte, corr int32, kresp kmsg.Response) []byte {
	b := append(dst, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	if kresp.IsFlexible() && kresp.Key() != apiVersionsKey {
		b = append(b, 0) // no tagged fields in the response header
	}
	b = kresp.AppendTo(b)
	binary.BigEndian.PutUint32(b[len(dst):], uint32(len(b)-len(dst)-4))
	return b
}
