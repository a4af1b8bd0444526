package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/commands"
	"mk/server"
)

// Kafka clients mk did not write (kcat, kafka-python, kafkajs) drive real
// brokers in testdata/client_*.txtar. Their programs live in
// testdata/clients/ ($CLIENTS in a script); .ci/run installs the clients.
//
// A script asks for a client with a condition and skips without it:
//
//	[!client:kcat] skip 'kcat is not installed (Debian: apt-get install kcat)'
//
// Under CI (CI=true) a missing client is not a skip but a failure: the
// condition itself fails the script, so that a CI machine without a client
// cannot pass by skipping every test that needs it.

// clientsDir is testdata/clients, absolute: scripts run in their own work
// directories.
func clientsDir() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Join(wd, "testdata", "clients")
}

// clientTool is how a script reaches one client, found once per test run.
type clientTool struct {
	once    sync.Once
	path    string // the executable scripts run ($PYTHON for python)
	missing string // why it cannot be used ("" if it can)
}

var clientTools = map[string]*clientTool{"kcat": {}, "python": {}, "kafkajs": {}}

func (c *clientTool) find(name string) {
	c.once.Do(func() {
		switch name {
		case "kcat":
			c.path, c.missing = lookTool("kcat", "kcat is not installed (Debian: apt-get install kcat)")
		case "python":
			c.path, c.missing = findKafkaPython()
		case "kafkajs":
			node, missing := lookTool("node", "node is not installed (Debian: apt-get install nodejs npm)")
			if missing != "" {
				c.missing = missing
				return
			}
			dir := filepath.Join(clientsDir(), "node")
			if _, err := os.Stat(filepath.Join(dir, "node_modules", "kafkajs", "package.json")); err != nil {
				c.missing = "kafkajs is not installed (npm ci --prefix testdata/clients/node)"
				return
			}
			c.path = node
		}
	})
}

func lookTool(name, missing string) (string, string) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", missing
	}
	return p, ""
}

// findKafkaPython finds a Python that can import kafka-python: Debian's
// python3-kafka is installed for /usr/bin/python3, which need not be the
// python3 first on PATH (a pyenv one, say).
func findKafkaPython() (string, string) {
	candidates := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	for _, p := range candidates {
		if exec.Command(p, "-c", "import kafka").Run() == nil {
			return p, ""
		}
	}
	return "", "kafka-python is not installed (Debian: apt-get install python3-kafka)"
}

// scriptCondition serves the scripts' custom conditions:
//
//	[client:kcat] [client:python] [client:kafkajs]  the client can be run
//	[serves:NAME,...]  the broker serves every Kafka API named (Produce,Fetch)
//
// A script that needs an API still being built says so with serves, and
// skips until the API is registered: [!serves:Produce] skip '...'.
func scriptCondition(cond string) (bool, error) {
	name, arg, _ := strings.Cut(cond, ":")
	switch name {
	case "client":
		c := clientTools[arg]
		if c == nil {
			return false, fmt.Errorf("unknown client %q (kcat, python, kafkajs)", arg)
		}
		c.find(arg)
		if c.missing != "" && os.Getenv("CI") == "true" {
			return false, fmt.Errorf("CI=true and %s: a client test may not skip under CI", c.missing)
		}
		return c.missing == "", nil
	case "serves":
		for _, name := range strings.Split(arg, ",") {
			ok, err := servesAPI(name)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	}
	return false, fmt.Errorf("unknown condition %q", cond)
}

// servesAPI reports whether mk serves the Kafka API of that name (kmsg's
// names: Produce, Fetch, ListOffsets, CreateTopics, JoinGroup, ...).
func servesAPI(name string) (bool, error) {
	for k := int16(0); k < 200; k++ { // past every key Kafka has defined
		if kmsg.NameForKey(k) == name {
			_, _, ok := server.ServedVersions(k)
			return ok, nil
		}
	}
	return false, fmt.Errorf("unknown Kafka API %q", name)
}

// setupClients gives a script $CLIENTS (testdata/clients) and $PYTHON (a
// Python that imports kafka-python, when there is one).
func setupClients(env *testscript.Env) {
	env.Setenv("CLIENTS", clientsDir())
	py := clientTools["python"]
	py.find("python")
	if py.path != "" {
		env.Setenv("PYTHON", py.path)
	} else {
		env.Setenv("PYTHON", "python3")
	}
}

// bootstrap [-timeout D] N waits until `mk cluster bootstrap` lists N
// live brokers of $MK_DIR whose TCP addresses accept connections, then
// sets $BOOTSTRAP to its output: what a Kafka client is given to bootstrap
// from (testscript has no command substitution for "$(mk cluster
// bootstrap)").
//
//	exec mk cluster start --brokers 3 --listen 127.0.0.1:0
//	bootstrap 3
//	exec kcat -b $BOOTSTRAP -L
func bootstrap(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! bootstrap")
	}
	timeout := 20 * time.Second
	if len(args) > 1 && args[0] == "-timeout" {
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		timeout, args = d, args[2:]
	}
	if len(args) != 1 {
		ts.Fatalf("usage: bootstrap [-timeout D] N")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	deadline := time.Now().Add(timeout)
	for {
		var out, errb bytes.Buffer
		inProcess.Lock() // urfave/cli mutates package-level flags on every run
		commands.Run([]string{"mk", "--dir", ts.Getenv("MK_DIR"), "cluster", "bootstrap"}, commands.Stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
		inProcess.Unlock()
		list := strings.TrimSpace(out.String())
		why := strings.TrimSpace(errb.String())
		if addrs := strings.Split(list, ","); list != "" && len(addrs) >= want {
			why = ""
			for _, a := range addrs {
				nc, err := net.DialTimeout("tcp", a, time.Second)
				if err != nil {
					why = err.Error()
					break
				}
				nc.Close()
			}
			if why == "" {
				ts.Setenv("BOOTSTRAP", list)
				ts.Logf("BOOTSTRAP=%s", list)
				return
			}
		}
		if time.Now().After(deadline) {
			ts.Fatalf("bootstrap: want %d brokers after %s; mk cluster bootstrap printed %q (%s)", want, timeout, list, why)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, bounded by the deadline above
	}
}
