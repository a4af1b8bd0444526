package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"mk/coord"
	"mk/logdir"
)

// dieAfterFenceEnv names a marker file; a broker of a test that sets it
// (the test binary runs as mk) kills itself with SIGKILL the first time
// its controller has fenced old leaders and not yet published their new
// leaders, once the file "<marker>.armed" exists. The marker records that
// it happened, so that only one controller dies there.
const dieAfterFenceEnv = "MK_TEST_DIE_AFTER_FENCE"

func init() {
	marker := os.Getenv(dieAfterFenceEnv)
	if marker == "" {
		return
	}
	coord.AfterFenceHook = func(string) {
		if _, err := os.Stat(marker + ".armed"); err != nil {
			return
		}
		f, err := os.OpenFile(marker, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return
		}
		f.Close()
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
}

// controllerID is the broker that controller.json names.
func (k *kafkaCluster) controllerID() int {
	k.t.Helper()
	var f struct{ Broker int }
	b, err := os.ReadFile(filepath.Join(k.dir, "meta", "controller.json"))
	if err == nil {
		err = json.Unmarshal(b, &f)
	}
	if err != nil {
		k.t.Fatal(err)
	}
	return f.Broker
}

// replicaEpoch is the leader epoch in broker's replica's state file.
func (k *kafkaCluster) replicaEpoch(broker int, topic string, part int) int {
	k.t.Helper()
	rd, err := logdir.OpenReader(filepath.Join(k.dir, "brokers", strconv.Itoa(broker), topic+"-"+strconv.Itoa(part)))
	if err != nil {
		k.t.Fatal(err)
	}
	defer rd.Close()
	st, err := rd.State()
	if err != nil {
		k.t.Fatal(err)
	}
	return int(st.LeaderEpoch)
}

// TestKafkaControllerKilledBetweenFenceAndPublish: the controller fences a
// dead leader's replica at a new epoch and is SIGKILLed before it
// publishes the epoch (the third broker is stopped, then killed, so
// nobody else acts), which leaves that replica ahead of the metadata.
// Restarted, that broker first alone, the cluster gives the partition a
// leader (before the fix the old leader looped on "cannot lead at N"), and
// every record acknowledged with acks=all before is there.
func TestKafkaControllerKilledBetweenFenceAndPublish(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "died")
	t.Setenv(dieAfterFenceEnv, marker)
	k := startKafkaCluster(t, 3)
	k.mk("topic", "create", "t", "--partitions", "3", "--replication-factor", "3")
	produce := func(cl *kgo.Client, part int32, n int, tag string) []*kgo.Record {
		t.Helper()
		var recs []*kgo.Record
		for i := range n {
			recs = append(recs, &kgo.Record{Topic: "t", Partition: part, Value: fmt.Appendf(nil, "%s-%d", tag, i)})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v\n%s", tag, err, k.logTails(40))
		}
		return recs
	}
	newClient := func() *kgo.Client {
		return k.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordRetries(1<<20))
	}
	ctl := k.controllerID()
	part, leader := -1, 0
	for p := range 3 {
		if l := k.leaderOf("t", p); l != ctl {
			part, leader = p, l
			break
		}
	}
	if part < 0 {
		t.Fatalf("every partition led by the controller, broker %d", ctl)
	}
	other := 6 - ctl - leader
	cl := newClient()
	var acked []*kgo.Record
	for p := range int32(3) {
		acked = append(acked, produce(cl, p, 50, "before"+strconv.Itoa(int(p)))...)
	}
	cl.Close()
	before := k.describe("t").Partitions[part].LeaderEpoch

	k.signal(other, syscall.SIGSTOP)
	if err := os.WriteFile(marker+".armed", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	k.kill(leader)
	waitUntil(t, "the controller to die between fence and publish", 20*time.Second, func() bool {
		_, err := os.Stat(marker)
		return err == nil
	})
	k.kill(ctl)
	k.kill(other)
	if got, meta := k.replicaEpoch(leader, "t", part), k.describe("t").Partitions[part].LeaderEpoch; got <= meta || meta != before {
		t.Fatalf("broker %d's replica at epoch %d, the metadata at %d (was %d): the controller did not die between fence and publish", leader, got, meta, before)
	}

	// The fenced broker first, alone: it is the controller, and the
	// metadata still names it leader at the old epoch.
	k.start(leader)
	k.waitAddress(leader)
	waitUntil(t, "a leader at an epoch past the fence", 30*time.Second, func() bool {
		p := k.describe("t").Partitions[part]
		return p.Leader == leader && p.LeaderEpoch > before+1
	})
	cl = newClient()
	acked = append(acked, produce(cl, int32(part), 20, "alone")...)
	k.start(ctl)
	k.start(other)
	k.waitAddress(ctl)
	k.waitAddress(other)
	for p := range int32(3) {
		acked = append(acked, produce(cl, p, 20, "after"+strconv.Itoa(int(p)))...)
	}
	cl.Close()

	at := map[string]string{}
	for _, c := range k.consumeAll("t") {
		at[fmt.Sprintf("%d/%d", c.Partition, c.Offset)] = c.Value
	}
	for _, r := range acked {
		if got := at[fmt.Sprintf("%d/%d", r.Partition, r.Offset)]; got != string(r.Value) {
			t.Fatalf("acknowledged %q at %d/%d, the log holds %q", r.Value, r.Partition, r.Offset, got)
		}
	}
	if len(at) != len(acked) {
		t.Fatalf("%d records in the log, %d acknowledged", len(at), len(acked))
	}
}
