package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"mk/coord"
)

// Commit modes of a group consumer.
const (
	CommitAuto = "auto" // every AutoCommitInterval, on revocation and on exit
	CommitSync = "sync" // after every batch written
	CommitNone = "none" // never
)

// GroupOptions configure a group consumer.
type GroupOptions struct {
	Group    string
	ClientID string
	Strategy string // range (default), roundrobin, sticky
	Commit   string // auto (default), sync, none
	// AutoCommitInterval: auto.commit.interval.ms (5 s).
	AutoCommitInterval time.Duration
	// SessionTimeout: session.timeout.ms (45 s): a member whose heartbeat
	// is older is expelled from the group.
	SessionTimeout time.Duration
	// ResetEarliest: a partition without a committed offset starts at the
	// log start instead of the high watermark (auto.offset.reset).
	ResetEarliest bool
	// ExitAtEnd: stop once every assigned partition is caught up (and
	// committed).
	ExitAtEnd bool
	// Flush makes what was handed to the handler durable (flushes stdout).
	// Offsets are committed only after it returns: at-least-once.
	Flush func() error
	// Warnf reports resets and fencing; Logf reports assignment changes.
	Warnf, Logf func(format string, args ...any)
	// OnOwn and OnRelease are told of each partition taken (after its
	// ownership lock is held) and given up (before it is released), for
	// tests that check ownership intervals.
	OnOwn, OnRelease func(tp coord.TopicPartition, generation int64)
}

// GroupConsumer is one member of a consumer group.
type GroupConsumer struct {
	c      *coord.Cluster
	opts   GroupOptions
	topics []string
	member *coord.GroupMember
	gen    int64

	owned   map[coord.TopicPartition]*coord.Ownership
	waiting map[coord.TopicPartition]bool // assigned, held by another member still
	watched map[string]bool               // members whose death we wait for
	changed chan struct{}                 // wakes a waiting fetcher
	dirty   atomic.Bool                   // a rebalance is due (the wake token may be taken by the wait)

	// waitingSince is when waiting last became non-empty; waitWarned: the
	// member said whom it waits for.
	waitingSince time.Time
	waitWarned   bool

	lastCommit time.Time
	committed  map[coord.TopicPartition]int64
	settled    bool
}

// JoinGroup makes this process a member of the group.
func JoinGroup(c *coord.Cluster, topics []string, opts GroupOptions) (*GroupConsumer, error) {
	if opts.Strategy == "" {
		opts.Strategy = coord.StrategyRange
	}
	switch opts.Commit {
	case "":
		opts.Commit = CommitAuto
	case CommitAuto, CommitSync, CommitNone:
	default:
		return nil, fmt.Errorf("unknown commit mode %q: use auto, sync or none", opts.Commit)
	}
	if opts.AutoCommitInterval <= 0 {
		opts.AutoCommitInterval = 5 * time.Second
	}
	if opts.SessionTimeout <= 0 {
		opts.SessionTimeout = coord.GroupSessionTimeout
	}
	for _, f := range []*func(string, ...any){&opts.Warnf, &opts.Logf} {
		if *f == nil {
			*f = func(string, ...any) {}
		}
	}
	if opts.Flush == nil {
		opts.Flush = func() error { return nil }
	}
	m, err := c.JoinGroup(opts.Group, coord.Member{ClientID: opts.ClientID, Topics: topics, SessionTimeoutMs: opts.SessionTimeout.Milliseconds()}, opts.Strategy)
	if err != nil {
		return nil, err
	}
	return &GroupConsumer{
		c: c, opts: opts, topics: topics, member: m,
		owned: map[coord.TopicPartition]*coord.Ownership{}, waiting: map[coord.TopicPartition]bool{},
		watched: map[string]bool{}, changed: make(chan struct{}, 1),
		committed: map[coord.TopicPartition]int64{}, lastCommit: time.Now(),
	}, nil
}

// MemberID is this member's id.
func (g *GroupConsumer) MemberID() string { return g.member.ID() }

func (g *GroupConsumer) signal() {
	g.dirty.Store(true)
	select {
	case g.changed <- struct{}{}:
	default:
	}
}

// Run consumes the partitions the group gives this member until ctx ends,
// the handler says stop, or (ExitAtEnd) everything assigned is caught up.
// It commits what was handed out before returning, releases the partitions
// and leaves the group.
func (g *GroupConsumer) Run(ctx context.Context, h Handler) (err error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	groupWake := coord.Watch(wctx, []string{g.c.GroupDir(g.opts.Group), g.c.TopicsMetaDir()}, time.Second)
	go func() {
		for range groupWake {
			g.signal()
		}
	}()
	g.signal()
	f := NewFetcher(g.c, nil, ConsumerOptions{
		// The fetcher follows (ExitAtEnd is decided in hook, once the
		// assignment is settled), but with ExitAtEnd a partition without
		// a leader can never be caught up with: fail, as -e alone does.
		Follow:          true,
		FailUnavailable: g.opts.ExitAtEnd,
		ResetEarliest:   g.opts.ResetEarliest,
		Warnf:           g.opts.Warnf,
		Idle:            g.idle,
		Hook:            g.hook,
		Wake:            g.changed,
	})
	if g.opts.Commit == CommitSync {
		f.opts.AfterFetch = func(f *Fetcher) error {
			// Fenced (expelled while stopped): commit signalled a
			// rebalance, which rejoins; that is no reason to exit.
			if err := g.commit(f, nil); err != nil && !errors.Is(err, coord.ErrFencedMember) {
				return err
			}
			return nil
		}
	}
	defer f.Close()
	err = f.Run(ctx, h)
	if errors.Is(err, coord.ErrUnknownTopic) {
		// The fetcher may learn of a deleted topic before the group does.
		for _, t := range g.topics {
			if _, terr := g.c.Topic(t); errors.Is(terr, coord.ErrUnknownTopic) {
				err = newError(coord.ErrUnknownTopic, "topic %s was deleted while group %s consumed it", t, g.opts.Group)
			}
		}
	}
	// Leaving: commit what was printed (at-least-once), give everything up.
	if cerr := g.commit(f, nil); err == nil && !errors.Is(cerr, coord.ErrFencedMember) {
		err = cerr
	}
	for tp, o := range g.owned {
		f.RemovePartition(tp.Topic, int32(tp.Partition))
		g.release(tp, o)
	}
	if lerr := g.member.Leave(); err == nil {
		err = lerr
	}
	return err
}

// ownerWaitWarn: a partition passes from one member to another in
// milliseconds. One still held after this long is held by a member that
// does not run (stopped, SIGSTOP) and lets go only when its session
// timeout removes it from the group: the member says whom it waits for
// rather than print nothing for that long.
const ownerWaitWarn = 2 * time.Second

func (g *GroupConsumer) warnWaiting() {
	if len(g.waiting) == 0 || g.waitWarned || time.Since(g.waitingSince) < ownerWaitWarn {
		return
	}
	g.waitWarned = true
	grp, _ := g.c.Group(g.opts.Group)
	held := map[string][]string{}
	var owners []string
	for _, tp := range sortedTPs(g.waiting) {
		o := g.c.Owner(g.opts.Group, tp)
		if held[o] == nil {
			owners = append(owners, o)
		}
		held[o] = append(held[o], tp.String())
	}
	for _, o := range owners {
		who := "another member"
		if o != "" {
			who = "member " + o
			if grp != nil {
				if m := grp.Member(o); m != nil {
					who = fmt.Sprintf("member %s (pid %d on %s)", o, m.Pid, m.Host)
				}
			}
		}
		g.opts.Warnf("%s still holds %s; waiting for it to let go (a member that does not run is removed after its session timeout)",
			who, strings.Join(held[o], ","))
	}
}

func (g *GroupConsumer) idle() error {
	return g.opts.Flush()
}

// hook runs on the fetching goroutine before every round of fetches.
func (g *GroupConsumer) hook(f *Fetcher) (bool, error) {
	// Expelled: a stopped member woke up; its ownership locks were broken,
	// so it must not fetch another round of what is now someone else's.
	if g.dirty.Swap(false) || g.member.Expelled() {
		if err := g.rebalance(f); err != nil {
			return false, err
		}
	}
	g.warnWaiting()
	if g.opts.Commit == CommitAuto && time.Since(g.lastCommit) >= g.opts.AutoCommitInterval {
		if err := g.commit(f, nil); err != nil && !errors.Is(err, coord.ErrFencedMember) {
			return false, err
		}
	}
	if g.opts.ExitAtEnd && g.settled && len(g.waiting) == 0 {
		for _, p := range f.PartitionPositions() {
			if !p.CaughtUp {
				return false, nil
			}
		}
		return true, nil // Run commits on the way out
	}
	return false, nil
}

// rebalance applies the group's current assignment: releases what this
// member lost (after committing it) and takes what it gained, starting
// each from its committed offset.
func (g *GroupConsumer) rebalance(f *Fetcher) error {
	grp, err := g.c.Rebalance(g.opts.Group)
	if err != nil {
		return err
	}
	for _, t := range g.topics {
		if grp.Partitions[t] < 0 {
			return newError(coord.ErrUnknownTopic, "topic %s was deleted while group %s consumed it", t, g.opts.Group)
		}
	}
	me := grp.Member(g.member.ID())
	if me == nil {
		// Expelled (we were stopped past the session timeout): what we own
		// is no longer ours. Give it up without committing and join again.
		g.opts.Warnf("member %s was removed from group %s (session timeout); rejoining", g.member.ID(), g.opts.Group)
		for tp, o := range g.owned {
			f.RemovePartition(tp.Topic, int32(tp.Partition))
			g.release(tp, o)
		}
		g.member.Leave()
		m, err := g.c.JoinGroup(g.opts.Group, coord.Member{ClientID: g.opts.ClientID, Topics: g.topics, SessionTimeoutMs: g.opts.SessionTimeout.Milliseconds()}, g.opts.Strategy)
		if err != nil {
			return err
		}
		g.member = m
		g.signal()
		return nil
	}
	g.gen = grp.Generation
	g.watchMembers(grp)
	target := map[coord.TopicPartition]bool{}
	for _, tp := range grp.Assignment[g.member.ID()] {
		target[tp] = true
	}
	// Revoke first: commit what we printed of it, then let it go.
	var lost []coord.TopicPartition
	for tp := range g.owned {
		if !target[tp] {
			lost = append(lost, tp)
		}
	}
	if len(lost) > 0 {
		if err := g.commit(f, lost); err != nil && !errors.Is(err, coord.ErrFencedMember) {
			return err
		}
		for _, tp := range lost {
			f.RemovePartition(tp.Topic, int32(tp.Partition))
			g.release(tp, g.owned[tp])
		}
		g.opts.Logf("generation %d: released %v", g.gen, lost)
	}
	// Take what is ours now, unless its previous owner still holds it.
	g.waiting = map[coord.TopicPartition]bool{}
	var gained []coord.TopicPartition
	for _, tp := range sortedTPs(target) {
		if g.owned[tp] != nil {
			continue
		}
		o, err := g.c.AcquireOwnership(g.opts.Group, tp, g.member.ID(), g.gen)
		if err != nil {
			return err
		}
		if o == nil {
			g.waiting[tp] = true
			go func() { g.c.WaitOwnershipFree(g.opts.Group, tp); g.signal() }()
			continue
		}
		start, err := g.startOffset(tp)
		if err != nil {
			o.Release()
			return err
		}
		g.owned[tp] = o
		if g.opts.OnOwn != nil {
			g.opts.OnOwn(tp, g.gen)
		}
		f.AddPartition(Assignment{Topic: tp.Topic, Partition: int32(tp.Partition), Start: start})
		gained = append(gained, tp)
	}
	if len(gained) > 0 {
		g.opts.Logf("generation %d: took %v", g.gen, gained)
	}
	switch {
	case len(g.waiting) == 0:
		g.waitingSince, g.waitWarned = time.Time{}, false
	case g.waitingSince.IsZero():
		g.waitingSince = time.Now()
	}
	g.settled = true
	return nil
}

func sortedTPs(set map[coord.TopicPartition]bool) []coord.TopicPartition {
	var out []coord.TopicPartition
	for tp := range set {
		out = append(out, tp)
	}
	slices.SortFunc(out, func(a, b coord.TopicPartition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return a.Partition - b.Partition
	})
	return out
}

// startOffset is the committed offset, else the reset policy.
func (g *GroupConsumer) startOffset(tp coord.TopicPartition) (StartSpec, error) {
	offs, err := g.c.CommittedOffsets(g.opts.Group, tp.Topic)
	if err != nil {
		return StartSpec{}, err
	}
	if c, ok := offs[tp.Partition]; ok {
		g.committed[tp] = c.Offset
		return StartSpec{Offset: c.Offset, Committed: true}, nil
	}
	if g.opts.ResetEarliest {
		return StartSpec{Offset: Earliest}, nil
	}
	return StartSpec{Offset: Latest}, nil
}

// watchMembers starts, for every other member, a goroutine blocked on its
// lock that signals the moment it is released: a SIGKILLed member is
// noticed at once, not after a session timeout.
func (g *GroupConsumer) watchMembers(grp *coord.Group) {
	for _, m := range grp.Members {
		if m.ID == g.member.ID() || g.watched[m.ID] {
			continue
		}
		g.watched[m.ID] = true
		go func() { g.c.WaitMemberGone(g.opts.Group, m.ID); g.signal() }()
	}
}

// release gives tp up. OnRelease is told while the lock is still held, so
// that intervals recorded from OnOwn (told once the lock is taken) and
// OnRelease of one partition never overlap between members.
func (g *GroupConsumer) release(tp coord.TopicPartition, o *coord.Ownership) {
	if g.opts.OnRelease != nil {
		g.opts.OnRelease(tp, g.gen)
	}
	o.Release()
	delete(g.owned, tp)
	delete(g.committed, tp)
}

// commit flushes the output, then commits the next offset of the given
// partitions (all owned ones if nil) where it moved since the last commit.
func (g *GroupConsumer) commit(f *Fetcher, only []coord.TopicPartition) error {
	g.lastCommit = time.Now()
	if g.opts.Commit == CommitNone {
		return nil
	}
	offsets := map[coord.TopicPartition]int64{}
	for _, p := range f.PartitionPositions() {
		tp := coord.TopicPartition{Topic: p.Topic, Partition: int(p.Partition)}
		if p.Next < 0 || g.owned[tp] == nil || only != nil && !slices.Contains(only, tp) {
			continue
		}
		if prev, ok := g.committed[tp]; ok && prev == p.Next {
			continue
		}
		offsets[tp] = p.Next
	}
	if len(offsets) == 0 {
		return nil
	}
	if err := g.opts.Flush(); err != nil {
		return err
	}
	if err := g.c.CommitOffsets(g.opts.Group, g.member.ID(), offsets); err != nil {
		if errors.Is(err, coord.ErrFencedMember) {
			g.opts.Warnf("commit refused: %v", err)
			g.signal()
		}
		return err
	}
	for tp, off := range offsets {
		g.committed[tp] = off
	}
	return nil
}
