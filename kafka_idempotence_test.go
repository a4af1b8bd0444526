package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"mk/logdir"
)

// initProducerID sends InitProducerId to broker id and returns its answer.
func initProducerID(t *testing.T, cl *kgo.Client, id int32, edit func(*kmsg.InitProducerIDRequest)) *kmsg.InitProducerIDResponse {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionTimeoutMillis = 60000
	if edit != nil {
		edit(req)
	}
	resp, err := req.RequestWith(testContext(t), cl.Broker(int(id)))
	if err != nil {
		t.Fatalf("InitProducerId to broker %d: %v", id, err)
	}
	return resp
}

// TestKafkaInitProducerID: every broker gives producer ids from the blocks
// it claims in the metadata directory, never the same one twice, also
// after a restart; transactional ids are refused as Kafka refuses a
// transactional id a client may not use; at every version kmsg knows.
func TestKafkaInitProducerID(t *testing.T) {
	k := startKafkaCluster(t, 2)
	cl := k.client()
	seen := map[int64]bool{}
	take := func(broker int32, cl *kgo.Client) int64 {
		t.Helper()
		resp := initProducerID(t, cl, broker, nil)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil || resp.ProducerEpoch != 0 || resp.ProducerID < 0 {
			t.Fatalf("broker %d: %+v, %v", broker, resp, err)
		}
		if seen[resp.ProducerID] {
			t.Fatalf("producer id %d given twice", resp.ProducerID)
		}
		seen[resp.ProducerID] = true
		return resp.ProducerID
	}
	a1, a2 := take(1, cl), take(1, cl)
	b1 := take(2, cl)
	if a2 != a1+1 || b1/1000 == a1/1000 {
		t.Fatalf("ids %d, %d from broker 1 and %d from broker 2: want consecutive ids from one block per broker", a1, a2, b1)
	}
	// InitProducerId v0 (Kafka 0.11), v1 and v2 (flexible) answer alike.
	for _, v := range []*kversion.Versions{kversion.V0_11_0(), kversion.V2_0_0(), kversion.V2_4_0()} {
		take(1, k.client(kgo.MaxVersions(v)))
	}
	// A producer bumping its epoch (v3+, KIP-360) without a transactional
	// id gets a new id at epoch 0, as from Kafka's coordinator.
	resp := initProducerID(t, cl, 2, func(r *kmsg.InitProducerIDRequest) { r.ProducerID, r.ProducerEpoch = b1, 0 })
	if resp.ErrorCode != 0 || resp.ProducerID == b1 || resp.ProducerEpoch != 0 {
		t.Fatalf("bump of %d: %+v", b1, resp)
	}
	seen[resp.ProducerID] = true
	// An id without an epoch is a bad request.
	resp = initProducerID(t, cl, 2, func(r *kmsg.InitProducerIDRequest) { r.ProducerID, r.ProducerEpoch = b1, -1 })
	if resp.ErrorCode != kerr.InvalidRequest.Code || resp.ProducerID != -1 || resp.ProducerEpoch != -1 {
		t.Fatalf("id without epoch: %+v", resp)
	}
	// Transactions: mk has no coordinator.
	resp = initProducerID(t, cl, 1, func(r *kmsg.InitProducerIDRequest) { txn := "tx"; r.TransactionalID = &txn })
	if resp.ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code || resp.ProducerID != -1 {
		t.Fatalf("transactional id: %+v", resp)
	}
	// A restarted broker claims a new block: no id is given again.
	k.kill(1)
	k.start(1)
	k.waitAddress(1)
	cl2 := k.client()
	after := take(1, cl2)
	if after <= b1 {
		t.Fatalf("after a restart broker 1 gave %d, below ids given before", after)
	}
}

// producerID asks broker 1 for a producer id.
func producerID(t *testing.T, k *kafkaCluster) int64 {
	t.Helper()
	resp := initProducerID(t, k.client(), 1, nil)
	if resp.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp.ProducerID
}

// idemRecords encodes n records "tag-seq" of an idempotent producer.
func idemRecords(tag string, pid int64, epoch int16, seq int32, n int) []byte {
	var b logdir.BatchBuilder
	for i := 0; i < n; i++ {
		b.Add(time.Now().UnixMilli(), []byte(fmt.Sprintf("%s-%d-%d", tag, epoch, int(seq)+i)), []byte("v"), nil)
	}
	return append([]byte(nil), b.FinishIdempotent(pid, epoch, seq)...)
}

// produceAt sends one batch to the partition's leader and returns its
// answer (acks=all).
func produceAt(t *testing.T, k *kafkaCluster, topic string, records []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	return produceRaw(t, k, topic, 0, -1, records).Topics[0].Partitions[0]
}

// TestKafkaIdempotentProduce: the broker's answers to an idempotent
// producer's batches over the wire, as a Kafka broker gives them, and a
// retry answered with the original offsets by the leader that appended it,
// by a new leader after the old one was SIGKILLed, and after every broker
// was SIGKILLed and restarted (the state rebuilt from the log).
func TestKafkaIdempotentProduce(t *testing.T) {
	k := startKafkaCluster(t, 3)
	k.mk("topic", "create", "t", "--replication-factor", "3", "--config", "min.insync.replicas=2", "--config", "segment.bytes=400")
	pid := producerID(t, k)
	expect := func(what string, p kmsg.ProduceResponseTopicPartition, code int16, base int64) {
		t.Helper()
		if p.ErrorCode != code || code == 0 && p.BaseOffset != base {
			msg := ""
			if p.ErrorMessage != nil {
				msg = *p.ErrorMessage
			}
			t.Fatalf("%s: error %v (%s), base offset %d; want error %v, base offset %d", what, kerr.ErrorForCode(p.ErrorCode), msg, p.BaseOffset, kerr.ErrorForCode(code), base)
		}
	}
	var sent [][]byte
	for s := int32(0); s < 8; s++ {
		b := idemRecords("a", pid, 0, s*3, 3)
		expect(fmt.Sprintf("batch %d", s), produceAt(t, k, "t", bytes.Clone(b)), 0, int64(s)*3)
		sent = append(sent, b)
	}
	expect("retry of the last batch", produceAt(t, k, "t", bytes.Clone(sent[7])), 0, 21)
	expect("retry of the fifth from the end", produceAt(t, k, "t", bytes.Clone(sent[3])), 0, 9)
	expect("retry of the sixth from the end", produceAt(t, k, "t", bytes.Clone(sent[2])), kerr.OutOfOrderSequenceNumber.Code, 0)
	expect("a gap", produceAt(t, k, "t", idemRecords("a", pid, 0, 30, 1)), kerr.OutOfOrderSequenceNumber.Code, 0)
	expect("a new epoch not at 0", produceAt(t, k, "t", idemRecords("a", pid, 1, 5, 1)), kerr.OutOfOrderSequenceNumber.Code, 0)
	bumped := idemRecords("a", pid, 1, 0, 2)
	expect("a new epoch", produceAt(t, k, "t", bytes.Clone(bumped)), 0, 24)
	expect("the old epoch", produceAt(t, k, "t", idemRecords("a", pid, 0, 24, 1)), kerr.InvalidProducerEpoch.Code, 0)
	txn := idemRecords("a", pid, 1, 2, 1)
	binary.BigEndian.PutUint16(txn[21:], 0x10)
	fixCRC(txn)
	expect("a transactional batch", produceAt(t, k, "t", txn), kerr.InvalidTxnState.Code, 0)
	// An id no InitProducerId gave is accepted at any sequence, as by
	// Kafka since 2.5 (KIP-360): the partition has no state of it.
	expect("an unknown producer", produceAt(t, k, "t", idemRecords("u", 1<<40, 3, 17, 1)), 0, 26)

	// The leader dies: the new one copied the batches, and knows them.
	old := k.leaderOf("t", 0)
	k.kill(old)
	waitUntil(t, "a new leader", 20*time.Second, func() bool { l := k.leaderOf("t", 0); return l != old && l > 0 })
	expect("retry on the new leader", produceAt(t, k, "t", bytes.Clone(bumped)), 0, 24)
	next := idemRecords("a", pid, 1, 2, 1)
	expect("the next batch on the new leader", produceAt(t, k, "t", bytes.Clone(next)), 0, 27)

	// Every broker SIGKILLed (no snapshot at a clean shutdown), the
	// producer snapshots of every replica damaged (the newest cut short,
	// the one before it overwritten with garbage, one more deleted), and
	// the brokers restarted: the state comes from what is left and the
	// log.
	k.start(old)
	k.waitAddress(old)
	waitUntil(t, "the restarted broker back in the ISR", 30*time.Second, func() bool { return len(k.describe("t").Partitions[0].ISR) == 3 })
	// One by one, not frozen first: a controller may fence a dying
	// leader's replica at a new epoch and be killed before it publishes
	// the epoch, which leaves that replica ahead of the metadata; the
	// next controller moves the epoch past it (see
	// TestKafkaControllerKilledBetweenFenceAndPublish for that moment
	// exactly).
	for id := 1; id <= 3; id++ {
		k.kill(id)
	}
	for id := 1; id <= 3; id++ {
		snaps, _ := filepath.Glob(filepath.Join(k.dir, "brokers", strconv.Itoa(id), "t-0", "*.snapshot"))
		slices.Sort(snaps)
		if len(snaps) < 3 {
			t.Fatalf("broker %d has snapshots %v: want one per rolled segment", id, snaps)
		}
		n := len(snaps)
		fi, _ := os.Stat(snaps[n-1])
		os.Truncate(snaps[n-1], fi.Size()/2)
		os.WriteFile(snaps[n-2], []byte("garbage garbage garbage"), 0o644)
		os.Remove(snaps[n-3])
	}
	for id := 1; id <= 3; id++ {
		k.start(id)
	}
	for id := 1; id <= 3; id++ {
		k.waitAddress(id)
	}
	waitUntil(t, "a leader after the restart", 30*time.Second, func() bool { return k.leaderOf("t", 0) > 0 })
	for settle := time.Now().Add(60 * time.Second); ; {
		p := produceAt(t, k, "t", bytes.Clone(next))
		if (p.ErrorCode == kerr.NotLeaderForPartition.Code || p.ErrorCode == kerr.NotEnoughReplicas.Code) && time.Now().Before(settle) {
			time.Sleep(20 * time.Millisecond) // the restarted cluster settling, bounded by settle
			continue
		}
		if p.ErrorCode != 0 {
			t.Logf("brokers' logs:\n%s", k.logTails(60))
		}
		expect("retry after every broker restarted", p, 0, 27)
		break
	}
	// The damaged snapshots were found and said so (a replica whose
	// recovery cut its log below them deletes them without reading them).
	damaged := 0
	for id := 1; id <= 3; id++ {
		log, _ := os.ReadFile(filepath.Join(filepath.Dir(k.dir), "broker"+strconv.Itoa(id)+".log"))
		damaged += strings.Count(string(log), "deleted a damaged producer state snapshot")
	}
	if damaged == 0 {
		t.Fatalf("no broker reported a damaged snapshot\n%s", k.logTails(30))
	}
	got := k.consumeAll("t")
	if len(got) != 28 {
		t.Fatalf("%d records in the log, want 28 (each batch once)", len(got))
	}
	seen := map[string]bool{}
	for _, c := range got {
		if seen[c.Key] {
			t.Fatalf("record %s stored twice", c.Key)
		}
		seen[c.Key] = true
	}
}

// signal sends sig to broker id. For SIGSTOP it returns once every thread
// of the broker is stopped (or after 10s): kill(2) returns before they
// stop, and on a busy machine a broker went on replicating for a while.
// It never fails the test: fault goroutines call it too.
func (k *kafkaCluster) signal(id int, sig syscall.Signal) {
	cmd := k.procs[id]
	if cmd == nil {
		return
	}
	if sig != syscall.SIGSTOP {
		cmd.Process.Signal(sig)
		return
	}
	stopProcess(cmd.Process.Pid) // an error: gone, or not stopped in 10s
}

// restartIfKilled restarts broker id if its process has died, and says so.
// A broker stopped (SIGSTOP) inside a metadata lock past its session
// timeout is killed by the next process that waits for the lock
// (coord/lockholder.go): a window of milliseconds a test that stops
// brokers can hit. The test then restarts it, as a supervisor would.
func (k *kafkaCluster) restartIfKilled(id int) bool {
	k.t.Helper()
	cmd := k.procs[id]
	if cmd == nil {
		return false
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if i := bytes.LastIndexByte(data, ')'); err == nil && (i < 0 || i+2 >= len(data) || data[i+2] != 'Z') {
		return false
	}
	cmd.Wait()
	delete(k.procs, id)
	k.t.Logf("broker %d was killed while it was stopped (it held a metadata lock past its session timeout): restarting it", id)
	k.start(id)
	k.waitAddress(id)
	return true
}

// TestKafkaIdempotentProducersThroughFaults: kgo's default producer
// (idempotent, acks=all, retrying until delivered) writes to a replicated
// topic while partition leaders are SIGKILLed and restarted, and
// SIGSTOPped past the session timeout and continued. No record fails, none
// is lost (each acknowledged one is at its offset) and none is stored twice,
// though batches are retried across leader changes.
func TestKafkaIdempotentProducersThroughFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("a fault test of about a minute")
	}
	k := startKafkaCluster(t, 3, "--session-timeout", "3s")
	k.mk("topic", "create", "f", "--partitions", "3", "--replication-factor", "3", "--config", "min.insync.replicas=2")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var (
		mu    sync.Mutex
		acked = map[string][2]int64{}
		fails []error
		wg    sync.WaitGroup
		stop  = make(chan struct{})
	)
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	for p := 0; p < 2; p++ {
		cl := k.client(kgo.DefaultProduceTopic("f"), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(time.Millisecond))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					cl.Flush(ctx)
					return
				default:
				}
				r := &kgo.Record{Partition: int32(i % 3), Key: []byte(fmt.Sprintf("p%d-%d", p, i)), Value: []byte("v")}
				cl.Produce(ctx, r, func(r *kgo.Record, err error) {
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						fails = append(fails, fmt.Errorf("%s: %w", r.Key, err))
						return
					}
					acked[string(r.Key)] = [2]int64{int64(r.Partition), r.Offset}
				})
				if i%50 == 49 {
					time.Sleep(time.Millisecond) // spread the records over the faults
				}
			}
		}()
	}
	progress := func(what string) {
		t.Helper()
		n := count()
		waitUntil(t, what, 60*time.Second, func() bool { return count() > n+500 })
	}
	k.faultRounds(t, "f", progress)
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(fails) > 0 {
		t.Fatalf("%d records failed, first: %v", len(fails), fails[0])
	}
	got := k.consumeAll("f")
	at := map[[2]int64]string{}
	for _, c := range got {
		if prev, dup := at[[2]int64{int64(c.Partition), c.Offset}]; dup {
			t.Fatalf("offset %d-%d read twice (%s, %s)", c.Partition, c.Offset, prev, c.Key)
		}
		at[[2]int64{int64(c.Partition), c.Offset}] = c.Key
	}
	seen := map[string]bool{}
	for _, c := range got {
		if seen[c.Key] {
			t.Fatalf("record %s stored twice", c.Key)
		}
		seen[c.Key] = true
		if _, ok := acked[c.Key]; !ok {
			t.Fatalf("record %s in the log was never acknowledged", c.Key)
		}
	}
	for key, po := range acked {
		if at[po] != key {
			t.Fatalf("record %s acknowledged at %d-%d, which holds %q", key, po[0], po[1], at[po])
		}
	}
	t.Logf("%d records acknowledged through 2 SIGKILLs and 2 SIGSTOPs of leaders, none lost or stored twice", len(acked))
}

// TestMkProduceIdempotentThroughFaults: three `mk produce --print-offsets`
// processes (idempotent by default, each to a partition of its own, so its
// output pairs line N of its input with the offset of record N) write to a
// replicated topic while leaders are SIGKILLed and restarted, and
// SIGSTOPped past the session timeout and continued. Every producer exits
// 0 (it retries a leader change before replication instead of giving up
// with exit 3), and its printed offsets hold its records: none lost, none
// stored twice.
func TestMkProduceIdempotentThroughFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("a fault test of about a minute")
	}
	k := startKafkaCluster(t, 3, "--session-timeout", "3s")
	k.mk("topic", "create", "f", "--partitions", "3", "--replication-factor", "3", "--config", "min.insync.replicas=2")
	type producer struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		stdout bytes.Buffer
		stderr bytes.Buffer
		sent   int
		done   chan error
	}
	var (
		mu    sync.Mutex
		prods []*producer
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	for i := 0; i < 3; i++ {
		p := &producer{done: make(chan error, 1)}
		p.cmd = exec.Command("mk", "--dir", k.dir, "produce", "f", "-p", strconv.Itoa(i), "--print-offsets")
		p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
		var err error
		if p.stdin, err = p.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.done <- p.cmd.Wait() }()
		prods = append(prods, p)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer p.stdin.Close()
			var line []byte
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				line = fmt.Appendf(line[:0], "p%d-%d\n", i, n)
				if _, err := p.stdin.Write(line); err != nil {
					// It ended: say how.
					werr := <-p.done
					p.done <- werr
					t.Errorf("producer %d ended while records were sent to it (%v): %v\n%s", i, err, werr, p.stderr.String())
					return
				}
				mu.Lock()
				p.sent = n + 1
				mu.Unlock()
				if n%200 == 199 {
					time.Sleep(time.Millisecond) // spread the records over the faults
				}
			}
		}()
	}
	sent := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, p := range prods {
			n += p.sent
		}
		return n
	}
	progress := func(what string) {
		t.Helper()
		n := sent()
		waitUntil(t, what, 60*time.Second, func() bool { return sent() > n+3000 })
	}
	k.faultRounds(t, "f", progress)
	close(stop)
	wg.Wait()
	for i, p := range prods {
		select {
		case err := <-p.done:
			if err != nil {
				t.Fatalf("producer %d: %v\n%s", i, err, p.stderr.String())
			}
		case <-time.After(3 * time.Minute):
			t.Fatalf("producer %d did not end", i)
		}
	}
	got := k.consumeAll("f")
	at := map[[2]int64]string{}
	seen := map[string]bool{}
	for _, c := range got {
		if seen[c.Value] {
			t.Fatalf("record %s stored twice", c.Value)
		}
		seen[c.Value] = true
		at[[2]int64{int64(c.Partition), c.Offset}] = c.Value
	}
	total := 0
	for i, p := range prods {
		lines := strings.Split(strings.TrimSuffix(p.stdout.String(), "\n"), "\n")
		if len(lines) != p.sent {
			t.Fatalf("producer %d printed %d offsets for %d records", i, len(lines), p.sent)
		}
		for n, l := range lines {
			var topic string
			var part, off int64
			if _, err := fmt.Sscanf(l, "%s %d %d", &topic, &part, &off); err != nil || topic != "f" || part != int64(i) {
				t.Fatalf("producer %d printed %q", i, l)
			}
			if want := fmt.Sprintf("p%d-%d", i, n); at[[2]int64{part, off}] != want {
				t.Fatalf("producer %d: record %s acknowledged at f-%d@%d, which holds %q", i, want, part, off, at[[2]int64{part, off}])
			}
		}
		total += p.sent
	}
	if len(got) != total {
		t.Fatalf("%d records in the log, %d sent", len(got), total)
	}
	t.Logf("%d records from 3 mk produce processes through 2 SIGKILLs and 2 SIGSTOPs of leaders: each stored once, where it was acknowledged", total)
}

// TestMkProduceInterrupted: SIGINT or SIGTERM stops mk produce's reading
// between two lines; what it read is still sent and waited for (up to
// --timeout), the offsets of what was acknowledged are printed, stderr
// says how many were not, and it exits 130.
func TestMkProduceInterrupted(t *testing.T) {
	k := startKafkaCluster(t, 2)
	k.mk("topic", "create", "s", "--replication-factor", "2")
	follower := 3 - k.leaderOf("s", 0)
	type proc struct {
		mu     sync.Mutex
		out    []string
		errOut []string
	}
	// run starts mk produce, lets script write its input and watch its
	// output, then signals it and returns how it ended.
	run := func(sig syscall.Signal, timeout string, script func(in io.Writer, p *proc)) (*proc, int) {
		t.Helper()
		cmd := exec.Command("mk", "--dir", k.dir, "produce", "s", "--print-offsets", "--timeout", timeout)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p := &proc{}
		var wg sync.WaitGroup
		for _, r := range []struct {
			from io.Reader
			to   *[]string
		}{{stdout, &p.out}, {stderr, &p.errOut}} {
			wg.Go(func() {
				sc := bufio.NewScanner(r.from)
				for sc.Scan() {
					p.mu.Lock()
					*r.to = append(*r.to, sc.Text())
					p.mu.Unlock()
				}
			})
		}
		script(stdin, p)
		io.WriteString(stdin, "a line cut in two by the signal")
		cmd.Process.Signal(sig)
		wg.Wait()
		err = cmd.Wait()
		stdin.Close()
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("mk produce ended with %v", err)
		}
		return p, ee.ExitCode()
	}
	said := func(p *proc, what string) bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return strings.Contains(strings.Join(p.errOut, "\n"), what)
	}

	// Everything read was acknowledged before the signal.
	p, code := run(syscall.SIGINT, "2m", func(in io.Writer, p *proc) {
		for i := 0; i < 1000; i++ {
			fmt.Fprintf(in, "r%d\n", i)
		}
		// (The offsets are printed as the producer ends: stdout is
		// buffered.)
		waitUntil(t, "1000 records acknowledged", 20*time.Second, func() bool { return len(k.consumeAll("s")) == 1000 })
	})
	if code != 130 || len(p.out) != 1000 || p.out[999] != "s 0 999" || !said(p, "interrupted: 0 of the 1000 records read were not acknowledged") {
		t.Fatalf("SIGINT: exit %d, %d offsets printed, stderr %q", code, len(p.out), p.errOut)
	}

	// Records that cannot be acknowledged (the follower of an acks=all
	// topic stopped, so the high watermark stays below them): the producer
	// waits for them up to --timeout, then says how many.
	p, code = run(syscall.SIGTERM, "1s", func(in io.Writer, p *proc) {
		fmt.Fprintf(in, "a\nb\nc\n")
		waitUntil(t, "3 more records acknowledged", 20*time.Second, func() bool { return len(k.consumeAll("s")) == 1003 })
		k.signal(follower, syscall.SIGSTOP)
		fmt.Fprintf(in, "d\ne\n")
		waitUntil(t, "d and e appended, not replicated", 20*time.Second, func() bool { return k.describe("s").Partitions[0].LogEndOffset == 1005 })
	})
	k.signal(follower, syscall.SIGCONT)
	if code != 130 || len(p.out) != 5 || p.out[2] != "s 0 1002" || p.out[3] != "s 0 -" || p.out[4] != "s 0 -" ||
		!said(p, "interrupted: 2 of the 5 records read were not acknowledged") {
		t.Fatalf("SIGTERM with the follower stopped: exit %d, %d offsets printed, stderr %q", code, len(p.out), p.errOut)
	}
	// Continued, the follower copies d and e and they are committed.
	waitUntil(t, "d and e committed", 20*time.Second, func() bool { return k.describe("s").Partitions[0].HighWatermark == 1005 })
	got := k.consumeAll("s")
	if len(got) != 1005 || got[1004].Value != "e" {
		t.Fatalf("%d records in the log, the last %q: want 1005 ending with e (no cut line taken for a record)", len(got), got[len(got)-1].Value)
	}
}

// TestMkProducePrintOffsetsInInputOrder: --print-offsets prints one line
// per input line, in the order of the input, whatever order the
// partitions were acknowledged in, through the local cluster and through
// the Kafka protocol (-b): line N of the output says where line N of the
// input is.
func TestMkProducePrintOffsetsInInputOrder(t *testing.T) {
	k := startKafkaCluster(t, 2)
	var in strings.Builder
	const n = 30000
	for i := 0; i < n; i++ {
		fmt.Fprintf(&in, "k%d:v%d\n", i%7, i) // keys spread the lines over the partitions
	}
	for topic, via := range map[string][]string{"local": nil, "wire": {"-b", strings.Join(k.addrs(), ",")}} {
		k.mk("topic", "create", topic, "--partitions", "3", "--replication-factor", "2")
		cmd := exec.Command("mk", append([]string{"--dir", k.dir, "produce", topic, "--key-separator", ":", "--print-offsets"}, via...)...)
		cmd.Stdin = strings.NewReader(in.String())
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("mk produce %v: %v", via, err)
		}
		lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
		if len(lines) != n {
			t.Fatalf("%v: %d lines printed for %d records", via, len(lines), n)
		}
		at := map[string]string{}
		for _, c := range k.consumeAll(topic) {
			at[fmt.Sprintf("%s %d %d", topic, c.Partition, c.Offset)] = c.Value
		}
		parts := map[string]bool{}
		for i, l := range lines {
			if want := fmt.Sprintf("v%d", i); at[l] != want {
				t.Fatalf("%v: line %d printed %q, which holds %q, not %s", via, i, l, at[l], want)
			}
			parts[strings.Fields(l)[1]] = true
		}
		if len(parts) != 3 {
			t.Fatalf("%v: the records went to partitions %v", via, parts)
		}
	}
}

// waitFailover waits until partition part of topic is led by another
// broker than leader, killed or stopped (a broker SIGSTOPped in the
// middle of its own append, holding its replica's lock, included: the
// controller does not wait for that lock). No failover within a minute
// fails the test with the brokers' logs.
func (k *kafkaCluster) waitFailover(round int, topic string, part, leader int) {
	k.t.Helper()
	start := time.Now()
	for {
		if l := k.leaderOf(topic, part); l > 0 && l != leader {
			return
		}
		if time.Since(start) > 60*time.Second {
			k.t.Fatalf("round %d: partition %s-%d still led by broker %d after a minute\n%s", round, topic, part, leader, k.logTails(40))
		}
		time.Sleep(50 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

// logTails is the last n lines of every broker's log, for a failure.
func (k *kafkaCluster) logTails(n int) string {
	var logs strings.Builder
	for id := 1; id <= 3; id++ {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(k.dir), "broker"+strconv.Itoa(id)+".log"))
		if err != nil {
			continue
		}
		lines := strings.Split(string(b), "\n")
		fmt.Fprintf(&logs, "--- broker %d (last %d lines)\n%s\n", id, n, strings.Join(lines[max(0, len(lines)-n):], "\n"))
	}
	return logs.String()
}

// faultRounds takes topic's partition leaders through four faults, one
// partition after another: SIGKILL and restart, then SIGSTOP past the
// session timeout and SIGCONT, twice. After each failover and each return
// (the broker back in every ISR) it waits for progress: the producers go on.
func (k *kafkaCluster) faultRounds(t *testing.T, topic string, progress func(what string)) {
	t.Helper()
	progress("records before the faults")
	for round := 0; round < 4; round++ {
		part := round % 3
		leader := k.leaderOf(topic, part)
		if round%2 == 0 {
			k.kill(leader)
		} else {
			k.signal(leader, syscall.SIGSTOP)
		}
		k.waitFailover(round, topic, part, leader)
		progress(fmt.Sprintf("round %d: records after the failover", round))
		if round%2 == 0 {
			k.start(leader)
			k.waitAddress(leader)
		} else {
			k.signal(leader, syscall.SIGCONT)
		}
		waitUntil(t, fmt.Sprintf("round %d: broker %d back in every ISR", round, leader), 60*time.Second, func() bool {
			if round%2 == 1 && k.restartIfKilled(leader) {
				return false
			}
			for _, p := range k.describe(topic).Partitions {
				if len(p.ISR) != 3 {
					return false
				}
			}
			return true
		})
		progress(fmt.Sprintf("round %d: records after the return", round))
	}
}
