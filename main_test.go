package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"mk/commands"
)

// TestMain makes the test binary act as mk when a script runs "mk": the
// scripts drive the real binary, brokers and all.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"mk":       func() { os.Exit(mkMain()) },
		"exitcode": exitcode,
	})
}

// exitcode [-timeout D] CODE mk ARGS... runs mk ARGS and succeeds only if
// it exits with CODE, so that a script checks a documented exit code where
// ! exec would take any failure:
//
//	exec exitcode 4 mk consume nosuch -e
//	stderr '^mk: unknown topic nosuch$'
//
// With -timeout, an mk still running after D fails the check: for
// commands that used to hang.
func exitcode() {
	if len(os.Args) > 2 && os.Args[1] == "-timeout" {
		d, err := time.ParseDuration(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, "exitcode:", err)
			os.Exit(2)
		}
		os.Args = append(os.Args[:1], os.Args[3:]...)
		time.AfterFunc(d, func() {
			fmt.Fprintf(os.Stderr, "exitcode: mk did not exit within %s\n", d)
			os.Exit(1)
		})
	}
	want, err := strconv.Atoi(os.Args[min(1, len(os.Args)-1)])
	if err != nil || len(os.Args) < 3 || os.Args[2] != "mk" {
		fmt.Fprintln(os.Stderr, "usage: exitcode [-timeout D] CODE mk ARGS...")
		os.Exit(2)
	}
	os.Args = os.Args[2:]
	if got := mkMain(); got != want {
		fmt.Fprintf(os.Stderr, "exitcode: mk exited with %d, want %d\n", got, want)
		os.Exit(1)
	}
	os.Exit(0)
}

var update = flag.Bool("update", false, "update testscript golden files")

// TestScripts runs testdata/*.txtar. Each script gets its own cluster
// directory ($MK_DIR = $WORK/cluster); every broker a script leaves running
// is killed when it ends, pass or fail.
func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams("testdata", nil, false))
}

// scriptParams runs the scripts of dir (or the files), locally or, with
// wire, over the wire (wire_test.go).
func scriptParams(dir string, files []string, wire bool) testscript.Params {
	return testscript.Params{
		Dir:                 dir,
		Files:               files,
		RequireExplicitExec: true,
		UpdateScripts:       *update,
		Setup: func(env *testscript.Env) error {
			dir := filepath.Join(env.WorkDir, "cluster")
			env.Setenv("MK_DIR", dir)
			env.Setenv("HOME", env.WorkDir)
			if wire {
				env.Setenv(wireEnv, "1")
			}
			env.Defer(func() { killBrokers(dir) })
			setupClients(env)
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "wire":
				return wire, nil
			case "groups":
				// Consumer groups: over the wire once the brokers serve
				// Kafka's group APIs.
				if !wire {
					return true, nil
				}
				return servesAPI("JoinGroup")
			}
			return scriptCondition(cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitfor":   waitfor,
			"waitfile":  waitfile,
			"freeports": freeports,
			"bootstrap": bootstrap,
			"sigstop":   sigstop,
		},
	}
}

// inProcess serializes mk commands run inside the test process: scripts
// run in parallel, and a real mk process only ever runs one command.
var inProcess sync.Mutex

// waitfor [-timeout D] [-local] REGEX ARGS... runs "mk ARGS..." (in this
// process, against $MK_DIR) until its stdout matches REGEX, or with !
// until it does not; it fails after the timeout (default 15s). This is how
// a script waits for a condition: never a sleep. With -local the command
// reads the cluster directory in the wire run too: to wait for what a
// Kafka client cannot see (a log end offset past the high watermark).
func waitfor(ts *testscript.TestScript, neg bool, args []string) {
	timeout := 15 * time.Second
	local := false
	for len(args) > 0 {
		if args[0] == "-local" {
			local, args = true, args[1:]
			continue
		}
		if len(args) > 1 && args[0] == "-timeout" {
			d, err := time.ParseDuration(args[1])
			ts.Check(err)
			timeout, args = d, args[2:]
			continue
		}
		break
	}
	if len(args) < 2 {
		ts.Fatalf("usage: waitfor [-timeout D] [-local] REGEX ARGS...")
	}
	re, err := regexp.Compile("(?m)" + args[0])
	ts.Check(err)
	deadline := time.Now().Add(timeout)
	var out, errb bytes.Buffer
	for {
		out.Reset()
		errb.Reset()
		argv := append([]string{"mk", "--dir", ts.Getenv("MK_DIR")}, args[1:]...)
		if ts.Getenv(wireEnv) != "" && !local {
			argv = wireArgs(argv, ts.Getenv("MK_DIR"))
		}

		inProcess.Lock() // urfave/cli mutates package-level flags (its help flag) on every run
		commands.Run(argv, commands.Stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
		inProcess.Unlock()
		if re.Match(out.Bytes()) != neg {
			ts.Logf("waitfor %s: %s", strings.Join(args[1:], " "), strings.TrimSpace(out.String()))
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("waitfor %q %s: not satisfied after %s; last stdout:\n%s\nstderr:\n%s", args[0], strings.Join(args[1:], " "), timeout, out.String(), errb.String())
		}
		time.Sleep(20 * time.Millisecond) // poll interval, bounded by the deadline above
	}
}

// waitfile [-timeout D] REGEX FILE waits until FILE (relative to the
// script's directory) exists and its content matches REGEX, or with !
// until it does not; it fails after the timeout (default 15s). It is how
// a script waits for a background command's output redirected to a file
// (a consumer flushes what it printed before it waits for more).
func waitfile(ts *testscript.TestScript, neg bool, args []string) {
	timeout := 15 * time.Second
	if len(args) > 1 && args[0] == "-timeout" {
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		timeout, args = d, args[2:]
	}
	if len(args) != 2 {
		ts.Fatalf("usage: waitfile [-timeout D] REGEX FILE")
	}
	re, err := regexp.Compile("(?m)" + args[0])
	ts.Check(err)
	deadline := time.Now().Add(timeout)
	for {
		data, _ := os.ReadFile(ts.MkAbs(args[1]))
		if re.Match(data) != neg {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("waitfile %q %s: not satisfied after %s; content:\n%s", args[0], args[1], timeout, data)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, bounded by the deadline above
	}
}

// killBrokers SIGKILLs every broker process registered in the cluster dir
// whose command line names it: by the pid in its registration, or in its
// lock file (a script may have damaged the registration).
func killBrokers(dir string) {
	var pids []int
	files, _ := filepath.Glob(filepath.Join(dir, "meta", "brokers", "*.json"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var b struct{ Pid int }
		if json.Unmarshal(data, &b) == nil && b.Pid > 0 {
			pids = append(pids, b.Pid)
		}
	}
	locks, _ := filepath.Glob(filepath.Join(dir, "meta", "brokers", "*.lock"))
	for _, f := range locks {
		data, _ := os.ReadFile(f)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	for _, pid := range pids {
		cmdline, err := os.ReadFile(filepath.Join("/proc", itoa(pid), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(dir)) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func itoa(n int) string {
	b := []byte{}
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}
