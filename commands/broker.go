package commands

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"mk/coord"
	"mk/format"
	"mk/replica"
)

func brokerCommand() *cli.Command {
	return &cli.Command{
		Name:      "broker",
		Usage:     "run broker N in the foreground (normally started by mk cluster start)",
		ArgsUsage: " ",
		Description: `A broker owns the partition replicas in DIR/brokers/N. It holds the lock
DIR/meta/brokers/N.lock for its lifetime (its liveness), heartbeats, competes
to be the controller, recovers its replicas at start, takes the roles the
controller gives them, copies from leaders into its followers, and applies
retention. SIGINT or SIGTERM stop it cleanly (exit 0).

   mk broker --id 1 &
   mk broker --id 2 --retention-check-interval 1s &`,
		Flags: []cli.Flag{
			// Not Required: urfave/cli would print the help to stdout for it.
			&cli.IntFlag{Name: "id", Usage: "broker id (a positive integer; required)"},
			&cli.DurationFlag{Name: "retention-check-interval", Value: 5 * time.Minute, Usage: "how often retention runs (log.retention.check.interval.ms)"},
			&cli.DurationFlag{Name: "checkpoint-interval", Value: time.Minute, Usage: "how often checkpoints are written"},
			&cli.DurationFlag{Name: "session-timeout", Value: coord.SessionTimeout, Usage: "a broker whose heartbeat is older than this is failed (broker.session.timeout.ms)"},
			&cli.DurationFlag{Name: "leader-imbalance-check-interval", Value: coord.LeaderImbalanceCheckInterval, Usage: "how often the controller gives leadership back to preferred replicas (leader.imbalance.check.interval.seconds)"},
			&cli.DurationFlag{Name: "replica-lag-time-max", Value: 30 * time.Second, Usage: "a follower not caught up for this long leaves the ISR (replica.lag.time.max.ms)"},
		},
		Action: runBroker,
	}
}

func runBroker(cc *cli.Context) error {
	id := cc.Int("id")
	if !cc.IsSet("id") {
		return format.Usagef("broker: missing --id: give the broker id, a positive integer")
	}
	if id <= 0 {
		return format.Usagef("broker: --id must be a positive integer, not %d", id)
	}
	dir, err := clusterDir(cc)
	if err != nil {
		return err
	}
	c, err := coord.Init(dir)
	if err != nil {
		return err
	}
	coord.SessionTimeout = cc.Duration("session-timeout")
	coord.LeaderImbalanceCheckInterval = cc.Duration("leader-imbalance-check-interval")
	if coord.LeaderImbalanceCheckInterval <= 0 {
		return format.Usagef("broker: --leader-imbalance-check-interval must be positive")
	}
	sess, err := c.RegisterBroker(id)
	if err != nil {
		return err
	}
	defer sess.Close()
	stderr := cc.App.ErrWriter
	var logMu sync.Mutex
	logf := func(f string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		format.Infof(stderr, "%s broker %d: %s", time.Now().Format("15:04:05.000"), id, fmt.Sprintf(f, args...))
	}
	ctx, stop := signalContext()
	defer stop()
	mgr := replica.NewManager(c, id, replica.Options{
		RetentionCheckInterval: cc.Duration("retention-check-interval"),
		CheckpointInterval:     cc.Duration("checkpoint-interval"),
		ReplicaLagMax:          cc.Duration("replica-lag-time-max"),
		Logf:                   logf,
	})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := c.RunController(ctx, id, coord.ControllerHooks{
			OnElected:      func(epoch int64) { logf("elected controller (epoch %d)", epoch) },
			OnResigned:     func(epoch int64) { logf("no longer controller (epoch %d)", epoch) },
			OnLeaderChange: mgr.Fence,
			OnError:        func(err error) { logf("controller: %v", err) },
			Logf:           func(f string, args ...any) { logf("controller: %s", fmt.Sprintf(f, args...)) },
		})
		if err != nil {
			logf("controller: %v", err)
		}
	}()
	ready := make(chan struct{})
	go func() {
		select {
		case <-ready:
			logf("started (pid %d, data %s)", os.Getpid(), c.BrokerDataDir(id))
		case <-ctx.Done():
		}
	}()
	err = mgr.Run(ctx, ready)
	wg.Wait()
	logf("stopped")
	return err
}
