package server

import (
	"net"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"mk/groupcoord"
)

// What the group APIs (08_offset_commit.go ... 47_offset_delete.go) share.
// The coordinator itself is package groupcoord; these handlers read the
// request's version-dependent fields, call it, and fill the response.

// groups is the broker's coordinator, nil when the server runs without one
// (then every group API answers COORDINATOR_NOT_AVAILABLE).
func (r *request) groups() *groupcoord.Coordinator { return r.c.s.cfg.Groups }

// code is a Kafka error's code, 0 for none.
func code(err *kerr.Error) int16 {
	if err == nil {
		return 0
	}
	return err.Code
}

// kerrMessage is the message Kafka puts next to an error code, nil for
// none.
func kerrMessage(err *kerr.Error) *string {
	if err == nil {
		return nil
	}
	s := err.Description
	return &s
}

// clientHost is how a member's host is shown, as Kafka shows it: "/" and
// the client's address for TCP; "unix" for the broker's Unix socket.
func (r *request) clientHost() string {
	if r.c.unix {
		return "unix"
	}
	addr := r.c.nc.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	return "/" + strings.TrimPrefix(addr, "/")
}

// deref returns *p, or "" for nil.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
