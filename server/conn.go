package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// conn is one client connection. Its requests are read, handled and
// answered one at a time, in order (Kafka's per-connection ordering).
type conn struct {
	s    *Server
	nc   net.Conn
	unix bool // came through the broker's Unix socket
	r    *bufio.Reader
	w    *bufio.Writer
	out  []byte // the response being encoded, reused
}

func newConn(s *Server, nc net.Conn, unixSocket bool) *conn {
	return &conn{s: s, nc: nc, unix: unixSocket, r: bufio.NewReaderSize(nc, 64<<10), w: bufio.NewWriterSize(nc, 64<<10)}
}

// request is one decoded request with what its handler needs to know.
type request struct {
	ctx      context.Context
	c        *conn
	key      int16
	version  int16
	corr     int32
	clientID string
	kreq     kmsg.Request
}

func (c *conn) serve() {
	var size [4]byte
	var body []byte
	for {
		if _, err := io.ReadFull(c.r, size[:]); err != nil {
			return // closed by the client, or the server closing
		}
		n := int32(binary.BigEndian.Uint32(size[:]))
		if n < 8 || int(n) > c.s.cfg.MaxRequestBytes {
			c.s.cfg.Logf("client %s: request of %d bytes refused (socket.request.max.bytes is %d): closing the connection", c.nc.RemoteAddr(), n, c.s.cfg.MaxRequestBytes)
			return
		}
		// The body buffer is reused while requests stay small; a large
		// one is not kept after its request is done.
		if cap(body) < int(n) {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(c.r, body); err != nil {
			return
		}
		resp, err := c.handle(body)
		if cap(body) > 1<<20 {
			body = nil
		}
		if err != nil {
			c.s.cfg.Logf("client %s: %v: closing the connection", c.nc.RemoteAddr(), err)
			return
		}
		if resp == nil {
			continue // acks=0 produce: no answer
		}
		if err := c.write(resp); err != nil {
			return
		}
	}
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
	b := append(c.out[:0], 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	if kresp.IsFlexible() && kresp.Key() != apiVersionsKey {
		b = append(b, 0) // no tagged fields in the response header
	}
	b = kresp.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	if cap(b) <= 1<<20 {
		c.out = b
	} else {
		c.out = nil
	}
	return b
}

func (c *conn) write(b []byte) error {
	if _, err := c.w.Write(b); err != nil {
		return err
	}
	return c.w.Flush()
}
