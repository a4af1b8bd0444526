package client

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/server"
)

// Ask sends one request to the broker whose Kafka socket is at path, on a
// connection of its own, and reads the answer into resp, within deadline.
// For the one-shot requests of mk's commands (describe producers); the
// answer may be at most 1 MiB.
func Ask(path string, deadline time.Time, req kmsg.Request, resp kmsg.Response) error {
	nc, err := server.DialUnixPath(path)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(deadline)
	return roundTrip(nc, req, resp)
}
