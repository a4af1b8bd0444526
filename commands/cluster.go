package commands

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"mk/coord"
	"mk/format"
)

func clusterCommand() *cli.Command {
	timeout := &cli.DurationFlag{Name: "timeout", Value: 10 * time.Second, Usage: "how long to wait"}
	return &cli.Command{
		Name:  "cluster",
		Usage: "start, stop and inspect the local cluster's brokers",
		Subcommands: []*cli.Command{
			{
				Name:      "start",
				Usage:     "start brokers as background processes and wait until they are up",
				ArgsUsage: " ",
				Description: `Starts brokers 1..N (default: the brokers registered before, or 1) as
detached processes, their output in DIR/brokers/ID/broker.log, and returns
once every one is registered and alive. Brokers already running are left
alone; several starts at once take turns, and all succeed.

   mk cluster start --brokers 3`,
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "brokers", Usage: "start brokers 1..N"},
					&cli.DurationFlag{Name: "retention-check-interval", Value: 5 * time.Minute, Usage: "passed to each broker"},
					&cli.DurationFlag{Name: "leader-imbalance-check-interval", Value: coord.LeaderImbalanceCheckInterval, Usage: "passed to each broker"},
					timeout,
				},
				Action: clusterStart,
			},
			{
				Name:        "stop",
				Usage:       "stop brokers gracefully (SIGTERM) and wait until they are down",
				ArgsUsage:   " ",
				Flags:       []cli.Flag{&cli.IntFlag{Name: "broker", Usage: "stop only this broker"}, timeout},
				Description: "A broker that is not running is left alone: stop succeeds (exit 0) with a note.\n\n   mk cluster stop             # every broker\n   mk cluster stop --broker 2",
				Action:      func(cc *cli.Context) error { return clusterSignal(cc, syscall.SIGTERM) },
			},
			{
				Name:        "kill",
				Usage:       "SIGKILL a broker, for fault drills",
				ArgsUsage:   " ",
				Description: "A broker that is not running is left alone: kill succeeds (exit 0) with a note.\n\n   mk cluster kill --broker 2",
				// --broker is not Required: urfave/cli would print the help to stdout.
				Flags: []cli.Flag{&cli.IntFlag{Name: "broker", Usage: "the broker to kill (required)"}, timeout},
				Action: func(cc *cli.Context) error {
					if !cc.IsSet("broker") {
						return format.Usagef("cluster kill: give the broker to kill: --broker ID")
					}
					return clusterSignal(cc, syscall.SIGKILL)
				},
			},
			{
				Name:        "status",
				Usage:       "table of brokers (same as mk describe cluster)",
				ArgsUsage:   " ",
				Flags:       []cli.Flag{outputFlag()},
				Action:      describeCluster,
				Description: "   mk cluster status\n   mk cluster status -o json",
			},
			{
				Name:      "wait",
				Usage:     "wait until N brokers are alive and a controller is active",
				ArgsUsage: " ",
				Description: `For scripts that start brokers themselves:

   mk broker --id 1 & mk broker --id 2 &
   mk cluster wait --brokers 2`,
				Flags:  []cli.Flag{&cli.IntFlag{Name: "brokers", Value: 1, Usage: "how many live brokers to wait for"}, timeout},
				Action: clusterWait,
			},
		},
	}
}

// selfPath is how to run this binary again: as invoked when that names a
// file (so a test binary standing in for mk is run as mk), else from $PATH,
// else the executable.
func selfPath() (string, error) {
	arg0 := os.Args[0]
	if strings.Contains(arg0, "/") {
		return filepath.Abs(arg0)
	}
	if p, err := exec.LookPath(arg0); err == nil {
		return filepath.Abs(p)
	}
	return os.Executable()
}

func clusterStart(cc *cli.Context) error {
	dir, err := clusterDir(cc)
	if err != nil {
		return err
	}
	c, err := coord.Init(dir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cc.Duration("timeout"))
	defer cancel()
	// Starts take turns: a start that runs while another is starting
	// brokers waits for it, then finds them up and leaves them alone.
	return c.WithStartLock(ctx, func() error { return startBrokers(ctx, cc, c) })
}

// startBrokers starts the brokers of mk cluster start that are not alive,
// and waits until they are, or ctx ends.
func startBrokers(ctx context.Context, cc *cli.Context, c *coord.Cluster) error {
	dir := c.Dir()
	// A damaged registration still names its broker (by its file name),
	// which is started again like the others.
	infos, bad, err := c.BrokersReadable()
	if err != nil {
		return err
	}
	d := &damage{}
	d.add(bad...)
	d.warn(cc)
	var ids []int
	if n := cc.Int("brokers"); n > 0 {
		for i := 1; i <= n; i++ {
			ids = append(ids, i)
		}
	} else if cc.IsSet("brokers") {
		return format.Usagef("cluster start: --brokers must be at least 1")
	} else {
		for _, b := range infos {
			ids = append(ids, b.ID)
		}
		if len(ids) == 0 {
			ids = []int{1}
		}
	}
	self, err := selfPath()
	if err != nil {
		return err
	}
	alive := map[int]bool{}
	for _, b := range infos {
		alive[b.ID] = b.Alive
	}
	type started struct {
		id     int
		proc   *os.Process
		log    string
		logEnd int64 // the log's size before this broker wrote to it
		done   chan error
	}
	var procs []started
	for _, id := range ids {
		if alive[id] {
			continue
		}
		dataDir := c.BrokerDataDir(id)
		if err := os.MkdirAll(dataDir, 0o755); err != nil {
			return err
		}
		logPath := filepath.Join(dataDir, "broker.log")
		logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		var logEnd int64
		if fi, err := logf.Stat(); err == nil {
			logEnd = fi.Size()
		}
		cmd := exec.Command(self, "--dir", dir, "broker", "--id", strconv.Itoa(id),
			"--retention-check-interval", cc.Duration("retention-check-interval").String(),
			"--leader-imbalance-check-interval", cc.Duration("leader-imbalance-check-interval").String())
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // not killed by the terminal's ^C
		err = cmd.Start()
		logf.Close()
		if err != nil {
			return fmt.Errorf("start broker %d: %w", id, err)
		}
		s := started{id, cmd.Process, logPath, logEnd, make(chan error, 1)}
		go func() { s.done <- cmd.Wait() }()
		procs = append(procs, s)
	}
	wake := coord.Watch(ctx, []string{c.BrokersMetaDir()}, 50*time.Millisecond)
	up := func(id, pid int) bool {
		b, err := c.Broker(id)
		return err == nil && b.Alive && b.Pid == pid
	}
	for _, s := range procs {
	wait:
		for !up(s.id, s.proc.Pid) {
			select {
			case err := <-s.done:
				if b, _ := c.Broker(s.id); b.Alive {
					// Started by someone else meanwhile (mk broker run by
					// hand): it is up, which is what was asked.
					break wait
				}
				return fmt.Errorf("broker %d failed to start (%v): %s", s.id, err, lastLine(s.log, s.logEnd))
			case <-ctx.Done():
				return fmt.Errorf("broker %d did not come up within %s; see %s", s.id, cc.Duration("timeout"), s.log)
			case <-wake:
			}
		}
		// The broker runs on without us.
		s.proc.Release()
	}
	if len(procs) > 0 && format.IsTerminal(os.Stderr) {
		format.Infof(cc.App.ErrWriter, "started %d broker(s) in %s", len(procs), dir)
	}
	return nil
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

// clusterSignal sends sig to one or every live broker and waits until they
// are down.
// Damaged metadata does not keep brokers from being stopped: cluster.json
// is not needed, and a broker whose registration is damaged is found by
// its lock file. The damage is reported as warnings.
func clusterSignal(cc *cli.Context, sig syscall.Signal) error {
	d := &damage{}
	c, err := openReadable(cc, d)
	if err != nil {
		return err
	}
	infos, bad, err := c.BrokersReadable()
	if err != nil {
		return err
	}
	d.add(bad...)
	d.warn(cc)
	only := cc.Int("broker") // at least 1 when set (checkFlagValues)
	var targets []coord.BrokerInfo
	for _, b := range infos {
		if only != 0 && b.ID != only {
			continue
		}
		if b.LockHeld {
			targets = append(targets, b)
		}
	}
	// Stopping what is down succeeds, as systemctl stop does: the broker
	// is down, which is what was asked. A note says nothing was done.
	switch {
	case only != 0 && len(targets) == 0:
		if !slices.ContainsFunc(infos, func(b coord.BrokerInfo) bool { return b.ID == only }) {
			return fmt.Errorf("%w: broker %d is not registered in %s", errUnknownBroker, only, c.Dir())
		}
		format.Infof(cc.App.ErrWriter, "broker %d is not running", only)
		return nil
	case len(targets) == 0:
		format.Infof(cc.App.ErrWriter, "no broker is running")
		return nil
	}
	var unknown []string
	signalled := targets[:0:0]
	for _, b := range targets {
		if b.Pid <= 0 {
			// kill(0) would signal our own process group, kill(-1) every
			// process we may signal.
			unknown = append(unknown, strconv.Itoa(b.ID))
			continue
		}
		if err := syscall.Kill(b.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("signal broker %d (pid %d): %w", b.ID, b.Pid, err)
		}
		signalled = append(signalled, b)
	}
	targets = signalled
	ctx, cancel := context.WithTimeout(context.Background(), cc.Duration("timeout"))
	defer cancel()
	for _, b := range targets {
		// The kernel drops the lock as the process exits.
		if err := waitBrokerDown(ctx, c, b.ID); err != nil {
			return fmt.Errorf("broker %d (pid %d) is still running after %s", b.ID, b.Pid, cc.Duration("timeout"))
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("broker(s) %s are running but their pid is not known (damaged registration, no pid in the lock file); stop them by hand", strings.Join(unknown, ", "))
	}
	return nil
}

func clusterWait(cc *cli.Context) error {
	dir, err := clusterDir(cc)
	if err != nil {
		return err
	}
	n := cc.Int("brokers")
	ctx, cancel := context.WithTimeout(context.Background(), cc.Duration("timeout"))
	defer cancel()
	var c *coord.Cluster
	wake := coord.Watch(ctx, []string{dir, filepath.Join(dir, "meta"), filepath.Join(dir, "meta", "brokers")}, 50*time.Millisecond)
	for {
		if c == nil {
			c, _ = coord.Open(dir)
		}
		if c != nil {
			live, _ := c.LiveBrokers()
			ctl, _ := c.Controller()
			if len(live) >= n && ctl.Active {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: fewer than %d live brokers and an active controller in %s after %s", coord.ErrNoBroker, n, dir, cc.Duration("timeout"))
		case <-wake:
		}
	}
}

// waitBrokerDown waits until nobody holds broker id's lock.
func waitBrokerDown(ctx context.Context, c *coord.Cluster, id int) error {
	wake := coord.Watch(ctx, []string{c.BrokersMetaDir()}, 20*time.Millisecond)
	for {
		// The lock alone: a damaged registration does not matter here.
		b, err := c.Broker(id)
		if !b.LockHeld && (err == nil || errors.Is(err, coord.ErrCorruptMetadata)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		}
	}
}
