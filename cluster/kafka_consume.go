package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/client"
	"mk/coord"
	"mk/logdir"
)

// Consuming from a Kafka cluster through kgo. A consumer that does not
// follow (-e) reads each partition up to the high watermark it had when
// the consumer started (ListOffsets): that is "caught up". Control records
// (transaction markers) are read to advance the position and not printed.

// topicCheckInterval is how often a following consumer asks the cluster
// for its topics' metadata: to consume partitions added to a topic and to
// notice a topic deleted. Kafka's consumers learn of new partitions at
// their metadata refresh (metadata.max.age.ms, 5 minutes); a command that
// a person watches should not take that long.
const topicCheckInterval = 3 * time.Second

// position is where a partition's consumer is: the next offset to read,
// and (without Follow) the end it reads to.
type position struct {
	next, end int64
}

// topicPartitions reads the topics' metadata: each must exist.
func (k *Kafka) topicPartitions(ctx context.Context, topics []string) (kadm.TopicDetails, error) {
	for _, t := range topics {
		if err := coord.ValidateTopicName(t); err != nil {
			return nil, err
		}
	}
	tds, err := k.adm.ListTopicsWithInternal(ctx, topics...)
	if err != nil {
		return nil, k.mapErr(ctx, err)
	}
	for _, t := range topics {
		if err := topicErr(t, detail(tds, t).Err); err != nil {
			return nil, err
		}
	}
	return tds, nil
}

// startPositions resolves spec's start for each partition.
func (k *Kafka) startPositions(ctx context.Context, spec ConsumeSpec, tds kadm.TopicDetails) (map[coord.TopicPartition]*position, error) {
	if spec.Partition >= 0 && len(spec.Topics) > 1 {
		return nil, errors.New("--partition needs exactly one topic")
	}
	warnf := orNop(spec.Warnf)
	var tps []coord.TopicPartition
	for _, t := range spec.Topics {
		td := detail(tds, t)
		if spec.Partition >= len(td.Partitions) {
			return nil, client.PartitionRangeError(t, spec.Partition, len(td.Partitions))
		}
		for _, p := range td.Partitions.Sorted() {
			if spec.Partition >= 0 && int(p.Partition) != spec.Partition {
				continue
			}
			if p.Leader < 0 {
				if !spec.Follow {
					return nil, noLeader(t, p)
				}
				warnf("%v; waiting for a leader", noLeader(t, p))
			}
			tps = append(tps, coord.TopicPartition{Topic: t, Partition: int(p.Partition)})
		}
	}
	starts, err := k.adm.ListStartOffsets(ctx, spec.Topics...)
	if err != nil && len(starts) == 0 {
		return nil, k.mapErr(ctx, err)
	}
	ends, err := k.adm.ListEndOffsets(ctx, spec.Topics...)
	if err != nil && len(ends) == 0 {
		return nil, k.mapErr(ctx, err)
	}
	var byTime kadm.ListedOffsets
	if spec.Start.ByTime && spec.Start.FromTime >= 0 {
		byTime, err = k.adm.ListOffsetsAfterMilli(ctx, spec.Start.FromTime, spec.Topics...)
		if err != nil && len(byTime) == 0 {
			return nil, k.mapErr(ctx, err)
		}
	}
	out := map[coord.TopicPartition]*position{}
	for _, tp := range tps {
		lookup := func(l kadm.ListedOffsets) (int64, error) {
			o, ok := l.Lookup(tp.Topic, int32(tp.Partition))
			switch {
			case !ok:
				if na := k.watch.noAnswer(); na != nil {
					return 0, fmt.Errorf("partition %s: %w", tp, na)
				}
				return 0, newKafkaError(client.ErrNoLeader, nil, "partition %s: the cluster listed no offsets", tp)
			case o.Err != nil && !spec.Follow:
				return 0, fmt.Errorf("partition %s: %w", tp, kafkaErr(o.Err))
			case o.Err != nil:
				return -1, nil // waiting for a leader: resolved by the reset policy
			}
			return o.Offset, nil
		}
		start, err := lookup(starts)
		if err != nil {
			return nil, err
		}
		end, err := lookup(ends)
		if err != nil {
			return nil, err
		}
		s := spec.Start
		var next int64
		switch {
		case start < 0 || end < 0:
			next = -1
		case s.ByTime && s.FromTime < 0:
			next = start // before 1970: every record
		case s.ByTime:
			if next, err = lookup(byTime); err != nil {
				return nil, err
			}
			// Where no record is at or after the time, kadm asks again
			// for the end offset: a record appended between the two
			// answers would be skipped. The end listed before is as good
			// an answer and misses nothing.
			next = min(next, end)
		case s.FromEnd > 0:
			next = max(end-s.FromEnd, start)
		case s.Offset == client.Earliest:
			next = start
		case s.Offset == client.Latest:
			next = end
		case s.Offset > end || s.Offset < start:
			return nil, fmt.Errorf("%w: offset %d, the partition holds %d to %d", logdir.ErrOffsetOutOfRange, s.Offset, start, end)
		default:
			next = s.Offset
		}
		out[tp] = &position{next: next, end: end}
	}
	return out, nil
}

func orNop(f func(string, ...any)) func(string, ...any) {
	if f == nil {
		return func(string, ...any) {}
	}
	return f
}

// kgoOffset is where kgo starts a partition.
func kgoOffset(next int64, resetEarliest bool) kgo.Offset {
	switch {
	case next >= 0:
		return kgo.NewOffset().At(next)
	case resetEarliest:
		return kgo.NewOffset().AtStart()
	}
	return kgo.NewOffset().AtEnd()
}

// Consume reads the partitions spec names.
func (k *Kafka) Consume(ctx context.Context, spec ConsumeSpec, h client.Handler) error {
	rctx, cancel := k.requestContext(ctx)
	tds, err := k.topicPartitions(rctx, spec.Topics)
	if err != nil {
		cancel()
		return err
	}
	pos, err := k.startPositions(rctx, spec, tds)
	cancel()
	if err != nil {
		return err
	}
	parts := map[string]map[int32]kgo.Offset{}
	for tp, p := range pos {
		if parts[tp.Topic] == nil {
			parts[tp.Topic] = map[int32]kgo.Offset{}
		}
		parts[tp.Topic][int32(tp.Partition)] = kgoOffset(p.next, spec.ResetEarliest)
	}
	if !spec.Follow && caughtUp(pos) {
		return nil
	}
	reset := kgo.NewOffset().AtEnd()
	if spec.ResetEarliest {
		reset = kgo.NewOffset().AtStart()
	}
	cl, err := k.newClient(kgo.ConsumePartitions(parts), kgo.KeepControlRecords(), kgo.ConsumeResetOffset(reset))
	if err != nil {
		return err
	}
	defer cl.Close()
	c := &kafkaConsumer{k: k, cl: cl, pos: pos, follow: spec.Follow, idle: spec.Idle, h: h}
	if spec.Follow && spec.Partition < 0 {
		c.watchTopics = spec.Topics
	}
	return c.run(ctx, tds)
}

// caughtUp reports whether every partition has reached its end.
func caughtUp(pos map[coord.TopicPartition]*position) bool {
	for _, p := range pos {
		if p.next < p.end {
			return false
		}
	}
	return true
}

// kafkaConsumer is the poll loop shared by plain and group consumers.
type kafkaConsumer struct {
	k      *Kafka
	cl     *kgo.Client
	follow bool
	idle   func() error
	h      client.Handler
	// afterPoll, if set, runs after the records of a poll were handed out
	// (a group member flushes, marks and commits there); handed are the
	// records the handler took, which may be fewer than the poll's when
	// it stopped early (--max-messages): only those may be committed.
	afterPoll func(handed []*kgo.Record) error
	// done, if set, says when a group member is caught up.
	done func() bool

	mu  sync.Mutex // pos, when a group's callbacks change it
	pos map[coord.TopicPartition]*position
	// watchTopics are consumed whole: partitions added to them are
	// consumed from their start, and a deleted one ends the consumer.
	watchTopics []string
	group       string
	strategy    string // the group member's --strategy, as given
	// unstarted are a group member's assigned partitions without a
	// committed offset, at the offset the reset policy starts them: they
	// are committed there after the next poll (see ConsumeGroup).
	unstarted map[coord.TopicPartition]int64
	wake      chan struct{} // a group's callback says: look at done again
}

func (c *kafkaConsumer) run(ctx context.Context, tds kadm.TopicDetails) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if len(c.watchTopics) > 0 {
		go c.checkTopics(ctx, cancel, tds)
	}
	var rec logdir.Record
	var handed []*kgo.Record
	for {
		if c.idle != nil && c.cl.BufferedFetchRecords() == 0 {
			if err := c.idle(); err != nil {
				return err
			}
		}
		pollCtx, stopPoll := ctx, func() {}
		if c.wake != nil {
			pollCtx, stopPoll = context.WithCancel(ctx)
			go func() {
				select {
				case <-c.wake:
					stopPoll()
				case <-pollCtx.Done():
				}
			}()
		}
		fs := c.cl.PollFetches(pollCtx)
		stopPoll()
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			return cause
		}
		if ctx.Err() != nil || fs.IsClientClosed() {
			return nil // interrupted: the caller says so
		}
		if err := c.fetchErr(fs); err != nil {
			return err
		}
		stop := false
		var herr error
		handed = handed[:0]
		fs.EachRecord(func(r *kgo.Record) {
			if stop {
				return
			}
			tp := coord.TopicPartition{Topic: r.Topic, Partition: int(r.Partition)}
			c.advance(tp, r.Offset+1)
			if r.Attrs.IsControl() {
				handed = append(handed, r)
				return
			}
			rec = logdir.Record{Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(), Key: r.Key, Value: r.Value, Headers: rec.Headers[:0]}
			for _, h := range r.Headers {
				rec.Headers = append(rec.Headers, logdir.Header{Key: []byte(h.Key), Value: h.Value})
			}
			if len(rec.Headers) == 0 {
				rec.Headers = nil
			}
			err := c.h(r.Topic, r.Partition, &rec)
			if err == nil || errors.Is(err, client.ErrStop) {
				handed = append(handed, r) // ErrStop comes after the record was taken
			}
			if err != nil {
				stop, herr = true, err
			}
		})
		if c.afterPoll != nil {
			if err := c.afterPoll(handed); err != nil {
				return err
			}
		}
		if errors.Is(herr, client.ErrStop) {
			return nil
		}
		if herr != nil {
			return herr
		}
		if c.finished() {
			return nil
		}
	}
}

func (c *kafkaConsumer) advance(tp coord.TopicPartition, next int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.pos[tp]; p != nil {
		p.next = next
	}
}

// finished: a consumer that does not follow has caught up.
func (c *kafkaConsumer) finished() bool {
	if c.done != nil {
		return c.done()
	}
	if c.follow {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return caughtUp(c.pos)
}

// fetchErr is the first error of a poll that ends the consumer.
func (c *kafkaConsumer) fetchErr(fs kgo.Fetches) error {
	for _, fe := range fs.Errors() {
		var gs *kgo.ErrGroupSession
		if c.group != "" && errors.As(fe.Err, &gs) {
			// kgo's group session ended; it rejoins by itself.
			switch {
			case errors.Is(gs.Err, kerr.InconsistentGroupProtocol):
				return c.k.otherStrategy(c.group, c.strategy)
			case errors.Is(gs.Err, kerr.UnknownMemberID), errors.Is(gs.Err, kerr.IllegalGeneration),
				errors.Is(gs.Err, kerr.RebalanceInProgress), errors.Is(gs.Err, kerr.MemberIDRequired):
				// Removed from the group (its session expired, say
				// while the process was stopped) or a generation
				// missed: OnPartitionsLost said so, and kgo joins
				// again as a new member.
				continue
			case errors.Is(gs.Err, context.Canceled), kerr.IsRetriable(gs.Err):
				continue
			}
			if ce := c.k.watch.failure(); ce != nil && isConnErr(gs.Err) {
				return ce
			}
			if isConnErr(gs.Err) {
				continue
			}
			return fmt.Errorf("group %s: %w", c.group, kafkaErr(gs.Err))
		}
		switch {
		case errors.Is(fe.Err, context.Canceled), errors.Is(fe.Err, context.DeadlineExceeded), errors.Is(fe.Err, kgo.ErrClientClosed):
			continue
		case errors.Is(fe.Err, kerr.UnknownTopicOrPartition), errors.Is(fe.Err, kerr.UnknownTopicID):
			return c.deleted(fe.Topic)
		case errors.Is(fe.Err, kerr.OffsetOutOfRange):
			continue // kgo resets by ConsumeResetOffset
		}
		var de *kgo.ErrDataLoss
		if errors.As(fe.Err, &de) {
			continue // kgo resets and carries on, as Kafka's consumers do
		}
		if kerr.IsRetriable(fe.Err) {
			continue
		}
		var ce *ConnError
		if ce = c.k.watch.failure(); ce != nil && isConnErr(fe.Err) {
			return ce
		}
		return fmt.Errorf("partition %s-%d: %w", fe.Topic, fe.Partition, kafkaErr(fe.Err))
	}
	return nil
}

func (c *kafkaConsumer) deleted(topic string) error {
	if c.group != "" {
		return newKafkaError(client.ErrTopicDeleted, kerr.UnknownTopicOrPartition, "topic %s was deleted while group %s consumed it", topic, c.group)
	}
	return newKafkaError(client.ErrTopicDeleted, kerr.UnknownTopicOrPartition, "topic %s was deleted while consuming it", topic)
}

// checkTopics looks at the consumed topics' metadata every
// topicCheckInterval: a partition added is consumed from its start, a
// topic deleted (or deleted and created again: another id) ends the
// consumer.
func (c *kafkaConsumer) checkTopics(ctx context.Context, cancel context.CancelCauseFunc, initial kadm.TopicDetails) {
	ids := map[string]kadm.TopicID{}
	counts := map[string]int{}
	for _, t := range c.watchTopics {
		ids[t], counts[t] = initial[t].ID, len(initial[t].Partitions)
	}
	tick := time.NewTicker(topicCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rctx, rcancel := c.k.laterContext(ctx)
		tds, err := c.k.adm.ListTopicsWithInternal(rctx, c.watchTopics...)
		rcancel()
		if err != nil {
			continue // a cluster that does not answer now: the fetches say more
		}
		add := map[string]map[int32]kgo.Offset{}
		refresh := false
		for _, t := range c.watchTopics {
			td := detail(tds, t)
			if errors.Is(td.Err, kerr.UnknownTopicOrPartition) || td.Err == nil && td.ID != ids[t] && ids[t] != (kadm.TopicID{}) {
				cancel(c.deleted(t))
				return
			}
			if td.Err != nil || len(td.Partitions) <= counts[t] {
				continue
			}
			if c.group != "" {
				// The group's leader gives new partitions out: kgo's
				// leader rejoins when its metadata shows more
				// partitions, which it would otherwise learn only at
				// its next refresh (metadata.max.age.ms, 5 minutes).
				counts[t] = len(td.Partitions)
				refresh = true
				continue
			}
			for p := int32(counts[t]); p < int32(len(td.Partitions)); p++ {
				if add[t] == nil {
					add[t] = map[int32]kgo.Offset{}
				}
				add[t][p] = kgo.NewOffset().AtStart()
				c.mu.Lock()
				c.pos[coord.TopicPartition{Topic: t, Partition: int(p)}] = &position{next: 0, end: -1}
				c.mu.Unlock()
			}
			counts[t] = len(td.Partitions)
		}
		if len(add) > 0 {
			c.cl.AddConsumePartitions(add)
		}
		if refresh {
			c.cl.ForceMetadataRefresh()
		}
	}
}

// Balancers by mk's strategy names. mk's own groups rebalance
// cooperatively whatever the strategy (members release only what they
// lose); Kafka's range and roundrobin assignors are eager, and its sticky
// one is cooperative only as "cooperative-sticky", which is what mk's
// sticky means. Kafka's names are accepted as they are.
func balancer(strategy string) (kgo.GroupBalancer, error) {
	switch strategy {
	case "", coord.StrategyRange:
		return kgo.RangeBalancer(), nil
	case coord.StrategyRoundRobin:
		return kgo.RoundRobinBalancer(), nil
	case coord.StrategySticky, "cooperative-sticky":
		return kgo.CooperativeStickyBalancer(), nil
	case "eager-sticky":
		return kgo.StickyBalancer(), nil
	}
	return nil, newKafkaError(coord.ErrInvalidConfig, nil, "unknown assignment strategy %q: use range, roundrobin or sticky", strategy)
}

// otherStrategy is the error of a member the coordinator refused
// (INCONSISTENT_GROUP_PROTOCOL) because the group's members use another
// assignor: said as mk's own groups say it, with the group's strategy
// from DescribeGroups (a usage error: the flag must change, retrying will
// not help).
func (k *Kafka) otherStrategy(group, asked string) error {
	if asked == "" {
		asked = coord.StrategyRange
	}
	ctx, cancel := context.WithTimeout(context.Background(), k.opts.Timeout)
	defer cancel()
	dg, err := k.describeGroup(ctx, group)
	if err != nil || dg.Protocol == "" || dg.ProtocolType != "consumer" {
		return newKafkaError(coord.ErrInvalidConfig, kerr.InconsistentGroupProtocol, "group %s does not take members asking for the %s strategy (INCONSISTENT_GROUP_PROTOCOL)", group, asked)
	}
	return newKafkaError(coord.ErrInvalidConfig, kerr.InconsistentGroupProtocol, "group %s uses the %s strategy; this consumer asked for %s", group, strategyName(dg.Protocol), asked)
}

// strategyName is mk's name of a Kafka assignor (see balancer).
func strategyName(protocol string) string {
	switch protocol {
	case "cooperative-sticky":
		return coord.StrategySticky
	case "sticky":
		return "eager-sticky"
	}
	return protocol
}

// ConsumeGroup is a Kafka-protocol member of a consumer group (kgo's
// group consumer). Records are handed out a poll at a time; after each,
// the output is flushed and then the records are marked for commit, so a
// commit (every 5 s with auto, after each poll with sync, on revocation
// and on exit) never covers a record that was not written out: at least
// once. A rebalance waits while a poll's records are being handed out
// (BlockRebalanceOnPoll).
func (k *Kafka) ConsumeGroup(ctx context.Context, topics []string, opts client.GroupOptions, h client.Handler) error {
	if err := coord.ValidateGroupName(opts.Group); err != nil {
		return err
	}
	bal, err := balancer(opts.Strategy)
	if err != nil {
		return err
	}
	switch opts.Commit {
	case "":
		opts.Commit = client.CommitAuto
	case client.CommitAuto, client.CommitSync, client.CommitNone:
	default:
		return fmt.Errorf("unknown commit mode %q: use auto, sync or none", opts.Commit)
	}
	warnf, logf := orNop(opts.Warnf), orNop(opts.Logf)
	flush := opts.Flush
	if flush == nil {
		flush = func() error { return nil }
	}
	rctx, cancel := k.requestContext(ctx)
	tds, err := k.topicPartitions(rctx, topics)
	cancel()
	if err != nil {
		return err
	}
	reset := kgo.NewOffset().AtEnd()
	if opts.ResetEarliest {
		reset = kgo.NewOffset().AtStart()
	}
	c := &kafkaConsumer{k: k, follow: true, h: h, pos: map[coord.TopicPartition]*position{}, watchTopics: topics, group: opts.Group, strategy: opts.Strategy, wake: make(chan struct{}, 1), unstarted: map[coord.TopicPartition]int64{}}
	var assignedOnce bool
	var failed error // an assignment that cannot be caught up with (-e)
	wake := func() {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	commitMarked := func(ctx context.Context, cl *kgo.Client) {
		if opts.Commit == client.CommitNone {
			return
		}
		if err := cl.CommitMarkedOffsets(ctx); err != nil && !errors.Is(err, context.Canceled) {
			warnf("commit of group %s failed: %v", opts.Group, kafkaErr(err))
		}
	}
	kopts := []kgo.Opt{
		kgo.ConsumerGroup(opts.Group),
		kgo.ConsumeTopics(topics...),
		kgo.Balancers(bal),
		kgo.ConsumeResetOffset(reset),
		kgo.KeepControlRecords(),
		kgo.BlockRebalanceOnPoll(),
		// Kafka's Java consumer's fetch.max.wait.ms, not kgo's 5 s: kgo
		// keeps one fetch in flight per broker, and a partition that
		// becomes ready while that fetch waits on an empty partition
		// (one that starts at a commit, say) gets its first records
		// only when the wait ends.
		kgo.FetchMaxWait(500 * time.Millisecond),
		kgo.OnPartitionsAssigned(func(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
			logf("group %s: assigned %s", opts.Group, formatAssignment(assigned))
			// Every member resolves where its new partitions start, to
			// say when a committed offset is out of range (kgo resets
			// it silently); only a member that exits at the end needs
			// the answer, and fails without it.
			if err := c.resolveAssigned(ctx, opts, assigned); err != nil && opts.ExitAtEnd {
				c.mu.Lock()
				failed = err
				c.mu.Unlock()
			}
			c.mu.Lock()
			assignedOnce = true
			c.mu.Unlock()
			wake()
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
			// Records of the revoked partitions were all written out and
			// flushed (the rebalance waited for the poll's end): commit.
			commitMarked(ctx, cl)
			c.forget(revoked)
			if len(revoked) > 0 {
				logf("group %s: released %s", opts.Group, formatAssignment(revoked))
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
			c.forget(lost)
			if len(lost) > 0 {
				warnf("group %s: lost %s (removed from the group); rejoining", opts.Group, formatAssignment(lost))
			}
		}),
	}
	if opts.ClientID != "" {
		kopts = append(kopts, kgo.ClientID(opts.ClientID))
	}
	if opts.SessionTimeout > 0 {
		// Heartbeats at most a third of the session apart, as Kafka
		// advises (heartbeat.interval.ms): kgo's 3 s would let a 6 s
		// session expire after one lost heartbeat.
		kopts = append(kopts, kgo.SessionTimeout(opts.SessionTimeout), kgo.HeartbeatInterval(min(3*time.Second, opts.SessionTimeout/3)))
	}
	if opts.Commit == client.CommitNone {
		kopts = append(kopts, kgo.DisableAutoCommit())
	} else {
		interval := opts.AutoCommitInterval
		if interval <= 0 {
			interval = 5 * time.Second
		}
		kopts = append(kopts, kgo.AutoCommitMarks(), kgo.AutoCommitInterval(interval))
	}
	cl, err := k.newClient(kopts...)
	if err != nil {
		return err
	}
	c.cl = cl
	c.idle = flush
	c.afterPoll = func(handed []*kgo.Record) error {
		if err := flush(); err != nil {
			return err
		}
		if opts.Commit != client.CommitNone {
			cl.MarkCommitRecords(handed...)
			c.commitUnstarted(ctx, handed, warnf)
		}
		if opts.Commit == client.CommitSync && len(handed) > 0 {
			if err := cl.CommitMarkedOffsets(ctx); err != nil && ctx.Err() == nil {
				warnf("commit of group %s failed: %v", opts.Group, kafkaErr(err))
			}
		}
		cl.AllowRebalance()
		return nil
	}
	c.done = func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return failed != nil || opts.ExitAtEnd && assignedOnce && caughtUp(c.pos)
	}
	err = c.run(ctx, tds)
	c.mu.Lock()
	if err == nil {
		err = failed
	}
	c.mu.Unlock()
	// Leaving: what was handed out is flushed and committed first.
	if ferr := flush(); err == nil {
		err = ferr
	}
	cctx, ccancel := context.WithTimeout(context.Background(), k.opts.Timeout)
	commitMarked(cctx, cl)
	ccancel()
	cl.AllowRebalance()
	cl.Close() // leaves the group
	return err
}

// resolveAssigned records where newly assigned partitions start and end,
// for a member that exits once caught up: its committed offset (else the
// reset policy's) and the high watermark now. A committed offset outside
// the log (retention deleted it) is reset by the policy, and said as mk's
// own consumers say it.
func (c *kafkaConsumer) resolveAssigned(ctx context.Context, opts client.GroupOptions, assigned map[string][]int32) error {
	if len(assigned) == 0 {
		return nil
	}
	rctx, cancel := c.k.laterContext(ctx)
	defer cancel()
	var topics []string
	for t := range assigned {
		topics = append(topics, t)
	}
	tds, err := c.k.adm.ListTopicsWithInternal(rctx, topics...)
	if err != nil {
		return c.k.mapErr(rctx, err)
	}
	for t, ps := range assigned {
		for _, p := range ps {
			if pd, ok := tds[t].Partitions[p]; ok && pd.Leader < 0 {
				return noLeader(t, pd)
			}
		}
	}
	starts, err := c.k.adm.ListStartOffsets(rctx, topics...)
	if err != nil && len(starts) == 0 {
		return c.k.mapErr(rctx, err)
	}
	ends, err := c.k.adm.ListEndOffsets(rctx, topics...)
	if err != nil && len(ends) == 0 {
		return c.k.mapErr(rctx, err)
	}
	committed, err := c.k.committed(rctx, opts.Group)
	if err != nil {
		return c.k.mapErr(rctx, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for t, ps := range assigned {
		for _, p := range ps {
			tp := coord.TopicPartition{Topic: t, Partition: int(p)}
			s, _ := starts.Lookup(t, p)
			e, _ := ends.Lookup(t, p)
			if s.Err != nil || e.Err != nil {
				return fmt.Errorf("partition %s: %w", tp, kafkaErr(cmpErr(s.Err, e.Err)))
			}
			next, ok := committed[tp]
			switch {
			case !ok && opts.ResetEarliest:
				next = s.Offset
			case !ok:
				next = e.Offset
			}
			if !ok && c.unstarted != nil {
				c.unstarted[tp] = next
			}
			if next < s.Offset || next > e.Offset {
				// Out of range: kgo resets by the policy.
				reset := map[bool]int64{true: s.Offset, false: e.Offset}[opts.ResetEarliest]
				orNop(opts.Warnf)("partition %s: offset %d is out of range (the log holds %d to %d); resetting to %d", tp, next, s.Offset, e.Offset, reset)
				next = reset
			}
			c.pos[tp] = &position{next: next, end: e.Offset}
		}
	}
	return nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// forget drops partitions this member no longer has.
func (c *kafkaConsumer) forget(tps map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t, ps := range tps {
		for _, p := range ps {
			delete(c.pos, coord.TopicPartition{Topic: t, Partition: int(p)})
			delete(c.unstarted, coord.TopicPartition{Topic: t, Partition: int(p)})
		}
	}
}

// commitUnstarted commits where the member started the partitions it was
// assigned without a committed offset and has handed out no record of,
// after the first poll that follows the assignment (the poll holds off
// rebalances, so they are still this member's). Kafka's Java consumer
// does the same (it commits the position of every assigned partition);
// kgo commits only partitions it read records of, so a partition that
// was empty while the group consumed it had no commit, and records
// produced to it before the next member started at the end (latest) were
// never read by the group. mk's own groups commit it too.
func (c *kafkaConsumer) commitUnstarted(ctx context.Context, handed []*kgo.Record, warnf func(string, ...any)) {
	c.mu.Lock()
	for _, r := range handed {
		delete(c.unstarted, coord.TopicPartition{Topic: r.Topic, Partition: int(r.Partition)})
	}
	var offsets map[string]map[int32]kgo.EpochOffset
	for tp, next := range c.unstarted {
		if offsets == nil {
			offsets = map[string]map[int32]kgo.EpochOffset{}
		}
		if offsets[tp.Topic] == nil {
			offsets[tp.Topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[tp.Topic][int32(tp.Partition)] = kgo.EpochOffset{Epoch: -1, Offset: next}
		delete(c.unstarted, tp)
	}
	c.mu.Unlock()
	if offsets == nil {
		return
	}
	var cerr error
	c.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil && cerr == nil {
					cerr = err
				}
			}
		}
	})
	if cerr != nil && ctx.Err() == nil {
		warnf("commit of group %s failed: %v", c.group, kafkaErr(cerr))
	}
}

// formatAssignment is t-0,t-1,u-2.
func formatAssignment(m map[string][]int32) string {
	var out []coord.TopicPartition
	for t, ps := range m {
		for _, p := range ps {
			out = append(out, coord.TopicPartition{Topic: t, Partition: int(p)})
		}
	}
	slices.SortFunc(out, compareTP)
	s := ""
	for i, tp := range out {
		if i > 0 {
			s += ","
		}
		s += tp.String()
	}
	if s == "" {
		return "nothing"
	}
	return s
}
