package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/urfave/cli/v2"

	"mk/commands"
)

// The scripts' second run, over the wire: the same scripts against the
// same kind of cluster, with every client command speaking the Kafka
// protocol to the brokers' TCP listeners (--bootstrap-server) instead of
// reading the cluster directory. In that run:
//
//   - every mk broker and mk cluster start listens on 127.0.0.1:0 (a free
//     port), unless the script says where;
//   - every client command a script runs (exec mk, exitcode, waitfor) gets
//     -b with the addresses registered in $MK_DIR/meta/brokers/<id>.json
//     (dead brokers' too: their ports refuse, as a dead broker does), unless
//     the script gives -b itself; with no broker registered at all the
//     command runs as it would locally (there is no cluster to speak to);
//   - the condition [wire] holds, so a script states where the answer over
//     the wire differs (a pid or a size that a Kafka client cannot know: -).
//
// wireScripts lists the scripts that run over the wire: every script of
// the client commands (produce, consume, tail, describe, topic, group,
// bench) and those of the cluster and broker commands that observe the
// cluster through client commands. The group_* scripts' members are then
// Kafka-protocol members of the brokers' group coordinators; the brokers
// start with --group-initial-rebalance-delay 0s (below). Not here:
// cluster_listen* (they test the listeners the wire run adds),
// cluster_corrupt_metadata (damaged local files), replica_*, retention_*
// and partition_* (broker internals, seen through the directory),
// cli_usage (no cluster).
// MK_WIRE_ALL=1 runs every script over the wire, to see which could join.
var wireScripts = []string{
	"bench_commands",
	"broker_already_running",
	"broker_bad_id",
	"broker_restart_keeps_data",
	"broker_sigterm",
	"cli_flag_values",
	"cluster_controller_failover",
	"cluster_describe_json",
	"cluster_start_concurrent",
	"cluster_start_stop",
	"consume_errors",
	"consume_from_end",
	"consume_from_time",
	"consume_json_roundtrip",
	"consume_multiple_topics",
	"consume_new_partitions",
	"consume_new_topic",
	"consume_no_leader",
	"consume_output_formats",
	"consume_start_positions",
	"consume_topic_deleted",
	"describe_corrupt_metadata",
	"describe_dead_brokers",
	"describe_producers",
	"describe_topic",
	"group_add_partitions",
	"group_bad_input",
	"group_commit_modes",
	"group_delete",
	"group_describe",
	"group_exit_at_end",
	"group_kill_member",
	"group_long_names",
	"group_reset_offsets",
	"group_restart",
	"group_retention",
	"group_session_timeout",
	"group_stopped_member",
	"group_three_members",
	"group_two_groups",
	"group_two_members",
	"produce_auto_create",
	"produce_consume_basic",
	"produce_dead_leader",
	"produce_json_malformed",
	"produce_key_flags",
	"produce_key_partition",
	"produce_no_broker",
	"produce_partition_acks",
	"produce_too_large",
	"produce_topic_deleted",
	"tail_last_then_follow",
	"topic_config_invalid",
	"topic_config_kafka_only",
	"topic_delete_while_creating",
	"topic_describe_configs",
	"topic_file_symlink",
	"topic_if_exists",
	"topic_lifecycle",
	"topic_names",
	"topic_partition_limits",
	"topic_replication_factor",
	"topic_spread",
}

// wireEnv is set in the scripts' environment in the wire run.
const wireEnv = "MK_TEST_WIRE"

func TestScriptsWire(t *testing.T) {
	var files []string
	if os.Getenv("MK_WIRE_ALL") != "" {
		files, _ = filepath.Glob("testdata/*.txtar")
	} else {
		for _, s := range wireScripts {
			files = append(files, filepath.Join("testdata", s+".txtar"))
		}
	}
	testscript.Run(t, scriptParams("", files, true))
}

// mkMain is mk in a script: in the wire run, with the listener and
// bootstrap flags added.
func mkMain() int {
	if os.Getenv(wireEnv) != "" {
		os.Args = wireArgs(os.Args, "")
	}
	return commands.Main()
}

// wireArgs adds what the wire run adds to args (mk's own arguments, with
// args[0] the program): --listen to commands that have it, -b to client
// commands. dir is the cluster directory when args do not name it ("":
// $MK_DIR).
func wireArgs(args []string, dir string) []string {
	app := commands.NewApp(commands.Stdio{})
	cmd, at := findCommand(app, args)
	if cmd == nil {
		return args
	}
	has := func(name string) bool {
		for _, f := range cmd.Flags {
			if slices.Contains(f.Names(), name) {
				return true
			}
		}
		return false
	}
	given := func(names ...string) bool {
		for _, a := range args[1:] {
			if a == "--" {
				return false
			}
			for _, n := range names {
				if a == "-"+n || a == "--"+n || strings.HasPrefix(a, "--"+n+"=") || strings.HasPrefix(a, "-"+n+"=") {
					return true
				}
			}
		}
		return false
	}
	var add []string
	if has("listen") && !given("listen") {
		add = append(add, "--listen", "127.0.0.1:0")
	}
	if has("group-initial-rebalance-delay") && !given("group-initial-rebalance-delay") {
		// Kafka's own tests run their brokers with
		// group.initial.rebalance.delay.ms=0: every new group's first
		// member would wait 3 s, which adds up over the group scripts'
		// dozens of short-lived members (and says nothing they test).
		add = append(add, "--group-initial-rebalance-delay", "0s")
	}
	if has("bootstrap-server") && !given("bootstrap-server", "b") && os.Getenv("MK_BOOTSTRAP_SERVER") == "" {
		if d := argDir(args); d != "" {
			dir = d
		}
		if dir == "" {
			dir = os.Getenv("MK_DIR")
		}
		if addrs := registeredAddresses(dir); addrs != "" {
			add = append(add, "-b", addrs)
		}
	}
	out := append(slices.Clone(args[:at]), add...)
	return append(out, args[at:]...)
}

// findCommand is the command args run and the index just after its name.
func findCommand(app *cli.App, args []string) (*cli.Command, int) {
	cmds := app.Commands
	var found *cli.Command
	at := 0
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--dir" {
			i++
			continue
		}
		if strings.HasPrefix(a, "-") {
			continue
		}
		var next *cli.Command
		for _, c := range cmds {
			if c.HasName(a) {
				next = c
			}
		}
		if next == nil {
			break
		}
		found, at, cmds = next, i+1, next.Subcommands
		if len(cmds) == 0 {
			break
		}
	}
	return found, at
}

func argDir(args []string) string {
	for i, a := range args {
		if a == "--dir" && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--dir="); ok {
			return v
		}
	}
	return ""
}

// registeredAddresses lists the Kafka addresses brokers registered in
// dir, by broker id.
func registeredAddresses(dir string) string {
	files, _ := filepath.Glob(filepath.Join(dir, "meta", "brokers", "*.json"))
	type reg struct {
		id   int
		addr string
	}
	var regs []reg
	for _, f := range files {
		id, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(f), ".json"))
		if err != nil {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var r struct{ Address string }
		if json.Unmarshal(data, &r) == nil && r.Address != "" {
			regs = append(regs, reg{id, r.Address})
		}
	}
	slices.SortFunc(regs, func(a, b reg) int { return a.id - b.id })
	var addrs []string
	for _, r := range regs {
		addrs = append(addrs, r.addr)
	}
	return strings.Join(addrs, ",")
}

// TestWireArgs: the wire run adds -b to client commands and --listen to
// brokers, and leaves alone what a script gave.
func TestWireArgs(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "meta", "brokers"), 0o755)
	os.WriteFile(filepath.Join(dir, "meta", "brokers", "2.json"), []byte(`{"id":2,"address":"127.0.0.1:9002"}`), 0o644)
	os.WriteFile(filepath.Join(dir, "meta", "brokers", "1.json"), []byte(`{"id":1,"address":"127.0.0.1:9001"}`), 0o644)
	for _, c := range []struct{ in, want string }{
		{"mk topic create t --partitions 2", "mk topic create -b 127.0.0.1:9001,127.0.0.1:9002 t --partitions 2"},
		{"mk --dir " + dir + " consume t -e", "mk --dir " + dir + " consume -b 127.0.0.1:9001,127.0.0.1:9002 t -e"},
		{"mk consume t -b x:1", "mk consume t -b x:1"},
		{"mk broker --id 1", "mk broker --listen 127.0.0.1:0 --group-initial-rebalance-delay 0s --id 1"},
		{"mk broker --id 1 --listen 127.0.0.1:9 --group-initial-rebalance-delay 3s", "mk broker --id 1 --listen 127.0.0.1:9 --group-initial-rebalance-delay 3s"},
		{"mk cluster stop", "mk cluster stop"},
		{"mk cluster start --brokers 2", "mk cluster start --listen 127.0.0.1:0 --group-initial-rebalance-delay 0s --brokers 2"},
	} {
		if got := strings.Join(wireArgs(strings.Fields(c.in), dir), " "); got != c.want {
			t.Errorf("%s: got %s, want %s", c.in, got, c.want)
		}
	}
}
