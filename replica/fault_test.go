package replica_test

// TestReplicationFault is the fault test of the replication invariants
// of design.md:
//
//   - an acknowledged record (acks=all, ISR >= min.insync.replicas) is never
//     lost while at least one replica of the ISR survives, whatever
//     processes are SIGKILLed and restarted in between;
//   - per partition, offsets are dense from 0, each offset holds one record
//     forever, and acknowledged records sit in the order of acknowledgement;
//   - no reader returns a record above the high watermark.
//
// Three broker processes (this test binary re-executed as `mk broker`)
// serve topic t: 3 partitions, replication factor 3, min.insync.replicas=2,
// 64 KiB segments. A producer process (runProducer: client.Producer,
// acks=all) sends numbered keyed records and prints every acknowledgement
// with its partition and offset. A `mk consume --from-beginning` process
// follows the topic, and this process samples every replica on every broker
// below its own high watermark. Meanwhile a broker, chosen among those
// whose death leaves every partition a live ISR member, is SIGKILLed at a
// random moment and restarted, one at a time; now and then the producer is
// SIGKILLed as well (possibly mid-append, leaving a torn tail) and a new
// one takes over. Once every broker is back, every ISR is 3 again and the
// followers have caught up, checkFault asserts, per partition:
//
//   - every acknowledged record is at the partition and offset its
//     acknowledgement named, with its key, value and header;
//   - offsets are dense from 0 on every replica; every record read is one
//     that was sent, and none is there twice;
//   - every follower agrees byte for byte with the leader below the high
//     watermark, and every replica holds the same log once caught up;
//   - acknowledged records are in the order they were acknowledged;
//   - what the consumer printed and what the sampler read below a high
//     watermark during the faults is what the final log holds at that
//     offset (a record read above a high watermark and then truncated away
//     would show here).
//
// It logs how many records were sent, acknowledged, failed or were in
// flight when their producer was killed, and how many unacknowledged ones
// are in the log anyway (allowed: acks=all promises nothing about them).
//
// Short by default: 5 broker kills, 10 to 15 s on 2 cores. The soak does
// 60 broker kills (about 2 minutes):
//
//	MK_SOAK=1 go test ./replica -run TestReplicationFault -v
//
// The fault schedule comes from a seed that is logged; MK_FAULT_SEED=N
// replays it (the schedule, not the timing it meets):
//
//	MK_FAULT_SEED=N go test ./replica -run TestReplicationFault -v

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mk/client"
	"mk/commands"
	"mk/coord"
	"mk/logdir"
)

// Child processes: the test binary re-executed with childEnv set.
//
//	mk        runs mk with the process's arguments (brokers, the consumer)
//	producer  runProducer
const childEnv = "MK_REPLICA_TEST_CHILD"

const (
	faultTopic      = "t"
	faultPartitions = 3
	faultBrokers    = 3
	// firstEnv is the first record number a producer child sends; each
	// producer instance gets a range of its own.
	firstEnv = "MK_REPLICA_TEST_FIRST"
	// producerTimeout is the producer's delivery timeout.
	producerTimeout = 10 * time.Second
)

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "mk":
		os.Exit(commands.Main())
	case "producer":
		os.Exit(runProducer())
	}
	os.Exit(m.Run())
}

// The records: number n has key k<n>, a value of its number and a
// filler whose length and letters follow from n, and a header n=<n>, so a
// record read back is checked whole from its key alone.

func recordKey(n int64) []byte { return fmt.Appendf(nil, "k%010d", n) }

func recordValue(n int64) []byte {
	v := fmt.Appendf(nil, "v%010d-", n)
	for i := range n % 101 {
		v = append(v, byte('a'+(n+i)%26))
	}
	return v
}

func recordHeader(n int64) string { return "n=" + strconv.FormatInt(n, 10) }

// recordNumber is the number in a key, or -1.
func recordNumber(key string) int64 {
	s, ok := strings.CutPrefix(key, "k")
	if !ok || len(s) != 10 {
		return -1
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// runProducer sends records numbered from $MK_REPLICA_TEST_FIRST to topic
// t with acks=all, in rounds of 1 to 30 records, until SIGTERM. It writes
// to stdout, flushed after every round:
//
//	sent N        every record up to N may be appended from now on
//	ack P OFF N   record N is acknowledged at offset OFF of partition P
//	fail N        record N was not acknowledged (its append failed)
//	error MSG     why a round failed
//	done          stopped after SIGTERM
//
// A record after the last sent line was never appended; one after it that
// has neither ack nor fail was in flight when the process was killed.
func runProducer() int {
	first, err := strconv.ParseInt(os.Getenv(firstEnv), 10, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
		return 2
	}
	c, err := coord.Open(os.Getenv("MK_DIR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	var queues [faultPartitions][]int64 // numbers sent, not yet acknowledged
	p, err := client.NewProducer(c, faultTopic, client.ProducerOptions{
		Acks:       client.AcksAll,
		Timeout:    producerTimeout,
		BatchBytes: 2 << 10, // several batches per append now and then
		OnAck: func(part int32, base int64, n int) {
			for i, num := range queues[part][:n] {
				fmt.Fprintf(out, "ack %d %d %d\n", part, base+int64(i), num)
			}
			queues[part] = queues[part][n:]
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
		return 1
	}
	rng := rand.New(rand.NewPCG(uint64(first), 7))
	for n := first; ctx.Err() == nil; {
		for range 1 + rng.IntN(30) {
			key := recordKey(n)
			part := client.KeyPartition(key, faultPartitions)
			queues[part] = append(queues[part], n)
			hs := []logdir.Header{{Key: []byte("n"), Value: []byte(strconv.FormatInt(n, 10))}}
			if err := p.Send(-1, time.Now().UnixMilli(), key, recordValue(n), hs); err != nil {
				// A batch sent earlier failed; this record was not
				// taken. Flush reports the failure below.
				queues[part] = queues[part][:len(queues[part])-1]
				break
			}
			n++
		}
		fmt.Fprintf(out, "sent %d\n", n-1)
		if err := out.Flush(); err != nil {
			return 1
		}
		err := p.Flush()
		for part := range queues {
			for _, num := range queues[part] {
				fmt.Fprintf(out, "fail %d\n", num)
			}
			queues[part] = nil
		}
		if err != nil {
			fmt.Fprintf(out, "error %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		}
		if err := out.Flush(); err != nil {
			return 1
		}
	}
	p.Close() // nothing is batched: every round ends with a Flush
	fmt.Fprintln(out, "done")
	out.Flush()
	return 0
}

// proc is a child process.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process is reaped
	eof  chan struct{} // closed once its stdout is read to the end (producer)
}

// startChild starts the test binary as a child with env added; its stderr
// (and stdout, unless given) is appended to logDir/<name>.log.
func startChild(t *testing.T, logDir, name string, args, env []string, stdout *os.File) *proc {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(logDir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if stdout != nil {
		cmd.Stdout = stdout
	}
	// SIGKILL the child if the test process dies, so nothing outlives a
	// test killed half-way.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill SIGKILLs p and waits until it is reaped: its locks are free then.
func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// stop sends SIGTERM and waits up to timeout for p to exit with one of
// the codes ok (0 if none given).
func (p *proc) stop(timeout time.Duration, ok ...int) error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("%s did not exit within %s of SIGTERM", p.name, timeout)
	}
	if code := p.cmd.ProcessState.ExitCode(); !slices.Contains(append(ok, 0), code) {
		return fmt.Errorf("%s: %v", p.name, p.cmd.ProcessState)
	}
	return nil
}

// ack is one acknowledgement, in the order the producers printed them.
type ack struct {
	part int
	off  int64
	num  int64
}

// Outcomes of a record sent.
const (
	inFlight = 's' // appended maybe; its producer was killed before knowing
	acked    = 'a'
	failed   = 'f'
)

// ledger is what the producers reported.
type ledger struct {
	mu      sync.Mutex
	acks    []ack
	outcome map[int64]byte
	errs    []string
}

func (l *ledger) ackCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acks)
}

// lastErrs is the last n errors the producers reported.
func (l *ledger) lastErrs(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(lastN(l.errs, n))
}

// read parses a producer's stdout until EOF. A last line without its
// newline (cut by a SIGKILL) is dropped.
func (l *ledger) read(r io.Reader, first int64) {
	br := bufio.NewReader(r)
	last := first - 1
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		f := strings.Fields(line)
		num := func(i int) int64 { n, _ := strconv.ParseInt(f[i], 10, 64); return n }
		l.mu.Lock()
		switch f[0] {
		case "sent":
			for n := last + 1; n <= num(1); n++ {
				l.outcome[n] = inFlight
			}
			last = num(1)
		case "ack":
			l.acks = append(l.acks, ack{int(num(1)), num(2), num(3)})
			l.outcome[num(3)] = acked
		case "fail":
			l.outcome[num(1)] = failed
		case "error":
			l.errs = append(l.errs, strings.TrimSpace(strings.TrimPrefix(line, "error")))
		}
		l.mu.Unlock()
	}
}

// faultCluster is the cluster under test and its processes.
type faultCluster struct {
	t       *testing.T
	dir     string
	logDir  string
	c       *coord.Cluster
	brokers [faultBrokers + 1]*proc
	starts  [faultBrokers + 1]int
	ledger  *ledger
	prod    *proc
	prods   int
}

func (fc *faultCluster) startBroker(id int) {
	t := fc.t
	t.Helper()
	fc.starts[id]++
	p := startChild(t, fc.logDir, fmt.Sprintf("broker%d", id),
		[]string{"--dir", fc.dir, "broker", "--id", strconv.Itoa(id)}, []string{childEnv + "=mk"}, nil)
	fc.brokers[id] = p
	// Up once registered by this process and alive.
	err := poll(15*time.Second, func() (bool, string) {
		if p.exited() {
			return true, ""
		}
		b, err := fc.c.Broker(id)
		return err == nil && b.Alive && b.Pid == p.cmd.Process.Pid, fmt.Sprintf("broker %d not registered alive", id)
	})
	if p.exited() {
		t.Fatalf("broker %d (start %d) could not start: %v; %s", id, fc.starts[id], p.cmd.ProcessState, tail(filepath.Join(fc.logDir, p.name+".log"), 5))
	}
	if err != nil {
		t.Fatal(err)
	}
}

// startProducer starts a producer child whose numbers start at
// 10 million times its instance number.
func (fc *faultCluster) startProducer() {
	t := fc.t
	t.Helper()
	fc.prods++
	first := int64(fc.prods) * 10_000_000
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := startChild(t, fc.logDir, fmt.Sprintf("producer%d", fc.prods), nil,
		[]string{childEnv + "=producer", "MK_DIR=" + fc.dir, fmt.Sprintf("%s=%d", firstEnv, first)}, w)
	w.Close()
	p.eof = make(chan struct{})
	go func() {
		defer close(p.eof)
		defer r.Close()
		fc.ledger.read(r, first)
	}()
	fc.prod = p
}

// poll calls cond every 10ms until it holds or timeout passes; the error
// then carries cond's last explanation.
func poll(timeout time.Duration, cond func() (bool, string)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s: %s", timeout, why)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

// tail is the last n lines of a file, for failure messages.
func tail(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// victims are the brokers whose death leaves every partition a live ISR
// member besides them.
func (fc *faultCluster) victims() ([]int, string) {
	tp, err := fc.c.Topic(faultTopic)
	if err != nil {
		return nil, err.Error()
	}
	var out []int
	why := ""
	for b := 1; b <= faultBrokers; b++ {
		ok := true
		for _, p := range tp.Partitions {
			if !slices.ContainsFunc(p.ISR, func(i int) bool { return i != b && fc.c.BrokerAlive(i) }) {
				ok = false
				why = fmt.Sprintf("partition %d has ISR %v", p.Partition, p.ISR)
			}
		}
		if ok {
			out = append(out, b)
		}
	}
	return out, why
}

// settled says whether every broker is alive, every partition has a leader
// and a full ISR, and every replica holds the leader's whole log, all of
// it committed.
func (fc *faultCluster) settled() (bool, string) {
	for b := 1; b <= faultBrokers; b++ {
		if !fc.c.BrokerAlive(b) {
			return false, fmt.Sprintf("broker %d is not alive", b)
		}
	}
	tp, err := fc.c.Topic(faultTopic)
	if err != nil {
		return false, err.Error()
	}
	for _, p := range tp.Partitions {
		if p.Leader == coord.NoLeader || len(p.ISR) != faultBrokers {
			return false, fmt.Sprintf("partition %d: leader %d, ISR %v", p.Partition, p.Leader, p.ISR)
		}
		lst, err := replicaState(fc.c.PartitionDir(p.Leader, faultTopic, p.Partition))
		if err != nil {
			return false, err.Error()
		}
		if !lst.Leader || lst.LeaderEpoch != int32(p.LeaderEpoch) || lst.HighWatermark != lst.LogEndOffset {
			return false, fmt.Sprintf("partition %d: leader %d has leader=%v epoch %d (want %d), high watermark %d, log end %d",
				p.Partition, p.Leader, lst.Leader, lst.LeaderEpoch, p.LeaderEpoch, lst.HighWatermark, lst.LogEndOffset)
		}
		for _, b := range p.Replicas {
			if b == p.Leader {
				continue
			}
			st, err := replicaState(fc.c.PartitionDir(b, faultTopic, p.Partition))
			if err != nil {
				return false, err.Error()
			}
			if st.Leader || st.LogEndOffset != lst.LogEndOffset {
				return false, fmt.Sprintf("partition %d: follower %d has leader=%v, log end %d; the leader's is %d",
					p.Partition, b, st.Leader, st.LogEndOffset, lst.LogEndOffset)
			}
		}
	}
	return true, ""
}

func replicaState(dir string) (logdir.State, error) {
	rd, err := logdir.OpenReader(dir)
	if err != nil {
		return logdir.State{}, err
	}
	defer rd.Close()
	return rd.State()
}

func soak() bool { return os.Getenv("MK_SOAK") != "" }

func TestReplicationFault(t *testing.T) {
	if testing.Short() {
		t.Skip("a fault test with child processes")
	}
	kills := 5
	if soak() {
		kills = 60
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("MK_FAULT_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("MK_FAULT_SEED=%q: %v", s, err)
		}
	}
	t.Logf("fault schedule seed %d (replay with MK_FAULT_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	began := time.Now()

	dir, logDir := t.TempDir(), t.TempDir()
	c, err := coord.Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	fc := &faultCluster{t: t, dir: dir, logDir: logDir, c: c, ledger: &ledger{outcome: map[int64]byte{}}}
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := filepath.Glob(filepath.Join(logDir, "*.log"))
			for _, l := range logs {
				t.Logf("last lines of %s:\n%s", filepath.Base(l), tail(l, 15))
			}
		}
	})
	for id := 1; id <= faultBrokers; id++ {
		fc.startBroker(id)
	}
	if _, err := c.CreateTopic(faultTopic, faultPartitions, faultBrokers, map[string]string{
		"min.insync.replicas": "2",
		"segment.bytes":       "65536",
	}); err != nil {
		t.Fatal(err)
	}
	if err := poll(15*time.Second, fc.settled); err != nil {
		t.Fatalf("topic not ready: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	smp := newSampler(c)
	sampleDone := make(chan struct{})
	go func() { defer close(sampleDone); smp.run(ctx) }()

	consumerOut := filepath.Join(logDir, "consumer.out")
	cf, err := os.Create(consumerOut)
	if err != nil {
		t.Fatal(err)
	}
	consumer := startChild(t, logDir, "consumer", []string{"--dir", dir, "consume", faultTopic, "--from-beginning",
		"--format", `{{.Partition}} {{.Offset}} {{.Key}} {{.Value}} {{range .Headers}}{{.Key}}={{.Value}}{{end}}\n`}, []string{childEnv + "=mk"}, cf)
	cf.Close()

	fc.startProducer()

	// Faults. Before each, acknowledgements must have gone on since the
	// last one: a producer that stops making progress is a failure.
	brokerKills, producerKills := 0, 0
	for brokerKills < kills {
		time.Sleep(time.Duration(400+rng.IntN(2000)) * time.Millisecond) // the fault schedule
		before := fc.ledger.ackCount()
		if err := poll(30*time.Second, func() (bool, string) {
			return fc.ledger.ackCount() > before, "no record acknowledged since the last fault"
		}); err != nil {
			t.Fatalf("after %d broker kills: %v (producer errors: %v)", brokerKills, err, fc.ledger.lastErrs(3))
		}
		if rng.IntN(4) == 0 {
			time.Sleep(time.Duration(rng.IntN(50)) * time.Millisecond) // the fault schedule
			fc.prod.kill()
			<-fc.prod.eof
			producerKills++
			fc.startProducer()
		}
		var vs []int
		if err := poll(30*time.Second, func() (ok bool, why string) {
			vs, why = fc.victims()
			return len(vs) > 0, why
		}); err != nil {
			t.Fatalf("no broker can be killed while keeping a live ISR member: %v", err)
		}
		v := vs[rng.IntN(len(vs))]
		fc.brokers[v].kill()
		brokerKills++
		time.Sleep(time.Duration(rng.IntN(1000)) * time.Millisecond) // the fault schedule
		fc.startBroker(v)
	}
	chaos := time.Since(began)

	if err := fc.prod.stop(producerTimeout * 4); err != nil {
		t.Errorf("producer: %v", err)
	}
	<-fc.prod.eof
	if err := poll(60*time.Second, fc.settled); err != nil {
		t.Fatalf("the cluster did not settle: %v", err)
	}
	final, replicas, leaders := readFinal(t, c)
	// The consumer catches up with every partition's high watermark.
	var consumed []rec
	err = poll(30*time.Second, func() (bool, string) {
		data, err := os.ReadFile(consumerOut)
		if err != nil {
			return false, err.Error()
		}
		consumed = parseConsumed(data)
		next := [faultPartitions]int64{}
		for _, r := range consumed {
			if r.Part >= 0 && r.Part < faultPartitions {
				next[r.Part] = max(next[r.Part], r.Off+1)
			}
		}
		for p := range faultPartitions {
			if next[p] < int64(len(final[p])) {
				return false, fmt.Sprintf("the consumer is at %v, the logs end at %d %d %d", next, len(final[0]), len(final[1]), len(final[2]))
			}
		}
		return true, ""
	})
	if err != nil {
		t.Errorf("consumer: %v", err)
	}
	// 130: mk consume's documented exit code when stopped by a signal.
	if err := consumer.stop(10*time.Second, 130); err != nil {
		t.Errorf("consumer: %v", err)
	}
	cancel()
	<-sampleDone

	fc.ledger.mu.Lock()
	d := &faultData{
		Acks:     fc.ledger.acks,
		Outcome:  fc.ledger.outcome,
		Final:    final,
		Leaders:  leaders,
		Replicas: replicas,
		Consumed: consumed,
		Sampled:  smp.seen,
	}
	errs := fc.ledger.errs
	fc.ledger.mu.Unlock()
	st, problems := checkFault(d)
	problems = append(smp.problems, problems...)
	for i, p := range problems {
		if i == 20 {
			t.Errorf("... and %d more", len(problems)-i)
			break
		}
		t.Error(p)
	}
	t.Logf("%d records sent, %d acknowledged, %d lost; %d failed and %d in flight at a producer kill, of which %d are in the log anyway",
		st.sent, st.acked, st.lost, st.failed, st.inFlight, st.unackedPresent)
	t.Logf("%d broker SIGKILLs, %d producer SIGKILLs, %d producer errors (last: %v); %d records consumed, %d sampled below a high watermark, %d sampler truncations below a high watermark",
		brokerKills, producerKills, len(errs), lastN(errs, 1), len(consumed), smp.count(), smp.truncatedBelowHW)
	var epochs []int
	if tp, err := c.Topic(faultTopic); err == nil {
		for _, p := range tp.Partitions {
			epochs = append(epochs, p.LeaderEpoch)
		}
	}
	t.Logf("leader epochs now %v; faults for %s, %s in all", epochs, chaos.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
}

func lastN(s []string, n int) []string { return s[max(0, len(s)-n):] }

// rec is one record as read back.
type rec struct {
	Part       int
	Off        int64
	Key, Value string
	Header     string // key=value of the one header
}

func (r rec) String() string {
	return fmt.Sprintf("t-%d@%d %s %.20q %s", r.Part, r.Off, r.Key, r.Value, r.Header)
}

func recFrom(part int, r *logdir.Record) rec {
	out := rec{Part: part, Off: r.Offset, Key: string(r.Key), Value: string(r.Value)}
	for _, h := range r.Headers {
		out.Header += string(h.Key) + "=" + string(h.Value)
	}
	return out
}

// decodeBatches splits raw batches and decodes their records.
func decodeBatches(part int, raw []byte) (batches [][]byte, recs []rec, err error) {
	var it logdir.RecordIter
	var r logdir.Record
	for len(raw) > 0 {
		var b []byte
		if b, raw, err = logdir.NextBatch(raw); err != nil {
			return batches, recs, err
		}
		batches = append(batches, b)
		if err := it.Reset(b); err != nil {
			return batches, recs, err
		}
		for it.Next(&r) {
			recs = append(recs, recFrom(part, &r))
		}
		if err := it.Err(); err != nil {
			return batches, recs, err
		}
	}
	return batches, recs, nil
}

// parseConsumed reads the consumer's lines: PARTITION OFFSET KEY VALUE
// HEADER.
func parseConsumed(data []byte) []rec {
	var out []rec
	for line := range strings.Lines(string(data)) {
		if !strings.HasSuffix(line, "\n") {
			break // being written
		}
		f := strings.Fields(line)
		if len(f) != 5 {
			out = append(out, rec{Part: -1, Value: line})
			continue
		}
		p, _ := strconv.Atoi(f[0])
		off, _ := strconv.ParseInt(f[1], 10, 64)
		out = append(out, rec{Part: p, Off: off, Key: f[2], Value: f[3], Header: f[4]})
	}
	return out
}

// replicaDump is one replica's whole log, read without locks.
type replicaDump struct {
	Broker  int
	State   logdir.State
	Batches [][]byte
	Recs    []rec
	Err     error
}

// dumpReplica reads a replica from its log start to its log end.
func dumpReplica(dir string, broker, part int) replicaDump {
	d := replicaDump{Broker: broker}
	rd, err := logdir.OpenReader(dir)
	if err != nil {
		d.Err = err
		return d
	}
	defer rd.Close()
	if d.State, d.Err = rd.State(); d.Err != nil {
		return d
	}
	var raw, chunk []byte
	for off := d.State.LogStartOffset; off < d.State.LogEndOffset; {
		chunk, _, err = rd.Read(chunk[:0], off, d.State.LogEndOffset, 1<<20)
		if err != nil {
			d.Err = err
			return d
		}
		if len(chunk) == 0 {
			d.Err = fmt.Errorf("read stopped at offset %d of %d", off, d.State.LogEndOffset)
			return d
		}
		for rest := chunk; len(rest) > 0; {
			var b []byte
			if b, rest, err = logdir.NextBatch(rest); err != nil {
				d.Err = err
				return d
			}
			off = logdir.BatchLastOffset(b) + 1
		}
		raw = append(raw, chunk...)
	}
	d.Batches, d.Recs, d.Err = decodeBatches(part, raw)
	return d
}

// readFinal reads every partition from the beginning as a consumer does
// (client.Fetcher, from the leader, below the high watermark), and every
// replica on every broker below its log end.
func readFinal(t *testing.T, c *coord.Cluster) (final [faultPartitions][]rec, replicas [faultPartitions][]replicaDump, leaders [faultPartitions]int) {
	t.Helper()
	var as []client.Assignment
	for p := range faultPartitions {
		as = append(as, client.Assignment{Topic: faultTopic, Partition: int32(p), Start: client.StartSpec{Offset: client.Earliest}})
	}
	f := client.NewFetcher(c, as, client.ConsumerOptions{})
	defer f.Close()
	err := f.Run(context.Background(), func(_ string, p int32, r *logdir.Record) error {
		final[p] = append(final[p], recFrom(int(p), r))
		return nil
	})
	if err != nil {
		t.Fatalf("read the topic back: %v", err)
	}
	tp, err := c.Topic(faultTopic)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tp.Partitions {
		leaders[p.Partition] = p.Leader
		for b := 1; b <= faultBrokers; b++ {
			replicas[p.Partition] = append(replicas[p.Partition], dumpReplica(c.PartitionDir(b, faultTopic, p.Partition), b, p.Partition))
		}
	}
	return final, replicas, leaders
}

// sampler reads every replica on every broker during the faults, below
// the replica's own high watermark, as a consumer of it would, and
// remembers what each offset held. Two reads of one offset that disagree
// are a problem at once; the checker compares the rest with the final log.
type sampler struct {
	c    *coord.Cluster
	mu   sync.Mutex
	seen [faultPartitions]map[int64]rec
	// from says which broker's replica an offset was first read on.
	from             [faultPartitions]map[int64]int
	problems         []string
	truncatedBelowHW int
}

func newSampler(c *coord.Cluster) *sampler {
	s := &sampler{c: c}
	for p := range faultPartitions {
		s.seen[p], s.from[p] = map[int64]rec{}, map[int64]int{}
	}
	return s
}

func (s *sampler) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.seen {
		n += len(m)
	}
	return n
}

func (s *sampler) run(ctx context.Context) {
	type key struct{ b, p int }
	readers := map[key]*logdir.Reader{}
	next := map[key]int64{}
	defer func() {
		for _, rd := range readers {
			rd.Close()
		}
	}()
	var buf []byte
	for ctx.Err() == nil {
		for b := 1; b <= faultBrokers; b++ {
			for p := range faultPartitions {
				k := key{b, p}
				rd := readers[k]
				if rd == nil {
					var err error
					if rd, err = logdir.OpenReader(s.c.PartitionDir(b, faultTopic, p)); err != nil {
						continue
					}
					readers[k] = rd
				}
				var st logdir.State
				var err error
				buf, st, err = rd.Read(buf[:0], next[k], -1, 256<<10)
				if errors.Is(err, logdir.ErrOffsetOutOfRange) && next[k] > st.LogEndOffset {
					// Cut below where we read committed records: those
					// offsets are read again, and must hold the same.
					s.mu.Lock()
					s.truncatedBelowHW++
					s.mu.Unlock()
					next[k] = st.LogEndOffset
					continue
				}
				if err != nil {
					continue // a state caught mid-rewrite, a segment gone: next round
				}
				_, recs, err := decodeBatches(p, buf)
				if err != nil {
					s.mu.Lock()
					s.problems = append(s.problems, fmt.Sprintf("broker %d t-%d: read below the high watermark: %v", b, p, err))
					s.mu.Unlock()
					continue
				}
				s.mu.Lock()
				for _, r := range recs {
					if r.Off < next[k] || r.Off >= st.HighWatermark {
						continue
					}
					if old, ok := s.seen[p][r.Off]; ok && old != r {
						s.problems = append(s.problems, fmt.Sprintf("t-%d offset %d held %v (read on broker %d) and then %v (read on broker %d), both below a high watermark",
							p, r.Off, old, s.from[p][r.Off], r, b))
					} else if !ok {
						s.seen[p][r.Off], s.from[p][r.Off] = r, b
					}
					next[k] = r.Off + 1
				}
				s.mu.Unlock()
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond): // sampling interval
		}
	}
}

// faultData is what checkFault judges.
type faultData struct {
	Acks     []ack          // in the order of acknowledgement
	Outcome  map[int64]byte // every record sent: acked, failed or inFlight
	Final    [faultPartitions][]rec
	Leaders  [faultPartitions]int
	Replicas [faultPartitions][]replicaDump // one per broker
	Consumed []rec                          // printed by the consumer during the faults
	Sampled  [faultPartitions]map[int64]rec // read below some replica's high watermark during the faults
}

type faultStats struct {
	sent, acked, lost, failed, inFlight, unackedPresent int
}

// checkFault checks the invariants on d and returns the figures and the
// problems found.
func checkFault(d *faultData) (st faultStats, problems []string) {
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	st.sent = len(d.Outcome)
	for _, o := range d.Outcome {
		switch o {
		case acked:
			st.acked++
		case failed:
			st.failed++
		case inFlight:
			st.inFlight++
		}
	}
	if st.acked == 0 {
		bad("no record was acknowledged: the test proves nothing")
	}

	// The records a consumer reads: dense from 0, each one sent, whole,
	// in its key's partition, and only once.
	where := map[int64]rec{}
	for p, recs := range d.Final {
		for i, r := range recs {
			if r.Off != int64(i) {
				bad("t-%d: offset %d where %d was due: offsets are not dense", p, r.Off, i)
				break
			}
			n := recordNumber(r.Key)
			o, sent := d.Outcome[n]
			switch {
			case !sent:
				bad("%v: a record that was never sent", r)
			case r.Value != string(recordValue(n)) || r.Header != recordHeader(n):
				bad("%v: value or header is not the one sent", r)
			case int(client.KeyPartition([]byte(r.Key), faultPartitions)) != p:
				bad("%v: not in its key's partition", r)
			}
			if prev, dup := where[n]; dup {
				bad("record %d is in the log twice: %v and %v", n, prev, r)
			}
			where[n] = r
			if sent && o != acked {
				st.unackedPresent++
			}
		}
	}

	// Every acknowledged record where its acknowledgement said, in the
	// order of acknowledgement.
	lastAcked := map[int]ack{}
	for _, a := range d.Acks {
		recs := d.Final[a.part]
		switch {
		case a.off >= int64(len(recs)):
			bad("acknowledged record %d at t-%d@%d is lost: the partition ends at %d", a.num, a.part, a.off, len(recs))
			st.lost++
		case recordNumber(recs[a.off].Key) != a.num:
			bad("acknowledged record %d at t-%d@%d is lost: the offset holds %v", a.num, a.part, a.off, recs[a.off])
			st.lost++
		}
		if prev, ok := lastAcked[a.part]; ok && a.off <= prev.off {
			bad("t-%d: record %d acknowledged at offset %d after record %d at offset %d", a.part, a.num, a.off, prev.num, prev.off)
		}
		lastAcked[a.part] = a
	}

	// Every replica: readable, dense from 0, the leader's log byte for
	// byte below the high watermark, and, caught up, the same log whole.
	for p := range faultPartitions {
		var leader *replicaDump
		for i := range d.Replicas[p] {
			if d.Replicas[p][i].Broker == d.Leaders[p] {
				leader = &d.Replicas[p][i]
			}
		}
		if leader == nil {
			bad("t-%d: no replica of the leader %d", p, d.Leaders[p])
			continue
		}
		hw := leader.State.HighWatermark
		if int64(len(d.Final[p])) != hw {
			bad("t-%d: a consumer read %d records, the leader's high watermark is %d", p, len(d.Final[p]), hw)
		}
		leaderBatches := map[int64][]byte{}
		for _, b := range leader.Batches {
			leaderBatches[logdir.BatchBaseOffset(b)] = b
		}
		for _, rd := range d.Replicas[p] {
			if rd.Err != nil {
				bad("t-%d on broker %d: %v", p, rd.Broker, rd.Err)
				continue
			}
			for i, r := range rd.Recs {
				if r.Off != int64(i) {
					bad("t-%d on broker %d: offset %d where %d was due", p, rd.Broker, r.Off, i)
					break
				}
			}
			if int64(len(rd.Recs)) != rd.State.LogEndOffset {
				bad("t-%d on broker %d: %d records below its log end %d", p, rd.Broker, len(rd.Recs), rd.State.LogEndOffset)
			}
			if rd.State.LogEndOffset != leader.State.LogEndOffset {
				bad("t-%d on broker %d: log end %d, the leader's is %d", p, rd.Broker, rd.State.LogEndOffset, leader.State.LogEndOffset)
			}
			for _, b := range rd.Batches {
				if logdir.BatchLastOffset(b) >= hw {
					break
				}
				base := logdir.BatchBaseOffset(b)
				if lb, ok := leaderBatches[base]; !ok || !bytes.Equal(lb, b) {
					bad("t-%d on broker %d: the batch at offset %d differs from the leader's below the high watermark %d", p, rd.Broker, base, hw)
				}
			}
			for i, r := range rd.Recs {
				if int64(i) >= min(hw, int64(len(d.Final[p]))) {
					break
				}
				if r != d.Final[p][i] {
					bad("t-%d on broker %d holds %v where the leader holds %v", p, rd.Broker, r, d.Final[p][i])
					break
				}
			}
		}
	}

	// Whatever was read during the faults is what the offset holds now.
	next := map[int]int64{}
	for _, r := range d.Consumed {
		if r.Part < 0 || r.Part >= faultPartitions {
			bad("the consumer printed %q", r.Value)
			continue
		}
		if r.Off != next[r.Part] {
			bad("the consumer printed t-%d@%d after t-%d@%d", r.Part, r.Off, r.Part, next[r.Part]-1)
		}
		next[r.Part] = r.Off + 1
		if r.Off >= int64(len(d.Final[r.Part])) || r != d.Final[r.Part][r.Off] {
			bad("the consumer printed %v, which the log does not hold", r)
		}
	}
	for p, m := range d.Sampled {
		for off, r := range m {
			if off >= int64(len(d.Final[p])) || r != d.Final[p][off] {
				bad("%v was read below a high watermark, and the log does not hold it", r)
			}
		}
	}
	return st, problems
}

// TestFaultChecker shows that checkFault sees each violation it is for,
// on a small history made up here.
func TestFaultChecker(t *testing.T) {
	cases := []struct {
		name string
		bug  func(d *faultData)
		want string
	}{
		{"clean", func(*faultData) {}, ""},
		{"acknowledged record lost with its tail", func(d *faultData) {
			a := d.Acks[len(d.Acks)-1]
			setLog(d, a.part, d.Final[a.part][:a.off])
		}, "is lost"},
		{"acknowledged record replaced", func(d *faultData) {
			a := d.Acks[0]
			recs := slices.Clone(d.Final[a.part])
			recs[a.off] = makeRec(a.part, a.off, 99)
			d.Outcome[99] = failed
			setLog(d, a.part, recs)
		}, "is lost"},
		{"offsets not dense", func(d *faultData) {
			p := d.Acks[0].part
			d.Final[p] = slices.Delete(slices.Clone(d.Final[p]), 1, 2)
		}, "not dense"},
		{"acknowledged out of order", func(d *faultData) {
			i := slices.IndexFunc(d.Acks[1:], func(a ack) bool { return a.part == d.Acks[0].part }) + 1
			d.Acks[0], d.Acks[i] = d.Acks[i], d.Acks[0]
		}, "acknowledged at offset"},
		{"follower diverges below the high watermark", func(d *faultData) {
			p := d.Acks[0].part
			recs := slices.Clone(d.Final[p])
			recs[0] = makeRec(p, 0, 99)
			d.Replicas[p][1] = makeDump(2, p, recs)
		}, "differs from the leader's"},
		{"follower behind", func(d *faultData) {
			p := d.Acks[0].part
			d.Replicas[p][2] = makeDump(3, p, d.Final[p][:1])
		}, "log end"},
		{"record read above the high watermark, then truncated", func(d *faultData) {
			p := d.Acks[0].part
			d.Consumed = append(d.Consumed, makeRec(p, int64(len(d.Final[p])), 99))
		}, "the log does not hold"},
		{"sampled record the log lost", func(d *faultData) {
			p := d.Acks[0].part
			d.Sampled[p][0] = makeRec(p, 0, 99)
		}, "the log does not hold"},
		{"record twice", func(d *faultData) {
			p := d.Acks[0].part
			setLog(d, p, append(slices.Clone(d.Final[p]), makeRec(p, int64(len(d.Final[p])), d.Acks[0].num)))
		}, "twice"},
		{"record never sent", func(d *faultData) {
			p := d.Acks[0].part
			setLog(d, p, append(slices.Clone(d.Final[p]), makeRec(p, int64(len(d.Final[p])), 12345)))
		}, "never sent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := checkerHistory()
			tc.bug(d)
			_, problems := checkFault(d)
			if tc.want == "" {
				if len(problems) > 0 {
					t.Fatalf("problems in a clean history: %q", problems)
				}
				return
			}
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Fatalf("no problem saying %q; got %q", tc.want, problems)
			}
		})
	}
}

// checkerHistory is a clean history: records 1..40 sent, all but 37..40
// acknowledged, 37 and 38 in the log anyway; three identical replicas.
func checkerHistory() *faultData {
	d := &faultData{Outcome: map[int64]byte{}}
	var recs [faultPartitions][]rec
	for n := int64(1); n <= 40; n++ {
		p := int(client.KeyPartition(recordKey(n), faultPartitions))
		switch {
		case n <= 36:
			d.Outcome[n] = acked
			d.Acks = append(d.Acks, ack{p, int64(len(recs[p])), n})
		case n <= 38:
			d.Outcome[n] = failed
		default:
			d.Outcome[n] = inFlight
			continue
		}
		recs[p] = append(recs[p], makeRec(p, int64(len(recs[p])), n))
	}
	for p := range faultPartitions {
		d.Leaders[p] = 1
		setLog(d, p, recs[p])
		d.Consumed = append(d.Consumed, recs[p]...)
		d.Sampled[p] = map[int64]rec{}
		for _, r := range recs[p] {
			d.Sampled[p][r.Off] = r
		}
	}
	return d
}

func makeRec(p int, off, n int64) rec {
	return rec{Part: p, Off: off, Key: string(recordKey(n)), Value: string(recordValue(n)), Header: recordHeader(n)}
}

// setLog makes recs the log of partition p on every broker.
func setLog(d *faultData, p int, recs []rec) {
	d.Final[p] = recs
	d.Replicas[p] = nil
	for b := 1; b <= faultBrokers; b++ {
		d.Replicas[p] = append(d.Replicas[p], makeDump(b, p, recs))
	}
}

// makeDump encodes recs in batches of 3 (the same bytes for the same
// records) as broker b's replica of p, all committed.
func makeDump(b, p int, recs []rec) replicaDump {
	var raw []byte
	for i := 0; i < len(recs); i += 3 {
		var bb logdir.BatchBuilder
		for _, r := range recs[i:min(i+3, len(recs))] {
			hk, hv, _ := strings.Cut(r.Header, "=")
			bb.Add(1000, []byte(r.Key), []byte(r.Value), []logdir.Header{{Key: []byte(hk), Value: []byte(hv)}})
		}
		batch := slices.Clone(bb.Finish())
		logdir.SetBaseOffset(batch, recs[i].Off)
		raw = append(raw, batch...)
	}
	d := replicaDump{Broker: b}
	d.State.LogEndOffset = int64(len(recs))
	d.State.HighWatermark = d.State.LogEndOffset
	d.Batches, d.Recs, d.Err = decodeBatches(p, raw)
	return d
}
