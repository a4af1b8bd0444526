//go:build mkpprof

package main

// Profiling of real broker processes, compiled in only with the mkpprof
// build tag (never in a normal build):
//
//	MK_PPROF_DIR=/tmp/p go test -tags mkpprof -run '^$' -bench KafkaProduce .
//
// makes every `mk broker` (the test binary copied as mk) serve
// net/http/pprof on a free loopback port and write that address to
// $MK_PPROF_DIR/broker-<pid>.addr; take a profile while the load runs with
// `go tool pprof http://ADDR/debug/pprof/profile?seconds=10`.
//
// A one-shot command is profiled from its start for MK_PPROF_SECONDS
// seconds (a command that ends sooner leaves the file empty: choose fewer
// seconds than it runs):
// MK_PPROF_SECONDS=5 MK_PPROF_DIR=/tmp/p mk produce ... writes
// /tmp/p/<command>-<pid>.pb.gz.

import (
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"time"
)

func init() {
	dir := os.Getenv("MK_PPROF_DIR")
	if dir == "" {
		return
	}
	if secs, _ := strconv.Atoi(os.Getenv("MK_PPROF_SECONDS")); secs > 0 && !slices.Contains(os.Args, "broker") {
		name := "cmd"
		if len(os.Args) > 1 {
			name = filepath.Base(os.Args[1])
		}
		f, err := os.Create(filepath.Join(dir, name+"-"+strconv.Itoa(os.Getpid())+".pb.gz"))
		if err != nil || pprof.StartCPUProfile(f) != nil {
			return
		}
		time.AfterFunc(time.Duration(secs)*time.Second, func() { pprof.StopCPUProfile(); f.Close() })
		return
	}
	if !slices.Contains(os.Args, "broker") {
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return
	}
	os.WriteFile(filepath.Join(dir, "broker-"+strconv.Itoa(os.Getpid())+".addr"), []byte(ln.Addr().String()), 0o644)
	go http.Serve(ln, nil)
}
