package server

import (
	"encoding/base64"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/coord"
)

// topicID is a topic's id as the protocol carries it: the 16 bytes that
// mk writes in base64 (URL alphabet, no padding) as Kafka prints them.
func topicID(id string) [16]byte {
	var out [16]byte
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err == nil && len(b) == 16 {
		copy(out[:], b)
	}
	return out
}

// topicIDString is the inverse of topicID.
func topicIDString(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// brokerAddress is where a client reaches broker b through the kind of
// listener it came in on: a TCP client gets b's advertised TCP address;
// a client of the Unix socket gets b's socket path as host and port 0
// (Kafka lets each listener advertise its own addresses). ok is false when
// b has no listener of that kind.
func (s *Server) brokerAddress(b coord.BrokerInfo, unixSocket bool) (host string, port int32, ok bool) {
	if unixSocket {
		return s.cfg.Cluster.SocketPath(b.ID), 0, true
	}
	if b.Address == "" {
		return "", 0, false
	}
	h, p, err := net.SplitHostPort(b.Address)
	if err != nil {
		return "", 0, false
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, false
	}
	return h, int32(n), true
}

// liveBrokers lists the live brokers as a Metadata response names them.
func (s *Server) liveBrokers(unixSocket bool) ([]kmsg.MetadataResponseBroker, map[int]bool) {
	infos, _ := s.cfg.Cluster.Brokers()
	alive := map[int]bool{}
	var out []kmsg.MetadataResponseBroker
	for _, b := range infos {
		if !b.Alive {
			continue
		}
		alive[b.ID] = true
		host, port, ok := s.brokerAddress(b, unixSocket)
		if !ok {
			continue
		}
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port = int32(b.ID), host, port
		out = append(out, mb)
	}
	return out, alive
}

// controllerID is the active controller's broker id, or -1.
func (s *Server) controllerID() int32 {
	ctl, err := s.cfg.Cluster.Controller()
	if err != nil || !ctl.Active {
		return -1
	}
	return int32(ctl.Broker)
}

func int32s(xs []int) []int32 {
	out := make([]int32, len(xs))
	for i, x := range xs {
		out[i] = int32(x)
	}
	return out
}
