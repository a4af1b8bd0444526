package commands

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"mk/coord"
	"mk/format"
	"mk/groupcoord"
	"mk/replica"
	"mk/server"
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
retention. It serves the Kafka protocol on the Unix socket
DIR/brokers/N/kafka.sock and, with --listen, on TCP, so that any Kafka client
can use the cluster. The TCP address it advertises (--advertise, else the
bound one) is in its registration: mk describe cluster shows it, mk cluster
bootstrap lists it, and mk cluster start restarts the broker on the same
port. SIGINT or SIGTERM stop it cleanly (exit 0).

   mk broker --id 1 &
   mk broker --id 2 --retention-check-interval 1s &
   mk broker --id 3 --listen 127.0.0.1:9092 &
   mk broker --id 4 --listen 0.0.0.0:9095 --advertise kafka.example:9095 &`,
		Flags: []cli.Flag{
			// Not Required: urfave/cli would print the help to stdout for it.
			&cli.IntFlag{Name: "id", Usage: "broker id (a positive integer; required)"},
			&cli.DurationFlag{Name: "retention-check-interval", Value: 5 * time.Minute, Usage: "how often retention runs (log.retention.check.interval.ms)"},
			&cli.DurationFlag{Name: "checkpoint-interval", Value: time.Minute, Usage: "how often checkpoints are written"},
			&cli.DurationFlag{Name: "session-timeout", Value: coord.SessionTimeout, Usage: "a broker whose heartbeat is older than this is failed (broker.session.timeout.ms)"},
			&cli.DurationFlag{Name: "leader-imbalance-check-interval", Value: coord.LeaderImbalanceCheckInterval, Usage: "how often the controller gives leadership back to preferred replicas (leader.imbalance.check.interval.seconds)"},
			&cli.DurationFlag{Name: "replica-lag-time-max", Value: 30 * time.Second, Usage: "a follower not caught up for this long leaves the ISR (replica.lag.time.max.ms)"},
			&cli.DurationFlag{Name: "producer-id-expiration", Value: 24 * time.Hour, Usage: "an idempotent producer that wrote nothing to a partition for this long is forgotten there (producer.id.expiration.ms)"},
			&cli.DurationFlag{Name: "producer-id-expiration-check-interval", Value: 10 * time.Minute, Usage: "how often expired producers are forgotten (producer.id.expiration.check.interval.ms)"},
			&cli.StringFlag{Name: "listen", Usage: "also serve the Kafka protocol on TCP at `HOST:PORT` (Kafka's listeners; port 0 picks a free port)"},
			&cli.StringFlag{Name: "advertise", Usage: "the `HOST:PORT` clients are told to use for the TCP listener, when it differs from --listen (advertised.listeners)"},
			&cli.DurationFlag{Name: "group-initial-rebalance-delay", Value: groupcoord.DefaultInitialRebalanceDelay, Usage: "how long a Kafka client group's first rebalance waits for more members (group.initial.rebalance.delay.ms)"},
			&cli.DurationFlag{Name: "group-min-session-timeout", Value: groupcoord.DefaultMinSessionTimeout, Usage: "the shortest session timeout a Kafka group member may ask for (group.min.session.timeout.ms)"},
			&cli.DurationFlag{Name: "group-max-session-timeout", Value: groupcoord.DefaultMaxSessionTimeout, Usage: "the longest session timeout a Kafka group member may ask for (group.max.session.timeout.ms)"},
		},
		Action: runBroker,
	}
}

func runBroker(cc *cli.Context) error {
	id := cc.Int("id")
	if !cc.IsSet("id") {
		return format.Usagef("broker: missing --id: give the broker id, a positive integer")
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
	coord.LeaderImbalanceCheckInterval = cc.Duration("leader-imbalance-check-interval") // positive (checkFlagValues)
	if cc.Duration("group-max-session-timeout") < cc.Duration("group-min-session-timeout") {
		return format.Usagef("broker: --group-max-session-timeout must be at least --group-min-session-timeout")
	}
	if cc.IsSet("advertise") && !cc.IsSet("listen") {
		return format.Usagef("broker: --advertise needs --listen")
	}
	sess, err := c.RegisterBroker(id)
	if err != nil {
		return err
	}
	defer sess.Close()
	// Both listeners are bound before the address is registered, so that
	// a registered address (what mk cluster start waits for, and what
	// mk cluster bootstrap prints) accepts connections.
	var tcp net.Listener
	var listen, advertised string
	if addr := cc.String("listen"); addr != "" {
		if tcp, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("broker %d: cannot listen on %s: %w", id, addr, errors.Unwrap(err))
		}
		bound := tcp.Addr().(*net.TCPAddr)
		if advertised, err = advertisedAddress(cc.String("advertise"), bound); err != nil {
			tcp.Close()
			return err
		}
		// The host as asked, the port as bound: what mk cluster start
		// passes to --listen when it restarts this broker.
		host, _, _ := net.SplitHostPort(addr)
		listen = net.JoinHostPort(host, strconv.Itoa(bound.Port))
	}
	unixL, err := server.ListenUnixPath(c.SocketPath(id))
	if err != nil {
		if tcp != nil {
			tcp.Close()
		}
		return fmt.Errorf("broker %d: %w", id, err)
	}
	if err := sess.SetListener(listen, advertised); err != nil {
		if tcp != nil {
			tcp.Close()
		}
		unixL.Close()
		return err
	}
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

		ProducerIDExpiration:              cc.Duration("producer-id-expiration"),
		ProducerIDExpirationCheckInterval: cc.Duration("producer-id-expiration-check-interval"),
		Logf:                              logf,
		Lease:                             sess.Lease,
		LeaseSlack:                        sess.LeaseSlack(),
	})
	groups := groupcoord.New(groupcoord.Config{
		Cluster:               c,
		BrokerID:              id,
		InitialRebalanceDelay: cc.Duration("group-initial-rebalance-delay"),
		MinSessionTimeout:     cc.Duration("group-min-session-timeout"),
		MaxSessionTimeout:     cc.Duration("group-max-session-timeout"),
		Logf:                  logf,
	})
	srv := server.New(server.Config{
		Cluster:    c,
		Replicas:   mgr,
		Groups:     groups,
		BrokerID:   id,
		SocketPath: c.SocketPath(id),
		Advertised: sess.Info().Address,
		Listen:     sess.Info().Listen,
		Settings:   brokerSettings(cc),
		Logf:       logf,
	})
	defer srv.Close()
	srv.Serve(unixL, true)
	if tcp != nil {
		srv.Serve(tcp, false)
		logf("serving the Kafka protocol on %s (advertised as %s) and %s", tcp.Addr(), sess.Info().Address, c.SocketPath(id))
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		groups.Run(ctx)
	}()
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
	groups.Close()
	srv.Close()
	wg.Wait()
	logf("stopped")
	return err
}

// advertisedAddress is the address a TCP listener is advertised at: the
// --advertise value, else the bound address, with an unspecified host
// (0.0.0.0, ::) advertised as localhost.
func advertisedAddress(flag string, bound *net.TCPAddr) (string, error) {
	if flag != "" {
		host, port, err := net.SplitHostPort(flag)
		if err != nil || host == "" {
			return "", format.Usagef("broker: --advertise %q: give HOST:PORT", flag)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return "", format.Usagef("broker: --advertise %q: the port must be 1 to 65535", flag)
		}
		return flag, nil
	}
	host := bound.IP.String()
	if bound.IP.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, strconv.Itoa(bound.Port)), nil
}

// brokerSettings are the broker's flags under Kafka's config names, as
// DescribeConfigs shows them.
func brokerSettings(cc *cli.Context) []server.Setting {
	ms := func(flag string) string { return strconv.FormatInt(cc.Duration(flag).Milliseconds(), 10) }
	return []server.Setting{
		{Name: "log.retention.check.interval.ms", Value: ms("retention-check-interval"), Static: cc.IsSet("retention-check-interval")},
		{Name: "log.flush.offset.checkpoint.interval.ms", Value: ms("checkpoint-interval"), Static: cc.IsSet("checkpoint-interval")},
		{Name: "broker.session.timeout.ms", Value: ms("session-timeout"), Static: cc.IsSet("session-timeout")},
		{Name: "leader.imbalance.check.interval.seconds", Value: strconv.FormatInt(int64(cc.Duration("leader-imbalance-check-interval").Seconds()), 10), Static: cc.IsSet("leader-imbalance-check-interval")},
		{Name: "replica.lag.time.max.ms", Value: ms("replica-lag-time-max"), Static: cc.IsSet("replica-lag-time-max")},
	}
}
