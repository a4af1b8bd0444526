package client_test

// The consumer-group fault test. Member processes (runMember) of group g
// consume topic t (6 partitions) while this process produces numbered
// records and, at random, SIGKILLs a member or makes one leave (SIGINT),
// then starts a new one in its place. Every member logs to its stdout (a
// file) the partitions it takes and gives up and every record it handles,
// with wall-clock times; this process samples the group's committed
// offsets all along. Afterwards a checker asserts:
//
//   - every acknowledged record was handled by some member (at least once);
//   - no two members owned one partition at overlapping times (an interval
//     runs from OnOwn, told once the lock is held, to OnRelease, told
//     before it is released, or to the SIGKILL: the process died between
//     the signal and its reaping, so the next owner may not start before
//     the signal);
//   - a member handled a partition's records only while it owned it (up to
//     its reaping, for a killed one);
//   - no committed offset was beyond what its committer handled: a commit
//     of offset N by member M means M handled record N-1;
//   - a record was handled twice only if a member that handled it first
//     was SIGKILLed (the duplicates at-least-once allows, counted).
//
// By default two strategies (range, sticky) get 4s of faults each, about
// 20s in all. A soak gives each of range, roundrobin and sticky a minute:
//
//	MK_SOAK=1 go test ./client -run TestGroupFault -v
//	go test ./client -run TestGroupFault -long -v

import (
	"bufio"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"mk/client"
	"mk/coord"
)

var long = flag.Bool("long", false, "run the fault tests for minutes (also MK_SOAK=1)")

func soak() bool { return *long || os.Getenv("MK_SOAK") != "" }

func TestGroupFault(t *testing.T) {
	strategies, chaos := []string{coord.StrategyRange, coord.StrategySticky}, 4*time.Second
	if soak() {
		strategies, chaos = []string{coord.StrategyRange, coord.StrategyRoundRobin, coord.StrategySticky}, time.Minute
	}
	for _, s := range strategies {
		t.Run(s, func(t *testing.T) { runGroupFault(t, s, chaos) })
	}
}

// faultInstance is one member process and the file its stdout goes to.
type faultInstance struct {
	proc *memberProc
	path string
}

type partOffset struct {
	p   int
	off int64
}

type sampledCommit struct {
	p      int
	member string
	off    int64
}

func runGroupFault(t *testing.T, strategy string, chaos time.Duration) {
	dir, c := testCluster(t)
	const partitions, slots = 6, 4
	createTopic(t, c, "t", partitions)
	out := t.TempDir()
	// The schedule of faults; what it meets depends on timing anyway.
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("fault schedule seed %d", seed)

	var instances []*faultInstance
	running := make([]*faultInstance, slots)
	start := func(slot int) {
		name := fmt.Sprintf("m%d.%d", slot, len(instances))
		path := filepath.Join(out, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		commit := []string{client.CommitAuto, client.CommitSync}[rng.IntN(2)]
		in := &faultInstance{startMember(t, dir, name, strategy, commit, f), path}
		f.Close() // the child has its own descriptor
		instances = append(instances, in)
		running[slot] = in
	}
	for s := range slots {
		start(s)
	}

	// The producer: numbered values, keyed by their number so they spread
	// over the partitions; acked holds those whose Flush succeeded.
	var (
		mu       sync.Mutex
		acked    []string
		logEnd   = map[int]int64{}
		stopProd = make(chan struct{})
		prodDone = make(chan error, 1)
	)
	go func() {
		p, err := client.NewProducer(c, "t", client.ProducerOptions{Acks: client.AcksAll, OnAck: func(part int32, base int64, n int) {
			mu.Lock()
			logEnd[int(part)] = base + int64(n)
			mu.Unlock()
		}})
		if err != nil {
			prodDone <- err
			return
		}
		defer p.Close()
		var pending []string
		for i := 0; ; i++ {
			v := fmt.Sprintf("v%07d", i)
			if err := p.Send(-1, time.Now().UnixMilli(), []byte(v), []byte(v), nil); err != nil {
				prodDone <- err
				return
			}
			pending = append(pending, v)
			if len(pending) < 10 {
				continue
			}
			if err := p.Flush(); err != nil {
				prodDone <- err
				return
			}
			mu.Lock()
			acked = append(acked, pending...)
			mu.Unlock()
			pending = pending[:0]
			select {
			case <-stopProd:
				prodDone <- nil
				return
			case <-time.After(2 * time.Millisecond): // the production rate, not a wait for a condition
			}
		}
	}()

	// The sampler: every commit it sees, with its committer.
	commits := map[sampledCommit]bool{}
	stopSample, sampleDone := make(chan struct{}), make(chan struct{})
	sample := func() {
		offs, err := c.CommittedOffsets("g", "t")
		if err != nil {
			t.Error(err)
			return
		}
		for p, cm := range offs {
			commits[sampledCommit{p, cm.Member, cm.Offset}] = true
		}
	}
	go func() {
		defer close(sampleDone)
		for {
			sample()
			select {
			case <-stopSample:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()

	// Faults: every 50-300ms a member is SIGKILLed (70%) or leaves, and a
	// new one takes its slot at once or after the next pause.
	kills, leaves := 0, 0
	var empty []int
	for deadline := time.Now().Add(chaos); time.Now().Before(deadline); {
		time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond) // the fault schedule
		for _, s := range empty {
			start(s)
		}
		empty = empty[:0]
		slot := rng.IntN(slots)
		if rng.IntN(10) < 7 {
			running[slot].proc.kill()
			kills++
		} else {
			running[slot].proc.stop(t)
			leaves++
		}
		if rng.IntN(2) == 0 {
			start(slot)
		} else {
			empty = append(empty, slot)
		}
	}
	for _, s := range empty {
		start(s)
	}
	close(stopProd)
	if err := <-prodDone; err != nil {
		t.Fatalf("producer: %v", err)
	}

	// Every partition's committed offset reaches its log end: all handled
	// (beyond it is for the checker to explain).
	mu.Lock()
	ends := maps.Clone(logEnd)
	mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		offs, err := c.CommittedOffsets("g", "t")
		if err != nil {
			t.Fatal(err)
		}
		behind := []string{}
		for p, end := range ends {
			if offs[p].Offset < end {
				behind = append(behind, fmt.Sprintf("t-%d at %d of %d", p, offs[p].Offset, end))
			}
		}
		if len(behind) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the group did not commit everything within 30s: %s", strings.Join(behind, ", "))
			break
		}
		time.Sleep(10 * time.Millisecond) // poll interval, bounded by the deadline
	}
	for _, in := range running {
		in.proc.stop(t)
	}
	close(stopSample)
	<-sampleDone
	sample()

	checkGroupFault(t, instances, acked, commits)
	gen := int64(0)
	if g, err := c.Group("g"); err == nil {
		gen = g.Generation
	}
	t.Logf("%s: %d records acknowledged, %d member processes, %d SIGKILLs, %d leaves, %d generations, %d commits sampled",
		strategy, len(acked), len(instances), kills, leaves, gen, len(commits))
}

// interval is an ownership interval; a killed member's ends at the
// SIGKILL (end) or at its reaping (lastEnd), whichever the check needs.
type interval struct {
	inst       string
	start, end int64
	lastEnd    int64
}

type handled struct {
	inst  string
	value string
	at    int64
}

func checkGroupFault(t *testing.T, instances []*faultInstance, acked []string, commits map[sampledCommit]bool) {
	t.Helper()
	byMember := map[string]string{}        // member id -> instance
	intervals := map[int][]interval{}      // partition -> ownership intervals
	records := map[partOffset][]handled{}  // every handling of every record
	killed := map[string]bool{}            // instances that were SIGKILLed
	own := map[string]map[int][]interval{} // instance -> partition -> intervals
	for _, in := range instances {
		name := in.proc.name
		killed[name] = !in.proc.killed.IsZero()
		open := map[int]int64{}
		data, err := os.ReadFile(in.path)
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		if i := strings.LastIndexByte(text, '\n'); i+1 < len(text) {
			if !killed[name] {
				t.Errorf("%s: output ends in a partial line %q", name, text[i+1:])
			}
			text = text[:i+1] // a SIGKILL may cut a write short
		}
		own[name] = map[int][]interval{}
		sc := bufio.NewScanner(strings.NewReader(text))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			at, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
			switch f[0] {
			case "member":
				byMember[f[1]] = name
			case "own":
				p, _ := strconv.Atoi(f[1])
				if _, dup := open[p]; dup {
					t.Errorf("%s: took t-%d twice", name, p)
				}
				open[p] = at
			case "release":
				p, _ := strconv.Atoi(f[1])
				s, ok := open[p]
				if !ok {
					t.Errorf("%s: released t-%d, which it did not own", name, p)
					continue
				}
				delete(open, p)
				intervals[p] = append(intervals[p], interval{name, s, at, at})
				own[name][p] = append(own[name][p], interval{name, s, at, at})
			case "rec":
				p, _ := strconv.Atoi(f[1])
				off, _ := strconv.ParseInt(f[2], 10, 64)
				po := partOffset{p, off}
				records[po] = append(records[po], handled{name, f[3], at})
			}
		}
		for p, s := range open {
			if !killed[name] {
				t.Errorf("%s: exited without releasing t-%d", name, p)
				continue
			}
			iv := interval{name, s, in.proc.killed.UnixNano(), in.proc.reaped.UnixNano()}
			intervals[p] = append(intervals[p], iv)
			own[name][p] = append(own[name][p], iv)
		}
	}

	// One owner at a time.
	for p, ivs := range intervals {
		slices.SortFunc(ivs, func(a, b interval) int { return int(a.start - b.start) })
		var maxEnd int64
		var last interval
		for i, iv := range ivs {
			if i > 0 && iv.start < maxEnd {
				t.Errorf("t-%d owned by %s from %d while %s owned it until %d", p, iv.inst, iv.start, last.inst, maxEnd)
			}
			if iv.end > maxEnd {
				maxEnd, last = iv.end, iv
			}
		}
	}

	// Records handled only while owned; the same value at an offset
	// whoever handled it; duplicates only after a SIGKILL.
	byValue := map[string]bool{}
	duplicates := 0
	for po, hs := range records {
		slices.SortFunc(hs, func(a, b handled) int { return int(a.at - b.at) })
		for i, h := range hs {
			byValue[h.value] = true
			if h.value != hs[0].value {
				t.Errorf("t-%d offset %d: %s handled %q, %s handled %q", po.p, po.off, hs[0].inst, hs[0].value, h.inst, h.value)
			}
			if !slices.ContainsFunc(own[h.inst][po.p], func(iv interval) bool { return iv.start <= h.at && h.at <= iv.lastEnd }) {
				t.Errorf("%s handled t-%d offset %d at %d without owning t-%d", h.inst, po.p, po.off, h.at, po.p)
			}
			if i < len(hs)-1 && !killed[h.inst] {
				t.Errorf("t-%d offset %d handled again after %s, which was not killed, handled it", po.p, po.off, h.inst)
			}
		}
		duplicates += len(hs) - 1
	}

	// At least once.
	missing := 0
	for _, v := range acked {
		if !byValue[v] {
			if missing < 10 {
				t.Errorf("acknowledged record %s was never handled", v)
			}
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged records never handled", missing, len(acked))
	}

	// Commits earned.
	for cm := range commits {
		if cm.off == 0 {
			continue
		}
		inst, ok := byMember[cm.member]
		if !ok {
			t.Errorf("t-%d: offset %d committed by unknown member %q", cm.p, cm.off, cm.member)
			continue
		}
		if !slices.ContainsFunc(records[partOffset{cm.p, cm.off - 1}], func(h handled) bool { return h.inst == inst }) {
			t.Errorf("t-%d: %s committed offset %d without handling offset %d", cm.p, inst, cm.off, cm.off-1)
		}
	}
	t.Logf("%d records handled, %d duplicates (handled again after a SIGKILL)", len(records)+duplicates, duplicates)
}
