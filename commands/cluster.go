package commands

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"mk/cluster"
	"mk/coord"
	"mk/format"
	"mk/groupcoord"
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
once every one is registered and alive and one of them is the active
controller. Brokers already running are left
alone; several starts at once take turns, and all succeed.

Every broker serves the Kafka protocol on its Unix socket,
DIR/brokers/ID/kafka.sock. With --listen HOST:PORT they also serve it on TCP,
broker i on port PORT+i-1 (port 0: each on a free port), so that any Kafka
client can use the cluster; mk cluster bootstrap prints their addresses. A
broker restarted by mk cluster start keeps the address it had, also with
--listen HOST:0 when it had a port on HOST; should another process hold that
port by then, with HOST:0 the broker gets a new free port (said on stderr).
The ports are otherwise checked before any broker starts: a port in use is
an error naming it, and nothing is started. If a broker still fails to start, the ones this command
started are stopped again.

   mk cluster start --brokers 3
   mk cluster start --brokers 3 --listen 127.0.0.1:9092
   kcat -b "$(mk cluster bootstrap)" -L`,
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "brokers", Usage: "start brokers 1..N"},
					&cli.StringFlag{Name: "listen", Usage: "also serve the Kafka protocol on TCP: broker i on `HOST:PORT`+i-1 (port 0: free ports)"},
					&cli.DurationFlag{Name: "retention-check-interval", Value: 5 * time.Minute, Usage: "passed to each broker"},
					&cli.DurationFlag{Name: "leader-imbalance-check-interval", Value: coord.LeaderImbalanceCheckInterval, Usage: "passed to each broker"},
					&cli.DurationFlag{Name: "group-initial-rebalance-delay", Value: groupcoord.DefaultInitialRebalanceDelay, Usage: "passed to each broker (0: a Kafka client group's first member starts at once)"},
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
				Description: "   mk cluster status\n   mk cluster status -o json",
			},
			{
				Name:      "bootstrap",
				Usage:     "print the live brokers' Kafka addresses, comma-separated (a client's bootstrap servers)",
				ArgsUsage: " ",
				Description: `Prints HOST:PORT,HOST:PORT,... of every live broker that serves the Kafka
protocol on TCP (started with --listen), so that a Kafka client can be pointed
at the cluster. Exits 5 when no broker is running or none listens on TCP.

   mk cluster start --brokers 3 --listen 127.0.0.1:9092
   kcat -b "$(mk cluster bootstrap)" -L`,
				Action: clusterBootstrap,
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
	var listen *cluster.Listen
	if cc.IsSet("listen") {
		if listen, err = cluster.ParseListen(cc.String("listen")); err != nil {
			return err
		}
	}
	if cc.IsSet("brokers") && cc.Int("brokers") < 1 {
		return format.Usagef("cluster start: --brokers must be at least 1")
	}
	self, err := selfPath()
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
	return c.WithStartLock(ctx, func() error {
		n, err := cluster.StartBrokers(ctx, c, cluster.StartOptions{
			Brokers: cc.Int("brokers"),
			Listen:  listen,
			Self:    self,
			BrokerArgs: []string{
				"--retention-check-interval", cc.Duration("retention-check-interval").String(),
				"--leader-imbalance-check-interval", cc.Duration("leader-imbalance-check-interval").String(),
				"--group-initial-rebalance-delay", cc.Duration("group-initial-rebalance-delay").String(),
			},
			Timeout: cc.Duration("timeout"),
			Warnf:   warnf(cc.App.ErrWriter),
		})
		if n > 0 && err == nil && format.IsTerminal(os.Stderr) {
			format.Infof(cc.App.ErrWriter, "started %d broker(s) in %s", n, dir)
		}
		return err
	})
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

// clusterBootstrap prints the live brokers' advertised TCP addresses.
func clusterBootstrap(cc *cli.Context) error {
	if cc.NArg() > 0 {
		return format.Usagef("cluster bootstrap: takes no arguments")
	}
	c, err := openCluster(cc)
	if err != nil {
		return err
	}
	live, err := c.RequireLiveBroker()
	if err != nil {
		return err
	}
	var addrs []string
	for _, id := range live {
		if b, err := c.Broker(id); err == nil && b.Alive && b.Address != "" {
			addrs = append(addrs, b.Address)
		}
	}
	if len(addrs) == 0 {
		return format.Exitf(format.ExitUnavailable, "no live broker in %s listens on TCP; restart the cluster with a listener: mk cluster stop && mk cluster start --listen 127.0.0.1:9092", c.Dir())
	}
	_, err = fmt.Fprintln(cc.App.Writer, strings.Join(addrs, ","))
	return err
}
