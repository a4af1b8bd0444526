package server

import (
	"errors"
	"os"
	"time"
)

// watchClosed calls gone if the client closes the connection while a
// request of it waits (a Fetch long poll): nothing else reads the
// connection then, since a connection's requests are handled one at a
// time, so without it a client that went away would hold its handler until
// max wait. A goroutine peeks at the connection, as net/http's server
// does for the same reason: EOF or an error calls gone; a byte (the next
// request of a client that pipelines) ends the watch and is left in the
// buffer. stop ends the watch and must be called before the connection is
// read again: it unblocks the peek with a read deadline in the past and
// waits for the goroutine.
func (c *conn) watchClosed(gone func()) (stop func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := c.r.Peek(1); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			gone()
		}
	}()
	return func() {
		c.nc.SetReadDeadline(aLongTimeAgo)
		<-done
		c.nc.SetReadDeadline(time.Time{})
	}
}

// aLongTimeAgo is a read deadline that has passed: it ends a blocked read.
var aLongTimeAgo = time.Unix(1, 0)
