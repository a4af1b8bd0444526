package commands

import (
	"context"
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

// clientCommands are the commands that take --bootstrap-server, each with
// its action over a cluster.Client.
var clientCommands = map[string]func(cc *cli.Context, c cluster.Client) error{
	"produce":              produceTo,
	"consume":              consumeFrom,
	"tail":                 tailFrom,
	"describe cluster":     describeClusterOf,
	"describe topic":       describeTopicOf,
	"describe topics":      describeTopicsOf,
	"describe group":       describeGroupOf,
	"topic create":         topicCreateIn,
	"topic list":           topicListOf,
	"topic describe":       describeTopicOf,
	"topic alter":          topicAlterIn,
	"topic delete":         topicDeleteIn,
	"group list":           groupListOf,
	"group describe":       describeGroupOf,
	"group reset-offsets":  groupResetOffsetsIn,
	"group delete":         groupDeleteIn,
	"group delete-offsets": groupDeleteOffsetsIn,
	"bench produce":        benchProduceTo,
	"bench consume":        benchConsumeFrom,
	"bench e2e":            benchE2EOn,
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
			Usage: "with --bootstrap-server: how long to wait for the cluster to connect and to answer"})
	}
	return fs
}

// addConnectionFlags gives every client command its connection flags and
// an action that, with --bootstrap-server, runs against the Kafka
// cluster.
func addConnectionFlags(cmds []*cli.Command, path string) {
	for _, c := range cmds {
		p := strings.TrimSpace(path + " " + c.Name)
		if remote, ok := clientCommands[p]; ok {
			c.Flags = append(c.Flags, connectionFlags(func(name string) bool { return lookupFlag(c.Flags, name) != nil })...)
			local := c.Action
			c.Action = func(cc *cli.Context) error {
				if cc.String("bootstrap-server") == "" {
					for _, f := range []string{"tls", "tls-ca", "tls-cert", "tls-key", "tls-insecure", "sasl-mechanism", "sasl-user"} {
						if cc.IsSet(f) {
							return format.Usagef("--%s needs --bootstrap-server", f)
						}
					}
					return local(cc)
				}
				k, err := dialKafka(cc)
				if err != nil {
					return err
				}
				defer k.Close()
				return remote(cc, k)
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
	return cluster.DialKafka(ctx, o)
}

// requestContext is a command's context: ended by SIGINT or SIGTERM.
func requestContext() (context.Context, context.CancelFunc) { return signalContext() }
