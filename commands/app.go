// Package commands is mk's command line: one file per subcommand. Each
// reads its flags, calls the packages that do the work, and prints through
// package format. Nothing below this package prints.
package commands

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"mk/client"
	"mk/coord"
	"mk/format"
	"mk/logdir"
)

// Stdio is where a command reads and writes; tests replace it.
type Stdio struct {
	In       io.Reader
	Out, Err io.Writer
}

// Main runs mk with the process's arguments and returns the exit code.
func Main() int {
	return Run(os.Args, Stdio{os.Stdin, os.Stdout, os.Stderr})
}

// Run runs mk with args (args[0] is the program name) and returns the exit
// code.
func Run(args []string, stdio Stdio) int {
	app := newApp(stdio)
	if len(args) > 1 && args[1] == "help" {
		// "mk help produce" is "mk produce --help".
		args = append(append([]string{args[0]}, args[2:]...), "--help")
	}
	if err := unknownCommand(app, args); err != nil {
		return format.Report(stdio.Err, err)
	}
	err := app.Run(reorderArgs(app, args))
	return format.Report(stdio.Err, classify(err))
}

// NewApp returns mk's command tree (for tests that walk it).
func NewApp(stdio Stdio) *cli.App { return newApp(stdio) }

func newApp(stdio Stdio) *cli.App {
	app := &cli.App{
		Name:  "mk",
		Usage: "a Kafka that is a directory",
		Description: `mk runs a Kafka-style cluster on one machine out of plain files: brokers are
background processes, every other command is a one-shot client that works in
shell pipelines.

   mk cluster start --brokers 3
   mk topic create orders --partitions 3
   seq 10 | mk produce orders
   mk consume orders --from-beginning -e
   mk describe topic orders

The cluster directory is --dir, else $MK_DIR, else ` + defaultDirDoc + `.`,
		Reader:                 stdio.In,
		Writer:                 stdio.Out,
		ErrWriter:              stdio.Err,
		HideHelpCommand:        true,
		UseShortOptionHandling: true,
		// Values keep their commas: --config cleanup.policy=compact,delete
		// and --topic orders:0,2 are one value each (repeat the flag for more).
		DisableSliceFlagSeparator: true,
		ExitErrHandler:            func(*cli.Context, error) {},
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Usage: "cluster directory", EnvVars: []string{"MK_DIR"}},
		},
		OnUsageError: usageError,
		Commands: []*cli.Command{
			brokerCommand(),
			clusterCommand(),
			topicCommand(),
			produceCommand(),
			consumeCommand(),
			tailCommand(),
			describeCommand(),
			groupCommand(),
			benchCommand(),
		},
	}
	addConnectionFlags(app.Commands, "")
	setUsageErrors(app.Commands)
	return app
}

const defaultDirDoc = "$XDG_DATA_HOME/mk (~/.local/share/mk)"

// setUsageErrors makes every command report usage errors as mk does, and
// check its numeric flags' values before it acts (checkFlagValues).
func setUsageErrors(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = usageError
		if act := c.Action; act != nil {
			c.Action = func(cc *cli.Context) error {
				if err := checkFlagValues(cc); err != nil {
					return err
				}
				return act(cc)
			}
		}
		setUsageErrors(c.Subcommands)
	}
}

func usageError(cc *cli.Context, err error, _ bool) error {
	// The flag package says `invalid value "abc" for flag -partitions:
	// parse error`; say what was wanted instead.
	if m := badFlagValue.FindStringSubmatch(err.Error()); m != nil {
		value, name, why := m[1], m[2], m[3]
		want := "a valid value"
		var defs []cli.Flag
		if cc != nil && cc.Command != nil {
			defs = cc.Command.Flags
		}
		if cc != nil && cc.App != nil {
			defs = append(defs, cc.App.Flags...)
		}
		f := lookupFlag(defs, name)
		if f != nil {
			name = f.Names()[0]
		}
		switch f.(type) {
		case *cli.IntFlag, *cli.Int64Flag:
			want = "an integer"
			if strings.Contains(why, "out of range") {
				want = "an integer of at most 64 bits"
			}
		case *cli.DurationFlag:
			want = "a duration such as 500ms, 30s, 5m or 1h"
		}
		return format.Usagef("--%s %q: want %s", name, value, want)
	}
	return format.Usagef("%v", err)
}

var badFlagValue = regexp.MustCompile(`^invalid value "(.*)" for flag -+([^:\s]+): (.*)$`)

// clusterDir is the cluster directory from --dir, $MK_DIR or the default.
func clusterDir(cc *cli.Context) (string, error) {
	if d := cc.String("dir"); d != "" {
		return d, nil
	}
	return coord.DefaultDir()
}

// openCluster opens an existing cluster.
func openCluster(cc *cli.Context) (*coord.Cluster, error) {
	dir, err := clusterDir(cc)
	if err != nil {
		return nil, err
	}
	return coord.Open(dir)
}

// classify gives errors their documented exit code.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var ee *format.ExitError
	if errors.As(err, &ee) {
		return err
	}
	code := format.ExitFailure
	switch {
	case errors.Is(err, coord.ErrCorruptMetadata), errors.Is(err, logdir.ErrCorrupt):
		// First: a damaged file may hold an invalid name or config, which
		// is not the user's usage.
		code = format.ExitFailure
	case errors.Is(err, coord.ErrInvalidTopic), errors.Is(err, coord.ErrInvalidGroup),
		errors.Is(err, coord.ErrInvalidPartitions), errors.Is(err, coord.ErrInvalidReplicationFactor),
		errors.Is(err, coord.ErrInvalidConfig):
		// A name or value the user gave that mk refuses: nothing was done.
		code = format.ExitUsage
	case errors.Is(err, coord.ErrNoCluster), errors.Is(err, coord.ErrUnknownTopic), errors.Is(err, coord.ErrUnknownGroup),
		errors.Is(err, client.ErrPartitionRange), errors.Is(err, errUnknownBroker):
		code = format.ExitNotFound
	case errors.Is(err, coord.ErrNoBroker), errors.Is(err, client.ErrNoLeader),
		errors.Is(err, client.ErrLeaderNotReady), errors.Is(err, client.ErrNotEnoughReplicas):
		code = format.ExitUnavailable
	case errors.Is(err, client.ErrNotAcknowledged):
		code = format.ExitNotAcknowledged
	}
	if code == format.ExitFailure {
		var ue interface{ ExitCode() int }
		if errors.As(err, &ue) {
			return err
		}
	}
	return format.WithExitCode(code, err)
}

var errUnknownBroker = errors.New("unknown broker")

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// outputFlag is -o table|json for list and describe commands.
func outputFlag() *cli.StringFlag {
	return &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "output format: table or json"}
}

func outputMode(cc *cli.Context) (string, error) {
	switch o := cc.String("output"); o {
	case "table", "json":
		return o, nil
	default:
		return "", format.Usagef("unknown output format %q: use table or json", o)
	}
}

// openReadable opens the cluster for a command that reads what it can or
// stops brokers: a damaged cluster.json is added to d, not a failure.
func openReadable(cc *cli.Context, d *damage) (*coord.Cluster, error) {
	dir, err := clusterDir(cc)
	if err != nil {
		return nil, err
	}
	c, bad, err := coord.OpenReadable(dir)
	d.add(bad)
	return c, err
}

// outputAndCluster is how list and describe commands start: -o, then the
// cluster, opened to read what can be read. What could not be read goes
// to the damage the command reports when it has printed the rest.
func outputAndCluster(cc *cli.Context) (string, *coord.Cluster, *damage, error) {
	mode, err := outputMode(cc)
	if err != nil {
		return "", nil, nil, err
	}
	d := &damage{}
	c, err := openReadable(cc, d)
	return mode, c, d, err
}

// argAndCluster is how commands on one named thing start: the argument,
// then the cluster.
func argAndCluster(cc *cli.Context, what string) (string, *coord.Cluster, error) {
	arg, err := oneArg(cc, what)
	if err != nil {
		return "", nil, err
	}
	c, err := openCluster(cc)
	return arg, c, err
}

// oneArg returns the single positional argument named what.
func oneArg(cc *cli.Context, what string) (string, error) {
	// HelpName is "mk topic create"; FullName is only "create" for a
	// subcommand in urfave/cli v2.
	name := strings.TrimPrefix(cc.Command.HelpName, cc.App.Name+" ")
	switch cc.NArg() {
	case 1:
		return cc.Args().First(), nil
	case 0:
		return "", format.Usagef("%s: missing %s", name, what)
	default:
		return "", format.Usagef("%s: too many arguments: want one %s", name, what)
	}
}

func warnf(w io.Writer) func(string, ...any) {
	return func(f string, args ...any) { format.Warnf(w, f, args...) }
}

func infof(w io.Writer) func(string, ...any) {
	return func(f string, args ...any) { format.Infof(w, f, args...) }
}

// reorderArgs moves flags given after positional arguments in front of
// them, so that `mk produce orders --key u1` works as Kafka users type it:
// urfave/cli v2 stops at the first positional argument. It knows which
// flags take a value from the command's own flag definitions; global flags
// (--dir) may appear anywhere. "--" ends the flags as usual.
func reorderArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	global := []string{}
	chain := []string{}
	var flags []cli.Flag
	cmds := app.Commands
	i := 1
	takeFlag := func(defs []cli.Flag, dst *[]string) bool {
		a := args[i]
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := lookupFlag(defs, name)
		if f == nil {
			return false
		}
		*dst = append(*dst, a)
		i++
		if _, isBool := f.(*cli.BoolFlag); !isBool && !hasValue && i < len(args) {
			*dst = append(*dst, args[i])
			i++
		}
		return true
	}
	for i < len(args) {
		a := args[i]
		if isFlagArg(a) {
			if !takeFlag(app.Flags, &global) {
				break // unknown: let the parser say so
			}
			continue
		}
		var cmd *cli.Command
		for _, c := range cmds {
			if c.HasName(a) {
				cmd = c
			}
		}
		if cmd == nil {
			break
		}
		chain = append(chain, a)
		flags, cmds = cmd.Flags, cmd.Subcommands
		i++
		if len(cmds) == 0 {
			break
		}
	}
	var local, positional []string
	for i < len(args) {
		a := args[i]
		switch {
		case a == "--":
			positional = append(positional, args[i+1:]...)
			i = len(args)
		case isFlagArg(a) && takeFlag(app.Flags, &global):
		case isFlagArg(a) && takeFlag(flags, &local):
		case isFlagArg(a):
			local = append(local, a) // unknown: the parser reports it
			i++
		default:
			positional = append(positional, a)
			i++
		}
	}
	out := append([]string{args[0]}, global...)
	out = append(out, chain...)
	out = append(out, local...)
	for _, p := range positional {
		if strings.HasPrefix(p, "-") {
			out = append(out, "--")
			break
		}
	}
	return append(out, positional...)
}

// unknownCommand reports a command or subcommand name that does not
// exist as a usage error (urfave/cli would print "no help topic" and exit 3).
func unknownCommand(app *cli.App, args []string) error {
	cmds, path := app.Commands, "mk"
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return nil
		}
		if isFlagArg(a) {
			if f := lookupFlag(app.Flags, strings.TrimLeft(strings.SplitN(a, "=", 2)[0], "-")); f != nil && !strings.Contains(a, "=") {
				if _, isBool := f.(*cli.BoolFlag); !isBool {
					i++ // the flag's value
				}
			}
			continue
		}
		if a == "help" || a == "h" {
			return nil // a command group's own help
		}
		var cmd *cli.Command
		for _, c := range cmds {
			if c.HasName(a) {
				cmd = c
			}
		}
		if cmd == nil {
			return format.Usagef("unknown command %q; see %s --help", a, path)
		}
		if len(cmd.Subcommands) == 0 {
			return nil // the rest are the command's own arguments
		}
		cmds, path = cmd.Subcommands, path+" "+cmd.Name
	}
	return nil
}

func isFlagArg(a string) bool { return len(a) > 1 && a[0] == '-' }

func lookupFlag(defs []cli.Flag, name string) cli.Flag {
	for _, f := range defs {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}
