package commands

import (
	"cmp"
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"mk/cluster"
	"mk/format"
)

// --bootstrap-server: every client command can speak the Kafka protocol
// to a cluster (Apache Kafka, Redpanda, an mk cluster's listener) instead
// of reading the cluster directory. The command is the same; what it
// talks to is a cluster.Client of the other kind.

// clientCommands are the commands that work on a cluster.Client: the
// cluster directory, or with --bootstrap-server a Kafka cluster. Each is
// thin: it reads its flags, calls the Client, prints what it returns.
var clientCommands = map[string]clientCommand{
	"produce":              {openStrict, produceTo},
	"consume":              {openStrict, consumeFrom},
	"tail":                 {openStrict, tailFrom},
	"describe cluster":     {openReport, describeClusterOf},
	"cluster status":       {openReport, describeClusterOf},
	"describe topic":       {openReport, describeTopicOf},
	"describe topics":      {openReport, describeTopicsOf},
	"describe group":       {openReport, describeGroupOf},
	"describe producers":   {openReport, describeProducersOf},
	"topic create":         {openStrict, topicCreateIn},
	"topic list":           {openReport, topicListOf},
	"topic describe":       {openReport, describeTopicOf},
	"topic alter":          {openStrict, topicAlterIn},
	"topic delete":         {openStrict, topicDeleteIn},
	"group list":           {openReport, groupListOf},
	"group describe":       {openReport, describeGroupOf},
	"group reset-offsets":  {openWarn, groupResetOffsetsIn},
	"group delete":         {openWarn, groupDeleteIn},
	"group delete-offsets": {openStrict, groupDeleteOffsetsIn},
	"bench produce":        {openStrict, benchProduceTo},
	"bench consume":        {openStrict, benchConsumeFrom},
	"bench e2e":            {openStrict, benchE2EOn},
}

type clientCommand struct {
	open   openMode
	action func(cc *cli.Context, connect connector) error
}

// connector opens the cluster a command works on. A command calls it once
// its flags and arguments are read, so that a usage error is one whatever
// the cluster's state.
type connector func() (cluster.Client, error)

// openMode is how a command opens the cluster directory.
type openMode int

const (
	// openStrict: a damaged cluster.json is an error.
	openStrict openMode = iota
	// openReport: list and describe print what they can read, then name
	// the damaged cluster.json (as every damaged file) and exit 1.
	openReport
	// openWarn: a damaged cluster.json is a warning; the command needs
	// neither it nor other topics' files (reset-offsets, group delete).
	openWarn
)

// onLocal runs a command on the cluster directory.
func onLocal(cc *cli.Context, cmd clientCommand) error {
	d := &damage{}
	opened := false
	connect := func() (cluster.Client, error) {
		dir, err := clusterDir(cc)
		if err != nil {
			return nil, err
		}
		if cmd.open == openStrict {
			return cluster.OpenLocal(dir)
		}
		l, bad, err := cluster.OpenLocalReadable(dir)
		if err != nil {
			return nil, err
		}
		opened = true
		d.add(bad...)
		if cmd.open == openWarn {
			d.warn(cc)
			d = &damage{}
		}
		return l, nil
	}
	err := cmd.action(cc, connect)
	var ee *format.ExitError
	if opened && (err == nil || errors.As(err, &ee) && ee.Err == nil) {
		// Printed: name the damaged cluster.json after the rest.
		return cmp.Or(d.report(cc), err)
	}
	return err
}

// connectionFlags are the flags of a command that can reach a Kafka
// cluster. --timeout is added where the command has none of its own.
func connectionFlags(has func(string) bool) []cli.Flag {
	fs := []cli.Flag{
		&cli.StringFlag{Name: "bootstrap-server", Aliases: []string{"b"}, EnvVars: []string{"MK_BOOTSTRAP_SERVER"},
			Usage: "speak the Kafka protocol to the cluster at `HOST:PORT[,HOST:PORT...]` (any Kafka cluster, or an mk cluster's --listen) instead of reading the cluster directory"},
		&cli.BoolFlag{Name: "tls", Usage: "with --bootstrap-server: connect with TLS, trusting the system's certificate authorities"},
		&cli.StringFlag{Name: "tls-ca", Usage: "with --tls: trust the certificate authorities in this PEM `FILE` instead"},
		&cli.StringFlag{Name: "tls-cert", Usage: "with --tls: present this client certificate (PEM `FILE`)"},
		&cli.StringFlag{Name: "tls-key", Usage: "with --tls: the client certificate's private key (PEM `FILE`)"},
		&cli.BoolFlag{Name: "tls-insecure", Usage: "with --tls: do not verify the brokers' certificates"},
		&cli.StringFlag{Name: "sasl-mechanism", Usage: "with --bootstrap-server: authenticate with PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; the password is read from $MK_SASL_PASSWORD"},
		&cli.StringFlag{Name: "sasl-user", Usage: "with --sasl-mechanism: the SASL user name"},
	}
	if !has("timeout") {
		fs = append(fs, &cli.DurationFlag{Name: "timeout", Value: 30 * time.Second,
			Usage: "how long to wait for the cluster to connect and to answer (locally: a broker's answer to topic create, alter and delete, and to describe producers)"})
	}
	return fs
}

// addConnectionFlags gives every client command its connection flags and
// an action that, with --bootstrap-server, runs against the Kafka
// cluster.
func addConnectionFlags(cmds []*cli.Command, path string) {
	for _, c := range cmds {
		p := strings.TrimSpace(path + " " + c.Name)
		if cmd, ok := clientCommands[p]; ok {
			c.Flags = append(c.Flags, connectionFlags(func(name string) bool { return lookupFlag(c.Flags, name) != nil })...)
			c.Action = func(cc *cli.Context) error {
				if cc.String("bootstrap-server") == "" {
					for _, f := range []string{"tls", "tls-ca", "tls-cert", "tls-key", "tls-insecure", "sasl-mechanism", "sasl-user"} {
						if cc.IsSet(f) {
							return format.Usagef("--%s needs --bootstrap-server", f)
						}
					}
					return onLocal(cc, cmd)
				}
				var k *cluster.Kafka
				defer func() {
					if k != nil {
						k.Close()
					}
				}()
				return cmd.action(cc, func() (cluster.Client, error) {
					var err error
					k, err = dialKafka(cc)
					if err != nil {
						return nil, err
					}
					return k, nil
				})
			}
		}
		addConnectionFlags(c.Subcommands, p)
	}
}

// kafkaOptions reads the connection flags.
func kafkaOptions(cc *cli.Context) (cluster.KafkaOptions, error) {
	addrs, err := cluster.ParseBootstrap(cc.String("bootstrap-server"))
	if err != nil {
		return cluster.KafkaOptions{}, format.Usagef("--bootstrap-server: %v", err)
	}
	o := cluster.KafkaOptions{Bootstrap: addrs, Timeout: cc.Duration("timeout"), ClientID: "mk"}
	tlsSet := slices.ContainsFunc([]string{"tls-ca", "tls-cert", "tls-key", "tls-insecure"}, cc.IsSet)
	if tlsSet && !cc.Bool("tls") {
		return o, format.Usagef("--tls-ca, --tls-cert, --tls-key and --tls-insecure need --tls")
	}
	if cc.Bool("tls") {
		if o.TLS, err = cluster.TLSConfig(cc.String("tls-ca"), cc.String("tls-cert"), cc.String("tls-key"), cc.Bool("tls-insecure")); err != nil {
			return o, format.Usagef("%v", err)
		}
	}
	if m := cc.String("sasl-mechanism"); m != "" {
		switch strings.ToUpper(m) {
		case cluster.SASLPlain, cluster.SASLScramSHA256, cluster.SASLScramSHA512:
		default:
			return o, format.Usagef("--sasl-mechanism %q: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", m)
		}
		if cc.String("sasl-user") == "" {
			return o, format.Usagef("--sasl-mechanism needs --sasl-user")
		}
		pw, ok := os.LookupEnv("MK_SASL_PASSWORD")
		if !ok {
			return o, format.Usagef("--sasl-mechanism needs the password in $MK_SASL_PASSWORD (never on the command line)")
		}
		o.SASLMechanism, o.SASLUser, o.SASLPassword = strings.ToUpper(m), cc.String("sasl-user"), pw
	} else if cc.IsSet("sasl-user") {
		return o, format.Usagef("--sasl-user needs --sasl-mechanism")
	}
	return o, nil
}

// dialKafka connects to the cluster --bootstrap-server names.
func dialKafka(cc *cli.Context) (*cluster.Kafka, error) {
	o, err := kafkaOptions(cc)
	if err != nil {
		return nil, err
	}
	ctx, stop := signalContext()
	defer stop()
	k, err := cluster.DialKafka(ctx, o)
	if err != nil && ctx.Err() != nil {
		// SIGINT or SIGTERM while connecting: the exit status says so,
		// as once connected (not the context's "context canceled").
		return nil, &format.ExitError{Code: format.ExitInterrupted}
	}
	return k, err
}

// requestContext is a command's context: ended by SIGINT or SIGTERM.
func requestContext() (context.Context, context.CancelFunc) { return signalContext() }

// timeoutContext is requestContext ended also by --timeout when the
// command works on the cluster directory: for commands that ask a broker
// on its socket there too (topic create, alter and delete, describe
// producers), so that a broker that does not answer (stopped: SIGSTOP)
// holds them no longer than --timeout. With --bootstrap-server the Kafka
// client bounds each exchange by --timeout itself, and says which broker
// did not answer.
func timeoutContext(cc *cli.Context) (context.Context, context.CancelFunc) {
	ctx, stop := signalContext()
	if cc.String("bootstrap-server") != "" {
		return ctx, stop
	}
	ctx, cancel := context.WithTimeout(ctx, cc.Duration("timeout"))
	return ctx, func() { cancel(); stop() }
}
