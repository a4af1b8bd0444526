package main

// Brokers are the only writers of their replicas (design decision 4):
// no client process ever takes a replica's lock, and a leader that was
// stopped and fenced (a zombie) acknowledges nothing when it wakes.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/logdir"
)

// replicaLockInodes lists the inodes of every replica's lock files (lock
// and flush.lock) in the cluster.
func replicaLockInodes(t *testing.T, dir string) map[uint64]string {
	t.Helper()
	out := map[uint64]string{}
	for _, name := range []string{"lock", "flush.lock"} {
		paths, _ := filepath.Glob(filepath.Join(dir, "brokers", "*", "*", name))
		for _, p := range paths {
			var st syscall.Stat_t
			if err := syscall.Stat(p, &st); err == nil {
				out[st.Ino] = p
			}
		}
	}
	return out
}

// flockHolders reads /proc/locks: the pids holding or waiting for a lock
// on each inode.
func flockHolders(t *testing.T) map[uint64][]int {
	t.Helper()
	data, err := os.ReadFile("/proc/locks")
	if err != nil {
		t.Skipf("no /proc/locks: %v", err)
	}
	out := map[uint64][]int{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(strings.Replace(line, "->", "", 1))
		if len(f) < 6 {
			continue
		}
		pid, err1 := strconv.Atoi(f[4])
		dev := strings.Split(f[5], ":")
		if err1 != nil || len(dev) != 3 {
			continue
		}
		ino, err := strconv.ParseUint(dev[2], 10, 64)
		if err == nil {
			out[ino] = append(out[ino], pid)
		}
	}
	return out
}

// TestNoClientHoldsReplicaLock: while mk produce streams records and mk
// consume (alone and in a group) reads them, no lock of any replica is
// ever held, or waited for, by a client process: only brokers take them.
func TestNoClientHoldsReplicaLock(t *testing.T) {
	k := startKafkaCluster(t, 2)
	k.mk("topic", "create", "t", "--partitions", "2", "--replication-factor", "2")
	start := func(stdin io.Reader, args ...string) *exec.Cmd {
		cmd := exec.Command("mk", append([]string{"--dir", k.dir}, args...)...)
		cmd.Stdin, cmd.Stdout = stdin, io.Discard
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if stderr.Len() > 0 {
				t.Logf("mk %s: %s", strings.Join(args, " "), stderr.String())
			}
		})
		return cmd
	}
	pr, pw := io.Pipe()
	producer := start(pr, "produce", "t", "--acks", "all")
	consumer := start(nil, "consume", "t", "--from-beginning")
	member := start(nil, "consume", "t", "--group", "g", "--from-beginning")
	clients := map[int]string{producer.Process.Pid: "producer", consumer.Process.Pid: "consumer", member.Process.Pid: "group member"}
	brokers := map[int]bool{}
	for _, cmd := range k.procs {
		brokers[cmd.Process.Pid] = true
	}
	done := make(chan error, 1)
	go func() {
		w := bufio.NewWriter(pw)
		for i := 0; i < 200000; i++ {
			fmt.Fprintf(w, "record %d %s\n", i, strings.Repeat("x", 50))
			if i%500 == 0 {
				w.Flush()
			}
		}
		w.Flush()
		done <- pw.Close()
	}()
	samples, held := 0, 0
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		inodes := replicaLockInodes(t, k.dir)
		for ino, pids := range flockHolders(t) {
			path, ok := inodes[ino]
			if !ok {
				continue
			}
			for _, pid := range pids {
				if who, ok := clients[pid]; ok {
					t.Fatalf("the %s (pid %d) holds or waits for %s", who, pid, path)
				}
				if !brokers[pid] {
					t.Fatalf("pid %d, not a broker, holds or waits for %s", pid, path)
				}
				held++
			}
		}
		samples++
	}
	if err := producer.Wait(); err != nil {
		t.Fatalf("mk produce: %v", err)
	}
	waitUntil(t, "records committed", 20*time.Second, func() bool {
		n := int64(0)
		for _, p := range k.describe("t").Partitions {
			n += p.HighWatermark
		}
		return n == 200000
	})
	t.Logf("%d samples of /proc/locks while producing; %d replica locks seen held, all by brokers", samples, held)
}

// rawConn is a Kafka protocol connection that sends requests without
// waiting for their answers.
type rawConn struct {
	t    *testing.T
	c    net.Conn
	corr int32
}

func dialRaw(t *testing.T, addr string) *rawConn {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c}
}

func (rc *rawConn) send(req kmsg.Request) {
	rc.corr++
	b := []byte{0, 0, 0, 0}
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(rc.corr))
	b = binary.BigEndian.AppendUint16(b, 0xffff)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	if _, err := rc.c.Write(b); err != nil {
		rc.t.Fatal(err)
	}
}

func (rc *rawConn) recv(resp kmsg.Response, version int16, timeout time.Duration) error {
	rc.c.SetReadDeadline(time.Now().Add(timeout))
	var size [4]byte
	if _, err := io.ReadFull(rc.c, size[:]); err != nil {
		return err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(rc.c, body); err != nil {
		return err
	}
	resp.SetVersion(version)
	body = body[4:]
	if resp.IsFlexible() {
		body = body[1:]
	}
	return resp.ReadFrom(body)
}

func produceReq(topic string, acks int16, records []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = 12
	req.Acks, req.TimeoutMillis = acks, 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func valuesBatch(values ...string) []byte {
	var b logdir.BatchBuilder
	for _, v := range values {
		b.Add(time.Now().UnixMilli(), nil, []byte(v), nil)
	}
	return append([]byte(nil), b.Finish()...)
}

// replicaValues reads broker id's replica of t-0 up to its high watermark
// (all of it with toEnd).
func replicaValues(t *testing.T, k *kafkaCluster, id int, toEnd bool) []string {
	t.Helper()
	rd, err := logdir.OpenReader(filepath.Join(k.dir, "brokers", strconv.Itoa(id), "z-0"))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	st, err := rd.State()
	if err != nil {
		t.Fatal(err)
	}
	limit := st.HighWatermark
	if toEnd {
		limit = st.LogEndOffset
	}
	buf, _, err := rd.Read(nil, 0, limit, 64<<20)
	if err != nil && limit > 0 {
		t.Fatal(err)
	}
	var out []string
	var it logdir.RecordIter
	var r logdir.Record
	for len(buf) > 0 {
		h, _ := logdir.ParseBatchHeader(buf)
		it.Reset(buf[:h.Size()])
		for it.Next(&r) {
			out = append(out, fmt.Sprintf("%d:%s", r.Offset, r.Value))
		}
		buf = buf[h.Size():]
	}
	return out
}

// TestZombieLeader: a leader SIGSTOPped with an acks=all batch it has
// appended while its followers were stopped is a zombie when it wakes.
// Meanwhile the followers ran again (copying the batch from its files,
// uncommitted), its heartbeat went stale, the controller fenced its
// replica and elected a follower, which committed the batch and took new
// records. Woken, the zombie acknowledges nothing: it answers the pending
// batch NOT_LEADER_OR_FOLLOWER (its own acks=all wait sees the fence, and
// its followers, now at a newer epoch, no longer count for its high
// watermark), rejoins as a follower, and every replica ends with the same
// records, every acknowledged one among them. (That the batch was
// committed by the new leader though the zombie refused it is Kafka's
// way too: a refused or timed-out batch may be in the log.)
func TestZombieLeader(t *testing.T) {
	// The followers are stopped for a moment only (far less than the
	// session timeout, or the controller would take them out of the ISR
	// and the leader would rightly commit x); the leader for longer.
	k := startKafkaCluster(t, 3, "--session-timeout", "4s")
	t.Cleanup(func() {
		if t.Failed() {
			for id := 1; id <= 3; id++ {
				log, _ := os.ReadFile(filepath.Join(filepath.Dir(k.dir), "broker"+strconv.Itoa(id)+".log"))
				t.Logf("broker %d's log:\n%s", id, log)
			}
		}
	})
	k.mk("topic", "create", "z", "--replication-factor", "3")
	waitUntil(t, "ISR of 3", 10*time.Second, func() bool { return len(k.describe("z").Partitions[0].ISR) == 3 })
	before := k.describe("z").Partitions[0]
	leader := before.Leader
	p := produceRaw(t, k, "z", 0, -1, valuesBatch("a0", "a1", "a2")).Topics[0].Partitions[0]
	if p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("first batch: %+v", p)
	}
	var followers []int
	for id := 1; id <= 3; id++ {
		if id != leader {
			followers = append(followers, id)
		}
	}
	_, addr := k.registration(leader)
	zc := dialRaw(t, addr)
	signal := func(ids []int, sig syscall.Signal) {
		for _, id := range ids {
			k.signal(id, sig) // a SIGSTOP returns once it is stopped
		}
	}
	t.Cleanup(func() { signal([]int{1, 2, 3}, syscall.SIGCONT) })

	// The followers stop; the leader appends x0..x2 alone and waits for
	// them (acks=all); then it stops too.
	signal(followers, syscall.SIGSTOP)
	zc.send(produceReq("z", -1, valuesBatch("x0", "x1", "x2")))
	leaderDir := filepath.Join(k.dir, "brokers", strconv.Itoa(leader), "z-0")
	waitUntil(t, "the leader appended x", 5*time.Second, func() bool {
		rd, err := logdir.OpenReader(leaderDir)
		if err != nil {
			return false
		}
		defer rd.Close()
		st, err := rd.State()
		return err == nil && st.LogEndOffset == 6
	})
	signal([]int{leader}, syscall.SIGSTOP)
	signal(followers, syscall.SIGCONT)
	if isr := k.describe("z").Partitions[0].ISR; len(isr) != 3 {
		t.Fatalf("the ISR shrank to %v while the followers were stopped: the machine is too slow for this test's timing", isr)
	}

	// Its heartbeat goes stale; the controller fences its replica and
	// elects a follower, which takes y0, y1 after x.
	var now struct {
		Leader, LeaderEpoch int
	}
	waitUntil(t, "a new leader", 30*time.Second, func() bool {
		p := k.describe("z").Partitions[0]
		now.Leader, now.LeaderEpoch = p.Leader, p.LeaderEpoch
		return p.Leader != leader && p.Leader > 0 && p.LeaderEpoch > before.LeaderEpoch
	})
	var y kmsg.ProduceResponseTopicPartition
	waitUntil(t, "y acknowledged by the new leader", 10*time.Second, func() bool {
		y = produceTo(t, k, now.Leader, 13, "z", 0, -1, 10000, valuesBatch("y0", "y1")).Topics[0].Partitions[0]
		return y.ErrorCode == 0
	})
	if y.BaseOffset != 6 {
		t.Fatalf("y acknowledged at %d, want 6 (after x, which the new leader copied)", y.BaseOffset)
	}

	// The zombie wakes: its pending acks=all batch is refused.
	resp := kmsg.NewPtrProduceResponse()
	if err := zc.recv(resp, 12, 10*time.Millisecond); err == nil {
		t.Fatalf("answered before the zombie woke: %+v", resp.Topics[0].Partitions[0])
	}
	for id := 1; id <= 3; id++ {
		st, _ := os.ReadFile(filepath.Join(k.dir, "brokers", strconv.Itoa(id), "z-0", "state"))
		t.Logf("broker %d's state before the zombie wakes:\n%s", id, bytes.TrimRight(st, " \n"))
	}
	signal([]int{leader}, syscall.SIGCONT)
	if err := zc.recv(resp, 12, 20*time.Second); err != nil {
		t.Fatalf("the zombie's answer: %v", err)
	}
	if x := resp.Topics[0].Partitions[0]; x.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("the zombie answered x with %v (base offset %d), want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(x.ErrorCode), x.BaseOffset)
	}
	// It rejoins as a follower and copies y.
	want := []string{"0:a0", "1:a1", "2:a2", "3:x0", "4:x1", "5:x2", "6:y0", "7:y1"}
	waitUntil(t, "the old leader back in the ISR with the log of the new", 20*time.Second, func() bool {
		p := k.describe("z").Partitions[0]
		return len(p.ISR) == 3 && p.HighWatermark == 8 && fmt.Sprint(replicaValues(t, k, leader, true)) == fmt.Sprint(want)
	})
	for id := 1; id <= 3; id++ {
		if got := replicaValues(t, k, id, true); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("broker %d's replica: %v, want %v", id, got, want)
		}
	}
}
