package cluster

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"mk/coord"
	"mk/format"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Broker process supervision for mk cluster start: which brokers to
// start, on which listeners, as detached processes whose output goes to
// DIR/brokers/ID/broker.log; then waiting until each is registered, alive
// and (with a listener) serving, or stopping what this run started when
// one fails, so that a failed start leaves no cluster half-way up.

// StartOptions configure StartBrokers.
type StartOptions struct {
	// Brokers: start brokers 1..Brokers; 0: the registered ones, or
	// broker 1 in a new cluster.
	Brokers int
	// Listen, if set, gives each broker a TCP listener; without it, or
	// when it is HOST:0 and the broker had a port on HOST that is still
	// free, a restarted broker keeps the listener it had.
	Listen *Listen
	// Self is the mk binary; BrokerArgs are added to each mk broker.
	Self       string
	BrokerArgs []string
	// Timeout bounds how long a broker may take to come up (and to stop,
	// when a failed start stops the others).
	Timeout time.Duration
	Warnf   func(format string, args ...any)
}

// StartBrokers starts the brokers of o that are not alive and waits until
// they are up, or ctx ends. It returns how many it started.
// startBrokers starts the brokers of mk cluster start that are not alive,
// and waits until they are, or ctx ends. listen is --listen (nil: none).
func StartBrokers(ctx context.Context, c *coord.Cluster, o StartOptions) (int, error) {
	dir := c.Dir()
	listen := o.Listen
	warnf := orNop(o.Warnf)
	// A damaged registration still names its broker (by its file name),
	// which is started again like the others.
	infos, bad, err := c.BrokersReadable()
	if err != nil {
		return 0, err
	}
	for _, err := range bad {
		warnf("%s", format.Message(err))
	}
	var ids []int
	if n := o.Brokers; n > 0 {
		for i := 1; i <= n; i++ {
			ids = append(ids, i)
		}
	} else {
		for _, b := range infos {
			ids = append(ids, b.ID)
		}
		if len(ids) == 0 {
			ids = []int{1}
		}
	}
	if listen != nil && listen.Port > 0 && listen.Port+slices.Max(ids)-1 > 65535 {
		return 0, format.Usagef("cluster start: --listen %s: broker %d would get port %d, above 65535", listen.Flag, slices.Max(ids), listen.Port+slices.Max(ids)-1)
	}
	self := o.Self
	registered := map[int]coord.BrokerInfo{}
	for _, b := range infos {
		registered[b.ID] = b
	}
	// What each broker to start listens on, checked before any starts.
	type plan struct {
		id                int
		listen, advertise string
	}
	var plans []plan
	for _, id := range ids {
		b := registered[id]
		if b.Alive {
			// HOST:0 is matched by any port on HOST.
			if listen != nil && b.Listen != listen.Addr(id) && (listen.Port != 0 || !keepsPort(b.Listen, listen.Host)) {
				warnf("broker %d is already running (TCP listener: %s); left as it is", id, cmp.Or(b.Listen, "none"))
			}
			continue
		}
		p := plan{id: id}
		switch {
		case listen != nil && listen.Port == 0 && keepsPort(b.Listen, listen.Host):
			// --listen HOST:0 asks for a free port, and the one this
			// broker had on HOST is one: a restart keeps its address,
			// as without --listen. Taken by another process meanwhile,
			// it gets a new free port instead (said on stderr), as
			// HOST:0 allows; only without --listen is that an error.
			if err := portFree(b.Listen); err != nil {
				warnf("broker %d: its previous address %s is not free (%v); it gets a new free port", id, b.Listen, err)
				p.listen = listen.Addr(id)
			} else {
				p.listen, p.advertise = b.Listen, b.Address
			}
		case listen != nil:
			p.listen = listen.Addr(id)
		case b.Listen != "":
			// A restart keeps the broker's address: the port it was
			// bound to, the address it advertised.
			p.listen, p.advertise = b.Listen, b.Address
		}
		plans = append(plans, p)
	}
	for _, p := range plans {
		if err := portFree(p.listen); err != nil {
			return 0, fmt.Errorf("cannot start broker %d: %v; nothing was started", p.id, err)
		}
	}
	type started struct {
		id     int
		listen bool
		proc   *os.Process
		log    string
		logEnd int64         // the log's size before this broker wrote to it
		gone   chan struct{} // closed when the process has exited
		err    error         // its exit status, once gone
		// elsewhere: it exited because another process is this broker
		// (started by hand meanwhile), which counts as started.
		elsewhere bool
	}
	var procs []*started
	exited := make(chan *started, len(plans))
	// stopStarted ends the brokers this run started, so that a failed
	// start leaves no cluster half-way up.
	stopStarted := func() {
		for _, s := range procs {
			s.proc.Signal(syscall.SIGTERM)
		}
		for _, s := range procs {
			select {
			case <-s.gone:
			case <-time.After(o.Timeout):
				s.proc.Kill()
				<-s.gone
			}
		}
	}
	for _, p := range plans {
		id := p.id
		dataDir := c.BrokerDataDir(id)
		if err := os.MkdirAll(dataDir, 0o755); err != nil {
			stopStarted()
			return 0, err
		}
		logPath := filepath.Join(dataDir, "broker.log")
		logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			stopStarted()
			return 0, err
		}
		var logEnd int64
		if fi, err := logf.Stat(); err == nil {
			logEnd = fi.Size()
		}
		args := append([]string{"--dir", dir, "broker", "--id", strconv.Itoa(id)}, o.BrokerArgs...)
		if p.listen != "" {
			args = append(args, "--listen", p.listen)
		}
		if p.advertise != "" {
			args = append(args, "--advertise", p.advertise)
		}
		cmd := exec.Command(self, args...)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // not killed by the terminal's ^C
		err = cmd.Start()
		logf.Close()
		if err != nil {
			stopStarted()
			return 0, fmt.Errorf("start broker %d: %w", id, err)
		}
		s := &started{id: id, listen: p.listen != "", proc: cmd.Process, log: logPath, logEnd: logEnd, gone: make(chan struct{})}
		go func() {
			s.err = cmd.Wait()
			close(s.gone)
			exited <- s
		}()
		procs = append(procs, s)
	}
	wake := coord.Watch(ctx, []string{c.BrokersMetaDir()}, 50*time.Millisecond)
	// A broker is up when it is registered, alive, and, if it was given a
	// listener, has recorded its address (which it does once it accepts
	// connections): then mk cluster bootstrap can print it.
	up := func(s *started) bool {
		b, err := c.Broker(s.id)
		if s.elsewhere {
			return err == nil && b.Alive
		}
		return err == nil && b.Alive && b.Pid == s.proc.Pid && (!s.listen || b.Address != "")
	}
	pending := slices.Clone(procs)
	for {
		pending = slices.DeleteFunc(pending, up)
		if len(pending) == 0 {
			break
		}
		select {
		case s := <-exited:
			if !slices.Contains(pending, s) {
				continue // up, then gone: the next command will say so
			}
			if b, _ := c.Broker(s.id); b.Alive {
				// Started by someone else meanwhile (mk broker run by
				// hand): it is up, which is what was asked.
				s.elsewhere = true
				continue
			}
			stopStarted()
			return 0, fmt.Errorf("broker %d failed to start (%v): %s", s.id, s.err, lastLine(s.log, s.logEnd))
		case <-ctx.Done():
			stopStarted()
			return 0, fmt.Errorf("broker %d did not come up within %s; see %s", pending[0].id, o.Timeout, pending[0].log)
		case <-wake:
		}
	}
	for _, s := range procs {
		s.proc.Release() // the broker runs on without us
	}
	// Up also means a controller: a broker campaigns for it on its own
	// time once it serves, and a script that describes the cluster or
	// kills a leader right after the start must find one (as after mk
	// cluster wait).
	wake = coord.Watch(ctx, []string{filepath.Dir(c.BrokersMetaDir())}, 50*time.Millisecond)
	for {
		if ctl, _ := c.Controller(); ctl.Active {
			return len(procs), nil
		}
		select {
		case <-ctx.Done():
			return len(procs), fmt.Errorf("the brokers are up, but none was elected controller within %s; see their logs in %s", o.Timeout, filepath.Join(dir, "brokers"))
		case <-wake:
		}
	}
}

// Listen is mk cluster start's --listen HOST:PORT: broker i listens on
// HOST:PORT+i-1, or on a free port of HOST when PORT is 0.
type Listen struct {
	Flag string
	Host string
	Port int
}

// ParseListen reads --listen HOST:PORT.
func ParseListen(f string) (*Listen, error) {
	host, port, err := net.SplitHostPort(f)
	n, perr := strconv.Atoi(port)
	if err != nil || perr != nil || n < 0 || n > 65535 {
		return nil, format.Usagef("cluster start: --listen %q: give HOST:PORT, the port 0 to 65535 (127.0.0.1:9092)", f)
	}
	return &Listen{Flag: f, Host: host, Port: n}, nil
}

// Addr is broker id's listen address.
func (l *Listen) Addr(id int) string {
	if l.Port == 0 {
		return net.JoinHostPort(l.Host, "0")
	}
	return net.JoinHostPort(l.Host, strconv.Itoa(l.Port+id-1))
}

// keepsPort reports whether a broker last bound to prev (its registered
// listen address) keeps it when restarted with --listen host:0: prev is on
// that host with a real port.
func keepsPort(prev, host string) bool {
	h, port, err := net.SplitHostPort(prev)
	return err == nil && h == host && port != "" && port != "0"
}

// portFree checks that addr's port can be bound now ("" and port 0 can
// always). A broker started after the check may still find it taken: then
// its own error is reported and the brokers started with it are stopped.
func portFree(addr string) error {
	if addr == "" {
		return nil
	}
	if _, port, _ := net.SplitHostPort(addr); port == "0" {
		return nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		var se *os.SyscallError
		if errors.As(err, &se) && errors.Is(se.Err, syscall.EADDRINUSE) {
			_, port, _ := net.SplitHostPort(addr)
			return fmt.Errorf("port %s is in use (%s)", port, addr)
		}
		return fmt.Errorf("cannot listen on %s: %v", addr, errors.Unwrap(err))
	}
	return l.Close()
}

// lastLine is the last non-empty line a broker wrote to its log file from
// offset from on, for error messages.
func lastLine(path string, from int64) string {
	f, err := os.Open(path)
	if err != nil {
		return "no log"
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return "no log"
	}
	last := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			last = strings.TrimPrefix(l, format.Prefix)
		}
	}
	return last
}
