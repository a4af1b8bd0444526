package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Per-connection memory. A connection costs a goroutine and its read
// buffer while idle, so that a thousand idle clients cost a few MiB; the
// buffers for a request's body and its response grow with the bytes that
// actually arrive and are written, and are kept between requests only while
// they stay small.
const (
	// readBufferBytes is the read buffer: enough for the header and
	// body of the small requests clients pipeline (Metadata, Heartbeat,
	// a Fetch), read in one system call; larger bodies are read straight
	// into their own buffer.
	readBufferBytes = 8 << 10
	// bodyChunkBytes is the first step in which a large body's buffer
	// grows (then doubling): a client that announces 100 MiB and sends 10
	// bytes gets this much memory, not 100 MiB.
	bodyChunkBytes = 16 << 10
	// keepBufferBytes is the largest body or response buffer a
	// connection keeps for its next request (a producer's batches are
	// around a MiB; a larger one is allocated per request).
	keepBufferBytes = 1 << 20
)

// conn is one client connection. Its requests are read, handled and
// answered one at a time, in order (Kafka's per-connection ordering).
type conn struct {
	s    *Server
	nc   net.Conn
	unix bool // came through the broker's Unix socket
	r    *bufio.Reader
	body []byte // the request being read, reused while small
	out  []byte // the response being encoded, reused while small
	// later queues the answers from the first deferred one on (later.go);
	// nil while every answer is written as soon as it is made.
	later *answerQueue
}

func newConn(s *Server, nc net.Conn, unixSocket bool) *conn {
	return &conn{s: s, nc: nc, unix: unixSocket, r: bufio.NewReaderSize(nc, readBufferBytes)}
}

// request is one decoded request with what its handler needs to know.
//
// The request's byte fields (a Produce request's records, say) share the
// connection's body buffer, which the next request overwrites: a handler
// that keeps any of them after it returns must copy them.
type request struct {
	ctx      context.Context
	c        *conn
	key      int16
	version  int16
	corr     int32
	clientID string
	kreq     kmsg.Request
}

// minRequestBytes is the smallest request: an api key, a version, a
// correlation id and a client id's length (int16 each but the int32 id).
const minRequestBytes = 2 + 2 + 4 + 2

// serve reads, handles and answers requests until the client goes, a
// request is refused (the connection is closed, as Kafka closes it), or
// the connection is idle longer than the server's idle timeout.
func (c *conn) serve() {
	defer c.stopLater()
	var size [4]byte
	for {
		c.deadline(c.nc.SetReadDeadline)
		if _, err := io.ReadFull(c.r, size[:]); err != nil {
			if isTimeout(err) {
				c.s.cfg.Logf("client %s: idle for %s: closing the connection (connections.max.idle.ms)", c.nc.RemoteAddr(), c.s.cfg.IdleTimeout)
			}
			return // closed by the client, or the server closing
		}
		n := int32(binary.BigEndian.Uint32(size[:]))
		if n < minRequestBytes || int(n) > c.s.cfg.MaxRequestBytes {
			// Kafka's InvalidReceiveException: a negative size, a size
			// too small for a header, or more than
			// socket.request.max.bytes, refused before anything is
			// allocated for it.
			c.s.cfg.Logf("client %s: request of %d bytes refused (socket.request.max.bytes is %d): closing the connection", c.nc.RemoteAddr(), n, c.s.cfg.MaxRequestBytes)
			return
		}
		body, err := c.readBody(int(n))
		if err != nil {
			if isTimeout(err) {
				c.s.cfg.Logf("client %s: request of %d bytes not sent within %s: closing the connection", c.nc.RemoteAddr(), n, c.s.cfg.IdleTimeout)
			}
			return // the client went mid-request
		}
		resp, err := c.handleSafely(body)
		if cap(c.body) > keepBufferBytes {
			putBody(c.body)
			c.body = nil
		}
		if err != nil {
			c.s.cfg.Logf("client %s: %v: closing the connection", c.nc.RemoteAddr(), err)
			c.drainLater() // the answers to the requests before go out first
			return
		}
		if resp == nil {
			continue // acks=0 produce: no answer
		}
		if err := c.write(resp); err != nil {
			return // the client went mid-response, or stopped reading
		}
	}
}

// deadline sets a read or write deadline one idle timeout from now (none
// when the timeout is off).
func (c *conn) deadline(set func(time.Time) error) {
	if c.s.cfg.IdleTimeout > 0 {
		set(time.Now().Add(c.s.cfg.IdleTimeout))
	}
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// readBody reads a request body of n bytes. Its buffer grows with the
// bytes that arrive, not with the size the client announced: memory is
// spent only on what was sent. Each chunk renews the read deadline, so a
// large request on a slow link is not cut off while bytes keep coming.
//
// A body larger than the connection keeps (keepBufferBytes) is read into
// a buffer another request of that size left in bodyPools when there is
// one: a producer sending requests of several MiB reuses the same few
// buffers instead of growing a new one per request (allocating twice its
// size and copying it once). Taking a pooled buffer spends no new memory,
// so a client that announces much and sends little still gets only what
// it sent.
func (c *conn) readBody(n int) ([]byte, error) {
	if n <= cap(c.body) {
		c.body = c.body[:n]
		_, err := io.ReadFull(c.r, c.body)
		return c.body, err
	}
	b := c.body[:0]
	limit := n // the most the buffer grows to
	if n > keepBufferBytes {
		if pooled := takeBody(n); pooled != nil {
			b = pooled[:0]
		}
		// The size of the class n is taken from, so that the buffer
		// serves the next request of this size from the pool.
		limit = bodyChunkBytes << bits.Len(uint((n-1)/bodyChunkBytes))
	}
	for len(b) < n {
		if len(b) == cap(b) {
			grown := make([]byte, len(b), min(max(2*cap(b), bodyChunkBytes), limit))
			copy(grown, b)
			if cap(b) > keepBufferBytes {
				putBody(b)
			}
			b = grown
		}
		c.deadline(c.nc.SetReadDeadline)
		m, err := c.r.Read(b[len(b):min(cap(b), n)]) // never past this request
		b = b[:len(b)+m]
		if err != nil && len(b) < n {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			if cap(b) > keepBufferBytes {
				putBody(b)
			}
			return nil, err
		}
	}
	c.body = b
	return b, nil
}

// bodyPools keeps request buffers larger than keepBufferBytes between
// requests, across connections, by size class: pool k holds buffers of
// capacity [bodyChunkBytes<<k, bodyChunkBytes<<(k+1)). The garbage
// collector empties them when they go unused, so they hold memory only
// while large requests keep coming.
var bodyPools [bodyClasses]sync.Pool

// bodyClasses covers every size up to socket.request.max.bytes (100 MiB)
// and beyond, to 2 GiB.
const bodyClasses = 18

// putBody gives a buffer no request refers to any more to the pool of
// its size class.
func putBody(b []byte) {
	k := bits.Len(uint(cap(b)/bodyChunkBytes)) - 1
	if k < 0 {
		return
	}
	k = min(k, bodyClasses-1)
	b = b[:0]
	bodyPools[k].Put(&b)
}

// takeBody returns a pooled buffer of capacity at least n, or nil when the
// pools have none.
func takeBody(n int) []byte {
	k := bits.Len(uint((n - 1) / bodyChunkBytes)) // the least class whose every buffer holds n
	if k >= bodyClasses {
		return nil
	}
	if p, _ := bodyPools[k].Get().(*[]byte); p != nil {
		return *p
	}
	return nil
}

// handleSafely is handle with a handler's panic turned into an error: a
// bug met by one request closes that client's connection and is logged
// with its stack; the broker goes on serving the others.
func (c *conn) handleSafely(body []byte) (resp []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			resp, err = nil, fmt.Errorf("internal error handling a request (%s), please report it: %v\n%s", describeRequest(body), p, debug.Stack())
		}
	}()
	return c.handle(body)
}

// describeRequest names a request by its header, for the log.
func describeRequest(body []byte) string {
	if len(body) < 4 {
		return "no header"
	}
	key, version := int16(binary.BigEndian.Uint16(body)), int16(binary.BigEndian.Uint16(body[2:]))
	return fmt.Sprintf("%s v%d", kmsg.NameForKey(key), version)
}

// handle decodes one request and returns its encoded response (nil for
// none). An error means the connection is to be closed.
func (c *conn) handle(body []byte) ([]byte, error) {
	rd := kbin.Reader{Src: body}
	key := rd.Int16()
	version := rd.Int16()
	corr := rd.Int32()
	clientID := rd.NullableString()
	if !rd.Ok() {
		return nil, fmt.Errorf("truncated request header")
	}
	api, known := apis[key]
	if key == apiVersionsKey && (!known || version < api.min || version > api.max) {
		// KIP-511: an ApiVersions of a version this broker does not
		// know is answered at v0 with UNSUPPORTED_VERSION and the
		// served ranges, so the client can pick one.
		return c.frame(corr, unsupportedApiVersions()), nil
	}
	if !known {
		return nil, fmt.Errorf("unknown api key %d", key)
	}
	if version < api.min || version > api.max {
		return nil, fmt.Errorf("unsupported version %d of %s (served: %d to %d)", version, api.name, api.min, api.max)
	}
	kreq := kmsg.RequestForKey(key)
	kreq.SetVersion(version)
	if kreq.IsFlexible() {
		kmsg.SkipTags(&rd)
		if !rd.Ok() {
			return nil, fmt.Errorf("truncated request header")
		}
	}
	if err := kreq.ReadFrom(rd.Src); err != nil {
		return nil, fmt.Errorf("malformed %s v%d request: %v", api.name, version, err)
	}
	req := &request{ctx: c.s.ctx, c: c, key: key, version: version, corr: corr, kreq: kreq}
	if clientID != nil {
		req.clientID = *clientID
	}
	kresp, err := api.handle(req)
	if err != nil || kresp == nil {
		return nil, err
	}
	kresp.SetVersion(version)
	if d, ok := kresp.(*deferredResponse); ok {
		c.deferAnswer(corr, d)
		return nil, nil
	}
	if raw, ok := kresp.(rawResponse); ok && c.nc != nil && c.later != nil {
		c.later.pushRaw(corr, raw) // behind the deferred answers
		return nil, nil
	}
	if raw, ok := kresp.(rawResponse); ok && c.nc != nil {
		// It writes itself. A connection it cannot be written to is
		// closed, so the next read ends serve without a word: a
		// consumer that went away during a long poll is no error.
		// (Without a connection, as in tests of handle alone, it is
		// encoded as any other.)
		if err := raw.writeResponse(c, corr); err != nil {
			c.nc.Close()
		}
		return nil, nil
	}
	return c.frame(corr, kresp), nil
}

// rawResponse is a response that writes itself to the connection instead
// of being encoded into one buffer: a Fetch response sends the batches it
// read as they are, without copying them into the response (see
// fetch_response.go).
type rawResponse interface {
	kmsg.Response
	// writeResponse writes the whole framed response (size, header,
	// body) answering correlation id corr.
	writeResponse(c *conn, corr int32) error
}

// frame encodes a response with its size and header into c.out.
func (c *conn) frame(corr int32, kresp kmsg.Response) []byte {
	b := appendFrame(c.out[:0], corr, kresp)
	if cap(b) <= keepBufferBytes {
		c.out = b
	} else {
		c.out = nil
	}
	return b
}

// write sends one framed response, behind the deferred answers still
// queued.
func (c *conn) write(b []byte) error {
	if c.later != nil {
		c.later.push(b)
		return nil
	}
	return c.writeNow(b)
}

// writeNow sends one framed response. It is one write: the response is
// encoded whole, so nothing is gained by another buffer.
func (c *conn) writeNow(b []byte) error {
	c.deadline(c.nc.SetWriteDeadline)
	_, err := c.nc.Write(b)
	return err
}
