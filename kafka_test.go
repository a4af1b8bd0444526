package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kafkaCluster is a cluster of real `mk broker` processes, each serving the
// Kafka protocol on a TCP port of the loopback interface, for tests that
// drive it with Kafka clients mk did not write (franz-go's kgo and kadm).
type kafkaCluster struct {
	t     testing.TB
	dir   string
	procs map[int]*exec.Cmd
	args  []string
}

// startKafkaCluster starts brokers 1..n in a new cluster directory and
// waits until every one is alive and advertises its TCP address.
func startKafkaCluster(t testing.TB, n int, brokerArgs ...string) *kafkaCluster {
	t.Helper()
	k := &kafkaCluster{t: t, dir: filepath.Join(t.TempDir(), "cluster"), procs: map[int]*exec.Cmd{}, args: brokerArgs}
	t.Cleanup(k.stopAll)
	for id := 1; id <= n; id++ {
		k.start(id)
	}
	for id := 1; id <= n; id++ {
		k.waitAddress(id)
	}
	return k
}

// start starts broker id (again).
func (k *kafkaCluster) start(id int) {
	k.t.Helper()
	args := append([]string{"--dir", k.dir, "broker", "--id", strconv.Itoa(id), "--listen", "127.0.0.1:0"}, k.args...)
	cmd := exec.Command("mk", args...)
	log, err := os.OpenFile(filepath.Join(filepath.Dir(k.dir), "broker"+strconv.Itoa(id)+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		k.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		k.t.Fatalf("start broker %d: %v", id, err)
	}
	log.Close()
	k.procs[id] = cmd
}

// registration reads broker id's registration file.
func (k *kafkaCluster) registration(id int) (pid int, address string) {
	data, err := os.ReadFile(filepath.Join(k.dir, "meta", "brokers", strconv.Itoa(id)+".json"))
	if err != nil {
		return 0, ""
	}
	var reg struct {
		Pid     int
		Address string
	}
	json.Unmarshal(data, &reg)
	return reg.Pid, reg.Address
}

// waitAddress waits until broker id (the process this test started)
// accepts connections on its advertised address.
func (k *kafkaCluster) waitAddress(id int) string {
	k.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		pid, addr := k.registration(id)
		if cmd := k.procs[id]; cmd != nil && pid == cmd.Process.Pid && addr != "" {
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				return addr
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(filepath.Dir(k.dir), "broker"+strconv.Itoa(id)+".log"))
			k.t.Fatalf("broker %d did not come up in 20s; its log:\n%s", id, log)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

// addrs lists the advertised addresses of the brokers this test started.
func (k *kafkaCluster) addrs() []string {
	var out []string
	for id := range k.procs {
		if _, addr := k.registration(id); addr != "" {
			out = append(out, addr)
		}
	}
	return out
}

// kill SIGKILLs broker id.
func (k *kafkaCluster) kill(id int) {
	if cmd := k.procs[id]; cmd != nil {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		delete(k.procs, id)
	}
}

func (k *kafkaCluster) stopAll() {
	for id := range k.procs {
		k.kill(id)
	}
}

// mk runs an mk command against the cluster and returns its stdout.
func (k *kafkaCluster) mk(args ...string) string {
	k.t.Helper()
	cmd := exec.Command("mk", append([]string{"--dir", k.dir}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		k.t.Fatalf("mk %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// client returns a kgo client of the cluster, closed at the test's end.
func (k *kafkaCluster) client(opts ...kgo.Opt) *kgo.Client {
	k.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(k.addrs()...)}, opts...)...)
	if err != nil {
		k.t.Fatal(err)
	}
	k.t.Cleanup(cl.Close)
	return cl
}

func (k *kafkaCluster) admin() *kadm.Client { return kadm.NewClient(k.client()) }

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestKafkaMetadata: kgo negotiates versions with ApiVersions and reads
// the brokers, the controller and topics mk created.
func TestKafkaMetadata(t *testing.T) {
	k := startKafkaCluster(t, 3)
	k.mk("topic", "create", "orders", "--partitions", "3", "--replication-factor", "2")
	ctx := testContext(t)
	adm := k.admin()
	md, err := adm.Metadata(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Brokers) != 3 {
		t.Fatalf("brokers: %v", md.Brokers)
	}
	if md.Controller < 1 || md.Controller > 3 {
		t.Fatalf("controller %d", md.Controller)
	}
	td := md.Topics["orders"]
	if td.Err != nil || len(td.Partitions) != 3 {
		t.Fatalf("orders: %+v", td)
	}
	for _, p := range td.Partitions {
		if len(p.Replicas) != 2 || len(p.ISR) != 2 || p.Leader != p.Replicas[0] {
			t.Fatalf("partition %+v", p)
		}
	}
	vs, err := adm.ApiVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.Err != nil {
			t.Fatalf("broker %d: %v", v.NodeID, v.Err)
		}
		if _, _, ok := v.KeyVersions(kmsg.Metadata.Int16()); !ok {
			t.Fatalf("broker %d does not list Metadata", v.NodeID)
		}
	}
}
