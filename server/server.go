package server

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"time"

	"mk/coord"
	"mk/groupcoord"
	"mk/replica"
)

// MaxRequestBytes is Kafka's socket.request.max.bytes default (100 MiB):
// a request announcing more is refused before anything is allocated.
const MaxRequestBytes = 100 << 20

// IdleTimeout is Kafka's connections.max.idle.ms default (10 minutes): a
// connection that neither sends a request nor takes its response for this
// long is closed, so that clients that vanish without closing (a machine
// that went to sleep, a half-open TCP connection) do not hold a goroutine
// and buffers for ever.
const IdleTimeout = 10 * time.Minute

// Config is what a Server needs of its broker.
type Config struct {
	Cluster  *coord.Cluster
	Replicas *replica.Manager
	// Groups is the broker's group coordinator (the group APIs answer
	// COORDINATOR_NOT_AVAILABLE without one).
	Groups   *groupcoord.Coordinator
	BrokerID int
	// SocketPath is the Unix socket's path, advertised to clients that
	// connect through it.
	SocketPath string
	// Advertised is the TCP listener's advertised HOST:PORT ("" if none).
	Advertised string
	// Listen is the TCP listener's bound HOST:PORT ("" if none).
	Listen string
	// Settings are the broker's own settings under Kafka's names
	// (log.retention.check.interval.ms, ...), as DescribeConfigs shows
	// them for this broker.
	Settings []Setting
	// MaxRequestBytes overrides the package default (tests).
	MaxRequestBytes int
	// IdleTimeout overrides the package default (tests); negative turns
	// it off.
	IdleTimeout time.Duration
	// Logf reports connection-level problems; nil discards.
	Logf func(format string, args ...any)
}

// Setting is one of a broker's settings under its Kafka name, with the
// value in effect; Static when it was given on the command line rather
// than left at its default.
type Setting struct {
	Name, Value string
	Static      bool
}

// Server serves the Kafka protocol on any number of listeners.
type Server struct {
	cfg Config
	ctx context.Context
	end context.CancelFunc

	// producerIDs gives InitProducerId its ids, from blocks the broker
	// claims in the metadata directory.
	producerIDs *coord.ProducerIDs

	mu        sync.Mutex
	listeners []net.Listener
	conns     map[net.Conn]struct{}
	closed    bool
	wg        sync.WaitGroup
}

// New returns a server for cfg; it serves once given a listener.
func New(cfg Config) *Server {
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = MaxRequestBytes
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = IdleTimeout
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	ctx, end := context.WithCancel(context.Background())
	return &Server{cfg: cfg, ctx: ctx, end: end, conns: map[net.Conn]struct{}{},
		producerIDs: coord.NewProducerIDs(cfg.Cluster, cfg.BrokerID)}
}

// Serve accepts connections on l until the server is closed. unixSocket
// says whether l is the broker's Unix socket (clients that come through it
// are given the brokers' socket paths as their addresses).
func (s *Server) Serve(l net.Listener, unixSocket bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return
	}
	s.listeners = append(s.listeners, l)
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		var delay time.Duration
		for {
			nc, err := l.Accept()
			if err != nil {
				if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
					return
				}
				// Out of descriptors, say: back off rather than spin.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.cfg.Logf("accept on %s: %v", l.Addr(), err)
				select {
				case <-time.After(delay):
				case <-s.ctx.Done():
					return
				}
				continue
			}
			delay = 0
			if !s.track(nc) {
				nc.Close()
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer s.untrack(nc)
				newConn(s, nc, unixSocket).serve()
			}()
		}
	}()
}

func (s *Server) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[nc] = struct{}{}
	return true
}

func (s *Server) untrack(nc net.Conn) {
	s.mu.Lock()
	delete(s.conns, nc)
	s.mu.Unlock()
	nc.Close()
}

// Close stops the listeners, ends every connection and long poll, and
// waits for the handlers to return. The Unix socket file is removed.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.end()
	for _, l := range s.listeners {
		l.Close()
	}
	for nc := range s.conns {
		nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if s.cfg.SocketPath != "" {
		os.Remove(s.cfg.SocketPath)
	}
}
