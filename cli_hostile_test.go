package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"mk/commands"
)

// hostileBaselines are the arguments that make each command do its real
// work against the test cluster (topic t with records, group g with
// offsets), so that a hostile flag value reaches the code that uses it.
// "{new}" is replaced by a fresh name. A command may have several
// baselines; every command must have one (a new command fails the test
// until it is added here). Flags the test varies are dropped from the
// baseline.
var hostileBaselines = map[string][][]string{
	"broker":               {{"--id", "1"}},
	"cluster start":        {{"--brokers", "1"}},
	"cluster stop":         {{"--broker", "99"}},
	"cluster kill":         {{"--broker", "99"}},
	"cluster status":       {{}},
	"cluster wait":         {{"--brokers", "1"}},
	"cluster bootstrap":    {{}},
	"topic create":         {{"{new}"}},
	"topic list":           {{}},
	"topic describe":       {{"t"}},
	"topic alter":          {{"t"}},
	"topic delete":         {{"nosuch"}},
	"produce":              {{"t"}},
	"consume":              {{"t", "-e"}, {"t", "-e", "--group", "{new}"}},
	"tail":                 {{"t", "-e"}},
	"describe cluster":     {{}},
	"describe topic":       {{"t"}},
	"describe producers":   {{"t"}},
	"describe topics":      {{}},
	"describe group":       {{"g"}},
	"group list":           {{}},
	"group describe":       {{"g"}},
	"group reset-offsets":  {{"g", "--topic", "t"}, {"g", "--topic", "t", "--to-earliest"}},
	"group delete":         {{"nosuch"}},
	"group delete-offsets": {{"nosuch", "--topic", "t"}},
	"bench produce":        {{"--topic", "{new}", "--records", "100"}},
	"bench consume":        {{"--topic", "t"}},
	"bench e2e":            {{"--topic", "{new}", "--records", "20", "--rate", "10000"}},
	"bench exec":           {{"--", "true"}},
}

// Hostile values: negative, zero, just past 32 bits, the 64-bit extremes,
// past 64 bits, not a number, and for strings also empty and too long.
var (
	hostileInts      = []string{"-1", "0", "-9223372036854775808", "2147483648", "9223372036854775807", "99999999999999999999", "abc", "1.5", ""}
	hostileDurations = []string{"-1s", "0", "9223372036854775807ns", "2562048h", "abc", "1", ""}
	hostileStrings   = []string{"", "-1", "abc", "99999999999999999999", strings.Repeat("x", 300)}
)

// TestHostileFlagValues runs every mk command with hostile values for each
// of its flags, found by walking the command tree (so a new flag is
// covered without touching this test), against a live one-broker cluster.
// Each run must end with a documented exit code and clean "mk: " lines on
// stderr, or still be working when its time is up (bench produce of
// 2^63 records): never a Go panic or stack trace.
func TestHostileFlagValues(t *testing.T) {
	mk, err := exec.LookPath("mk") // installed in $PATH by testscript.Main
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	dir := filepath.Join(work, "cluster")
	env := append(os.Environ(), "MK_DIR="+dir, "HOME="+work, "XDG_DATA_HOME="+work)
	t.Cleanup(func() { killBrokers(dir) })
	setup := func(stdin string, args ...string) {
		t.Helper()
		cmd := exec.Command(mk, args...)
		cmd.Env, cmd.Stdin = env, strings.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mk %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	setup("", "cluster", "start", "--brokers", "1")
	setup("", "topic", "create", "t", "--partitions", "2")
	setup("a\nb\nc\n", "produce", "t")
	setup("", "consume", "t", "--group", "g", "-e")

	type job struct{ name, flag, value string }
	var jobs []job
	var names atomic.Int64
	argv := func(j job, base []string) []string {
		args := []string{"--dir", dir}
		args = append(args, strings.Fields(j.name)...)
		args = append(args, "--"+j.flag+"="+j.value)
		for i := 0; i < len(base); i++ {
			a := base[i]
			if a == "--"+j.flag { // the flag under test replaces the baseline's
				if i+1 < len(base) && !strings.HasPrefix(base[i+1], "-") {
					i++
				}
				continue
			}
			if a == "{new}" {
				a = fmt.Sprintf("h%d", names.Add(1))
			}
			args = append(args, a)
		}
		return args
	}
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			name := strings.TrimSpace(path + " " + c.Name)
			if len(c.Subcommands) > 0 {
				walk(name, c.Subcommands)
				continue
			}
			if _, ok := hostileBaselines[name]; !ok {
				t.Errorf("mk %s has no baseline in hostileBaselines: add the arguments that make it do its work", name)
				continue
			}
			for _, f := range c.Flags {
				var values []string
				switch f.(type) {
				case *cli.BoolFlag:
					continue
				case *cli.DurationFlag:
					values = hostileDurations
				case *cli.StringFlag, *cli.StringSliceFlag:
					values = hostileStrings
				default:
					values = hostileInts
				}
				for _, v := range values {
					jobs = append(jobs, job{name, f.Names()[0], v})
				}
			}
		}
	}
	walk("", commands.NewApp(commands.Stdio{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}).Commands)
	t.Logf("%d runs", len(jobs))

	var mu sync.Mutex
	stillRunning := 0
	sem := make(chan struct{}, 2*runtime.NumCPU())
	var wg sync.WaitGroup
	for _, j := range jobs {
		for _, base := range hostileBaselines[j.name] {
			args := argv(j, base)
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				code, stdout, stderr, timedOut := runMk(mk, env, args, 5*time.Second)
				if timedOut {
					mu.Lock()
					stillRunning++
					mu.Unlock()
				}
				if problem := judgeRun(code, stdout, stderr, timedOut); problem != "" {
					t.Errorf("mk %s: %s\nexit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args[2:], " "), problem, code, clip(stdout), clip(stderr))
				}
			}()
		}
	}
	wg.Wait()
	t.Logf("%d runs were still working when their time was up", stillRunning)
}

// runMk runs mk with args and returns its exit code and output; a run
// still going after timeout is killed (SIGKILL, by its pid) and reported
// as timed out.
func runMk(mk string, env, args []string, timeout time.Duration) (code int, stdout, stderr string, timedOut bool) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, mk, args...)
	var out, errb bytes.Buffer
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, strings.NewReader("x\n"), &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return -1, out.String(), errb.String(), true
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String(), false
	case err != nil:
		return -1, out.String(), err.Error(), false
	}
	return 0, out.String(), errb.String(), false
}

// judgeRun says what is wrong with a run, or "".
func judgeRun(code int, stdout, stderr string, timedOut bool) string {
	for _, bad := range []string{"panic", "goroutine ", "runtime error", "fatal error", "[signal "} {
		if strings.Contains(stderr, bad) || strings.Contains(stdout, bad) {
			return "a Go crash (" + bad + ")"
		}
	}
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		if l == "" {
			continue
		}
		if !strings.HasPrefix(l, "mk: ") {
			return fmt.Sprintf("a stderr line without the mk: prefix: %q", l)
		}
		lines = append(lines, l)
	}
	switch {
	case timedOut:
		return ""
	case code != 0 && !slices.Contains([]int{1, 2, 3, 4, 5}, code):
		return fmt.Sprintf("exit code %d is not a documented one", code)
	case code != 0 && len(lines) == 0:
		return "failed without a word on stderr"
	case code == 2 && len(lines) != 1:
		return "a usage error that is not one line"
	case code == 2 && strings.Contains(stdout, "USAGE:"):
		return "a usage error that prints the help"
	}
	return ""
}

func clip(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "..."
	}
	return s
}
