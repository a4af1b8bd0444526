package client_test

// Consumer-group benchmarks.
//
// BenchmarkGroupRebalance measures, with 3 member processes on 12
// partitions (range), the time from a member's SIGKILL, its leave
// (SIGINT) or a new member's start until every partition is owned again
// by the member the new assignment names and a probe record produced into
// every partition right after the event has been handled. Times are the
// members' own clocks (the same wall clock). It reports p50, p99 and max
// over the rounds (b.N); the target is p99 <= 200ms:
//
//	go test ./client -run '^$' -bench GroupRebalance -benchtime 30x
//
// BenchmarkGroupThroughput reads the same records with a group member and
// with a bare Fetcher in one run, alternately, and reports both rates and
// their ratio (group/fetcher; the target is >= 0.8):
//
//	go test ./client -run '^$' -bench GroupThroughput -benchtime 5x

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"mk/client"
	"mk/coord"
	"mk/logdir"
)

// memberEvent is a line of a member's stdout (see runMember).
type memberEvent struct {
	member string // instance name
	kind   string // start, member, own, release, rec
	p      int
	value  string // rec: the value; member: the member id
	at     int64
}

// pipeMember starts a member whose events go to events.
func pipeMember(b *testing.B, dir, name string, events chan<- memberEvent) *memberProc {
	pr, pw := io.Pipe()
	m := startMember(b, dir, name, coord.StrategyRange, client.CommitAuto, pw)
	go func() {
		<-m.done
		pw.Close()
	}()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			ev := memberEvent{member: name, kind: f[0]}
			ev.at, _ = strconv.ParseInt(f[len(f)-1], 10, 64)
			switch f[0] {
			case "own", "release":
				ev.p, _ = strconv.Atoi(f[1])
			case "rec":
				ev.p, _ = strconv.Atoi(f[1])
				ev.value = f[3]
			case "member":
				ev.value = f[1]
			}
			events <- ev
		}
	}()
	return m
}

// rebalanceWatch follows the members' events.
type rebalanceWatch struct {
	c       *coord.Cluster
	events  chan memberEvent
	owner   map[int]string // partition -> instance, from own/release events
	ownedAt map[int]int64  // when the current owner took it
	ids     map[string]string
	probes  map[string]int64 // probe value -> when handled
}

// settle reads events until every one of the 12 partitions is owned by
// the instance the group's assignment names, the generation is past
// after, and every probe in want was handled; it returns the time of the
// last of those events (the members' clock). Waits at most 30s.
func (w *rebalanceWatch) settle(b *testing.B, after int64, want []string) (owned, end int64) {
	deadline := time.After(30 * time.Second)
	for {
		if owned, end, ok := w.settled(after, want); ok {
			return owned, end
		}
		select {
		case ev := <-w.events:
			w.apply(ev)
		case <-time.After(5 * time.Millisecond): // the group file may change without an event
		case <-deadline:
			g, _ := w.c.Group("g")
			b.Fatalf("no stable group within 30s: owners %v, group %+v, probes %v", w.owner, g, w.probes)
		}
	}
}

func (w *rebalanceWatch) apply(ev memberEvent) {
	switch ev.kind {
	case "member":
		w.ids[ev.value] = ev.member
	case "own":
		w.owner[ev.p], w.ownedAt[ev.p] = ev.member, ev.at
	case "release":
		if w.owner[ev.p] == ev.member {
			delete(w.owner, ev.p)
		}
	case "rec":
		if strings.HasPrefix(ev.value, "probe-") {
			w.probes[ev.value] = ev.at
		}
	}
}

func (w *rebalanceWatch) settled(after int64, want []string) (owned, end int64, ok bool) {
	g, err := w.c.Group("g")
	if err != nil || g.Generation <= after {
		return 0, 0, false
	}
	n := 0
	for id, tps := range g.Assignment {
		for _, tp := range tps {
			if w.owner[tp.Partition] != w.ids[id] || w.ids[id] == "" {
				return 0, 0, false
			}
			owned = max(owned, w.ownedAt[tp.Partition])
			n++
		}
	}
	if n != 12 {
		return 0, 0, false
	}
	end = owned
	for _, v := range want {
		at, ok := w.probes[v]
		if !ok {
			return 0, 0, false
		}
		end = max(end, at)
	}
	return owned, end, true
}

func (w *rebalanceWatch) forget(member string) {
	for p, m := range w.owner {
		if m == member {
			delete(w.owner, p)
		}
	}
}

func BenchmarkGroupRebalance(b *testing.B) {
	for _, kind := range []string{"kill", "leave", "join"} {
		b.Run(kind, func(b *testing.B) { benchRebalance(b, kind) })
	}
}

func benchRebalance(b *testing.B, kind string) {
	dir, c := testCluster(b)
	createTopic(b, c, "t", 12)
	prod, err := client.NewProducer(c, "t", client.ProducerOptions{Acks: client.AcksLeader})
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	w := &rebalanceWatch{c: c, events: make(chan memberEvent, 1<<12), owner: map[int]string{}, ownedAt: map[int]int64{}, ids: map[string]string{}, probes: map[string]int64{}}
	members := map[string]*memberProc{}
	started := 0
	start := func() string {
		name := fmt.Sprintf("m%d", started)
		started++
		members[name] = pipeMember(b, dir, name, w.events)
		return name
	}
	generation := func() int64 {
		g, err := c.Group("g")
		if err != nil {
			return 0
		}
		return g.Generation
	}
	for range 3 {
		start()
	}
	w.settle(b, 0, nil)

	var lat, ownLat []time.Duration // until consuming; until owned
	b.ResetTimer()
	for round := 0; round < b.N; round++ {
		gen := generation()
		var victim string
		for name := range members {
			victim = name
			break
		}
		var t0 int64
		switch kind {
		case "kill":
			t0 = time.Now().UnixNano()
			members[victim].kill()
			w.forget(victim)
			delete(members, victim)
		case "leave":
			t0 = time.Now().UnixNano()
			members[victim].cmd.Process.Signal(os.Interrupt)
			delete(members, victim)
		case "join":
			name := start()
			for t0 == 0 {
				if ev := <-w.events; ev.kind == "start" && ev.member == name {
					t0 = ev.at
				} else {
					w.apply(ev)
				}
			}
		}
		// A probe into every partition: handled only once its owner is
		// settled, for the partitions that move.
		var probes []string
		for p := range 12 {
			v := fmt.Sprintf("probe-%d-%d", round, p)
			probes = append(probes, v)
			if err := prod.Send(int32(p), time.Now().UnixMilli(), nil, []byte(v), nil); err != nil {
				b.Fatal(err)
			}
		}
		if err := prod.Flush(); err != nil {
			b.Fatal(err)
		}
		owned, end := w.settle(b, gen, probes)
		lat = append(lat, time.Duration(end-t0))
		ownLat = append(ownLat, time.Duration(max(owned-t0, 0)))

		// Back to three members (not measured).
		b.StopTimer()
		gen = generation()
		switch kind {
		case "kill", "leave":
			start()
		case "join":
			for name, m := range members {
				if name != fmt.Sprintf("m%d", started-1) {
					m.stop(b)
					w.forget(name)
					delete(members, name)
					break
				}
			}
		}
		w.settle(b, gen, nil)
		b.StartTimer()
	}
	b.StopTimer()
	for _, m := range members {
		m.stop(b)
	}
	slices.Sort(lat)
	slices.Sort(ownLat)
	q := func(l []time.Duration, f float64) time.Duration { return l[min(len(l)-1, int(f*float64(len(l))))] }
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(q(lat, 0.5)), "p50-ms")
	b.ReportMetric(ms(q(lat, 0.99)), "p99-ms")
	b.ReportMetric(ms(q(ownLat, 0.5)), "owned-p50-ms")
	b.ReportMetric(ms(q(ownLat, 0.99)), "owned-p99-ms")
	b.Logf("%s: %d rounds: consuming again p50 %v p99 %v; owned again p50 %v p99 %v",
		kind, len(lat), q(lat, 0.5), q(lat, 0.99), q(ownLat, 0.5), q(ownLat, 0.99))
}

// BenchmarkGroupThroughput: a group member of one reads n records of 12
// partitions; so does a Fetcher over the same partitions. Same records,
// same handler, same process, alternating.
func BenchmarkGroupThroughput(b *testing.B) {
	const n, partitions = 1_000_000, 12
	_, c := testCluster(b)
	createTopic(b, c, "t", partitions)
	prod, err := client.NewProducer(c, "t", client.ProducerOptions{Acks: client.AcksLeader})
	if err != nil {
		b.Fatal(err)
	}
	value := []byte(strings.Repeat("x", 100))
	for i := range n {
		if err := prod.Send(int32(i%partitions), 0, nil, value, nil); err != nil {
			b.Fatal(err)
		}
	}
	if err := prod.Close(); err != nil {
		b.Fatal(err)
	}
	var count, bytes int
	var first, last time.Time
	handler := func(_ string, _ int32, r *logdir.Record) error {
		if count == 0 {
			first = time.Now()
		}
		count++
		bytes += len(r.Value)
		if count == n {
			last = time.Now()
		}
		return nil
	}
	// Whole runs (the group's include joining, taking 12 partitions,
	// committing and leaving), and the steady state (first to last record).
	var fetcherTime, groupTime, fetcherSteady, groupSteady time.Duration
	readFetcher := func() {
		count = 0
		start := time.Now()
		var as []client.Assignment
		for p := range partitions {
			as = append(as, client.Assignment{Topic: "t", Partition: int32(p), Start: client.StartSpec{Offset: client.Earliest}})
		}
		f := client.NewFetcher(c, as, client.ConsumerOptions{})
		if err := f.Run(context.Background(), handler); err != nil {
			b.Fatal(err)
		}
		f.Close()
		fetcherTime += time.Since(start)
		fetcherSteady += last.Sub(first)
		if count != n {
			b.Fatalf("fetcher read %d records, want %d", count, n)
		}
	}
	groups := 0
	readGroup := func() {
		count = 0
		start := time.Now()
		groups++
		g, err := client.JoinGroup(c, []string{"t"}, client.GroupOptions{Group: fmt.Sprintf("g%d", groups), ResetEarliest: true, ExitAtEnd: true})
		if err != nil {
			b.Fatal(err)
		}
		if err := g.Run(context.Background(), handler); err != nil {
			b.Fatal(err)
		}
		groupTime += time.Since(start)
		groupSteady += last.Sub(first)
		if count != n {
			b.Fatalf("group member read %d records, want %d", count, n)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 { // alternate which goes first
			readFetcher()
			readGroup()
		} else {
			readGroup()
			readFetcher()
		}
	}
	b.StopTimer()
	fetcherRate := float64(b.N*n) / fetcherTime.Seconds()
	groupRate := float64(b.N*n) / groupTime.Seconds()
	steady := fetcherSteady.Seconds() / groupSteady.Seconds()
	b.ReportMetric(fetcherRate, "fetcher-rec/s")
	b.ReportMetric(groupRate, "group-rec/s")
	b.ReportMetric(groupRate/fetcherRate, "group/fetcher")
	b.ReportMetric(steady, "steady-group/fetcher")
	b.Logf("%d records x %d: fetcher %.0f rec/s, group %.0f rec/s (joining and leaving included), ratio %.2f; steady state ratio %.2f",
		n, b.N, fetcherRate, groupRate, groupRate/fetcherRate, steady)
}
