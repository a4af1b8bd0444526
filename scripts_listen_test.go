package main

import (
	"math/rand/v2"
	"net"
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"
)

// freeports VAR N finds N consecutive TCP ports of 127.0.0.1 that are free
// now and sets VAR_1..VAR_N to them, for scripts of mk cluster start
// --listen, which gives broker i port PORT+i-1. Another process may take
// one before the script binds it; the range is drawn at random from
// 20000-32767, below Linux's ephemeral ports (32768-60999), so that
// neither scripts running at once nor the connections tests open meet it
// often.
func freeports(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: freeports VAR N")
	}
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 1 || n > 100 {
		ts.Fatalf("freeports: N must be 1 to 100")
	}
	for range 100 {
		base := 20000 + rand.IntN(32768-20000-n)
		var held []net.Listener
		for i := range n {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+i)))
			if err != nil {
				break
			}
			held = append(held, l)
		}
		for _, l := range held {
			l.Close()
		}
		if len(held) == n {
			for i := range n {
				ts.Setenv(args[0]+"_"+strconv.Itoa(i+1), strconv.Itoa(base+i))
			}
			return
		}
	}
	ts.Fatalf("freeports: no %d consecutive free ports found", n)
}
