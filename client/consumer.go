package client

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"mk/coord"
	"mk/logdir"
)

// Start positions for a partition, besides an absolute offset (>= 0).
const (
	Earliest = -2 // the log start offset
	Latest   = -1 // the high watermark: only records committed from now on
)

// StartSpec says where a consumer starts in a partition: Offset >= 0 is
// absolute; Earliest or Latest; FromEnd > 0 is that many records before
// the high watermark; with ByTime, the first record whose timestamp is at
// or after FromTime (milliseconds since 1970, any int64: a time at or
// before 1970 is the log start).
type StartSpec struct {
	Offset   int64
	FromEnd  int64
	ByTime   bool
	FromTime int64
	// Committed: Offset is a group's committed offset; when it is out of
	// range (retention passed it) the consumer resets by its policy and
	// says so, instead of failing.
	Committed bool
}

// Assignment is one partition to consume.
type Assignment struct {
	Topic     string
	Partition int32
	Start     StartSpec
}

// ConsumerOptions configure a Fetcher.
type ConsumerOptions struct {
	// Follow: keep waiting for new records; otherwise stop once every
	// partition is caught up with its high watermark (-e).
	Follow bool
	// FailUnavailable: a partition without a live leader ends Run with
	// its error (after leaderTakeoverWait when the leader's broker is
	// only taking over) instead of being waited for. Implied without
	// Follow; a group consumer that exits at the end sets it, since it
	// follows to wait for its assignment. A consumer that waits says so
	// once on Warnf.
	FailUnavailable bool
	// Subscribed topics are consumed whole: while following, partitions
	// added to one are consumed too, from their beginning (every record in
	// them is newer than the consumer). Without it, a following consumer
	// of a topic that grew would miss what went to its new partitions.
	Subscribed []string
	// ResetEarliest: an offset that fell out of range (retention) resets
	// to the log start; otherwise to the high watermark. Kafka's
	// auto.offset.reset.
	ResetEarliest bool
	// FetchBytes: about how much one read takes from a partition.
	FetchBytes int
	// Backstop: re-read state this often without an fsnotify event.
	Backstop time.Duration
	// Warnf reports resets and leader changes.
	Warnf func(format string, args ...any)
	// Idle is called before the fetcher waits for new records (flush
	// output there).
	Idle func() error
	// Hook, if set, runs at the top of every round of fetches, on the
	// fetching goroutine: a group consumer changes the partitions there
	// (AddPartition, RemovePartition) and commits. done ends Run.
	Hook func(f *Fetcher) (done bool, err error)
	// Wake, if set, also wakes a waiting fetcher (a group change).
	Wake <-chan struct{}
	// AfterFetch, if set, runs after records of a partition were handed to
	// the handler (a commit after every batch).
	AfterFetch func(f *Fetcher) error
}

// Handler receives each record. Returning ErrStop ends Run without error.
type Handler func(topic string, partition int32, rec *logdir.Record) error

// ErrStop ends a Fetcher's Run from a Handler.
var ErrStop = errors.New("stop")

// Fetcher reads committed records from a set of partitions, from their
// leaders' replicas, in order per partition.
type Fetcher struct {
	c      *coord.Cluster
	opts   ConsumerOptions
	parts  []*fetchPart
	guards map[string]*topicGuard // per topic: was it deleted under us?
	it     logdir.RecordIter
	rec    logdir.Record
}

type fetchPart struct {
	a      Assignment
	next   int64 // -1 until resolved from the start spec
	rd     *logdir.Reader
	leader int
	epoch  int32
	hw     int64
	buf    []byte
	// notReady is the leader's state file while its broker has not taken
	// the partition over yet (ErrLeaderNotReady): watched for the takeover.
	notReady string
	// waiting: the consumer said it waits for this partition's leader.
	waiting bool
}

// leaderTakeoverWait bounds how long a consumer that does not follow (-e)
// waits for a leader's broker to take its replica over (a topic just
// created, a leader just elected) before it fails. Taking over is
// normally a matter of milliseconds; a broker that is alive but never
// takes over is failed by its session timeout, and the controller then
// elects another leader.
const leaderTakeoverWait = 10 * time.Second

// NewFetcher prepares to consume the assignments.
func NewFetcher(c *coord.Cluster, as []Assignment, opts ConsumerOptions) *Fetcher {
	if opts.FetchBytes <= 0 {
		opts.FetchBytes = 1 << 20
	}
	if opts.Backstop <= 0 {
		opts.Backstop = time.Second
	}
	if opts.Warnf == nil {
		opts.Warnf = func(string, ...any) {}
	}
	f := &Fetcher{c: c, opts: opts, guards: map[string]*topicGuard{}}
	for _, a := range as {
		f.parts = append(f.parts, &fetchPart{a: a, next: -1, leader: coord.NoLeader})
	}
	return f
}

// Close releases the files.
func (f *Fetcher) Close() {
	for _, p := range f.parts {
		if p.rd != nil {
			p.rd.Close()
			p.rd = nil
		}
	}
}

// Run consumes until ctx ends, the handler returns ErrStop or an error,
// or (without Follow) every partition is caught up.
func (f *Fetcher) Run(ctx context.Context, h Handler) error {
	var ws watchSet
	defer ws.stop()
	var notReadySince time.Time
	for {
		if f.opts.Hook != nil {
			done, err := f.opts.Hook(f)
			if err != nil || done {
				return err
			}
		}
		progressed, caughtUp, notReady := false, true, false
		for _, p := range f.parts {
			n, done, err := f.fetch(p, h)
			if errors.Is(err, ErrStop) {
				return nil
			}
			if err != nil {
				if errors.Is(err, ErrLeaderNotReady) {
					notReady = true
					if notReadySince.IsZero() {
						notReadySince = time.Now()
					}
				}
				waitTakeover := notReady && time.Since(notReadySince) < leaderTakeoverWait
				if (!f.opts.Follow || f.opts.FailUnavailable) && !waitTakeover || !retriableFetch(err) {
					return f.topicDeleted(err)
				}
				if !p.waiting && (errors.Is(err, ErrNoLeader) || !waitTakeover) {
					// A broker taking a replica over is a matter of
					// milliseconds; a dead leader is not: say why nothing
					// comes.
					f.opts.Warnf("%v; waiting for a leader", err)
					p.waiting = true
				}
				caughtUp = false
				continue
			}
			p.waiting = false
			progressed = progressed || n > 0
			if n > 0 && f.opts.AfterFetch != nil {
				if err := f.opts.AfterFetch(f); err != nil {
					return err
				}
			}
			caughtUp = caughtUp && done
		}
		if !notReady {
			notReadySince = time.Time{}
		}
		if progressed {
			continue
		}
		if caughtUp && !f.opts.Follow {
			return nil
		}
		// Before waiting: a deleted topic's partitions never commit again,
		// and a subscribed topic may have new partitions.
		if added, err := f.checkTopics(); err != nil {
			return err
		} else if added {
			continue
		}
		if f.opts.Idle != nil {
			if err := f.opts.Idle(); err != nil {
				return err
			}
		}
		// Wait for a commit on any partition, or a metadata change.
		paths := []string{f.c.TopicsMetaDir()}
		for _, p := range f.parts {
			if p.rd != nil {
				paths = append(paths, p.rd.StatePath())
			} else if p.notReady != "" {
				// The replica directory may not exist yet: watch the
				// broker's data directory for it too.
				paths = append(paths, p.notReady, filepath.Dir(filepath.Dir(p.notReady)))
			}
		}
		if ws.set(ctx, paths, f.opts.Backstop) {
			continue // the watch is in place: look once more before waiting
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ws.wake:
		case <-f.opts.Wake:
		}
	}
}

// guard returns the deletion guard of a topic.
func (f *Fetcher) guard(topic string) *topicGuard {
	g := f.guards[topic]
	if g == nil {
		g = newTopicGuard(topic, "consuming")
		f.guards[topic] = g
	}
	return g
}

// checkTopics returns ErrTopicDeleted if a topic being consumed was
// deleted (its file unchanged costs a stat). While following, it adds the
// partitions a subscribed topic gained, and says whether it did.
func (f *Fetcher) checkTopics() (added bool, err error) {
	for name, g := range f.guards {
		if g.id == "" {
			continue // never read: resolve says what it finds
		}
		t, err := g.check(f.c)
		if err != nil {
			return false, err
		}
		if t != nil && f.opts.Follow && slices.Contains(f.opts.Subscribed, name) {
			added = f.addNewPartitions(t) || added
		}
	}
	return added, nil
}

// addNewPartitions starts consuming the partitions of t it does not
// consume yet, from their beginning.
func (f *Fetcher) addNewPartitions(t *coord.Topic) bool {
	have := map[int32]bool{}
	for _, p := range f.parts {
		if p.a.Topic == t.Name {
			have[p.a.Partition] = true
		}
	}
	added := false
	for _, part := range t.Partitions {
		if !have[int32(part.Partition)] {
			f.AddPartition(Assignment{Topic: t.Name, Partition: int32(part.Partition), Start: StartSpec{Offset: Earliest}})
			added = true
		}
	}
	return added
}

// topicDeleted explains a failed fetch by its topic's deletion, when that
// is what happened: the replica's files vanish with the topic.
func (f *Fetcher) topicDeleted(err error) error {
	if errors.Is(err, ErrTopicDeleted) {
		return err
	}
	if _, derr := f.checkTopics(); derr != nil {
		return derr
	}
	return err
}

func retriableFetch(err error) bool {
	return errors.Is(err, ErrNoLeader) || errors.Is(err, ErrLeaderNotReady)
}

// fetch reads one chunk from p and hands its records to h. done reports
// that p is caught up with its high watermark.
func (f *Fetcher) fetch(p *fetchPart, h Handler) (n int, done bool, err error) {
	if p.rd == nil {
		if err := f.resolve(p); err != nil {
			return 0, false, err
		}
	}
	var st logdir.State
	p.buf, st, err = p.rd.ReadCommitted(p.buf[:0], p.next, f.opts.FetchBytes)
	if errors.Is(err, logdir.ErrOffsetOutOfRange) {
		return 0, false, f.reset(p, st)
	}
	if err != nil {
		return 0, false, err
	}
	if !st.Leader || st.LeaderEpoch != p.epoch {
		// Leadership moved: read the new leader's replica from the same offset.
		p.rd.Close()
		p.rd = nil
		return 0, false, nil
	}
	p.hw = st.HighWatermark
	for rest := p.buf; len(rest) > 0; {
		var b []byte
		if b, rest, err = logdir.NextBatch(rest); err != nil {
			return n, false, err
		}
		if err := f.it.Reset(b); err != nil {
			return n, false, fmt.Errorf("partition %s-%d: %w", p.a.Topic, p.a.Partition, err)
		}
		if hdr := f.it.Header(); hdr.IsControl() {
			p.next = max(p.next, logdir.BatchLastOffset(b)+1)
			continue
		}
		for f.it.Next(&f.rec) {
			if f.rec.Offset < p.next {
				continue
			}
			if f.rec.Offset >= st.HighWatermark {
				break
			}
			p.next = f.rec.Offset + 1
			n++
			if err := h(p.a.Topic, p.a.Partition, &f.rec); err != nil {
				return n, false, err
			}
		}
		if err := f.it.Err(); err != nil {
			return n, false, fmt.Errorf("partition %s-%d: %w", p.a.Topic, p.a.Partition, err)
		}
		if last := logdir.BatchLastOffset(b); last < st.HighWatermark {
			p.next = max(p.next, last+1) // records removed by compaction leave gaps
		}
	}
	return n, p.next >= st.HighWatermark, nil
}

// reset moves p to the log start or the high watermark after its offset
// fell out of range, as auto.offset.reset does, and says so.
func (f *Fetcher) reset(p *fetchPart, st logdir.State) error {
	to := st.HighWatermark
	if f.opts.ResetEarliest {
		to = st.LogStartOffset
	}
	f.opts.Warnf("partition %s-%d: offset %d is out of range (the log holds %d to %d); resetting to %d",
		p.a.Topic, p.a.Partition, p.next, st.LogStartOffset, st.HighWatermark, to)
	p.next = to
	return nil
}

// resolve opens p's leader replica and, the first time, turns its start
// spec into an offset.
func (f *Fetcher) resolve(p *fetchPart) error {
	g := f.guard(p.a.Topic)
	t, err := f.c.Topic(p.a.Topic)
	if err != nil {
		return g.lookupErr(err)
	}
	if err := g.saw(t); err != nil {
		return err
	}
	if int(p.a.Partition) >= len(t.Partitions) {
		return PartitionRangeError(t.Name, int(p.a.Partition), len(t.Partitions))
	}
	part := t.Partitions[p.a.Partition]
	if err := checkLeader(f.c, t, part); err != nil {
		return err
	}
	dir := f.c.PartitionDir(part.Leader, t.Name, part.Partition)
	p.notReady = filepath.Join(dir, "state")
	rd, err := logdir.OpenReader(dir)
	if err != nil {
		return fmt.Errorf("%w: partition %s-%d: broker %d has not created its replica yet", ErrLeaderNotReady, t.Name, part.Partition, part.Leader)
	}
	st, err := rd.State()
	if err != nil {
		rd.Close()
		if errors.Is(err, logdir.ErrBadState) {
			// Recover creates the state file empty and writes it once the
			// replica is ready: a partition just created (or just added).
			return fmt.Errorf("%w: partition %s-%d: broker %d is still creating its replica", ErrLeaderNotReady, t.Name, part.Partition, part.Leader)
		}
		return err
	}
	if !st.Leader || st.LeaderEpoch != int32(part.LeaderEpoch) {
		rd.Close()
		return fmt.Errorf("%w: partition %s-%d: broker %d is taking over at epoch %d", ErrLeaderNotReady, t.Name, part.Partition, part.Leader, part.LeaderEpoch)
	}
	p.rd, p.leader, p.epoch, p.notReady = rd, part.Leader, st.LeaderEpoch, ""
	if p.next < 0 {
		p.next, err = startOffset(rd, st, p.a.Start)
		if errors.Is(err, logdir.ErrOffsetOutOfRange) && p.a.Start.Committed {
			p.next = p.a.Start.Offset
			return f.reset(p, st)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func startOffset(rd *logdir.Reader, st logdir.State, s StartSpec) (int64, error) {
	switch {
	case s.ByTime:
		off, _, err := rd.OffsetForTimestamp(s.FromTime)
		return off, err
	case s.FromEnd > 0:
		return max(st.HighWatermark-s.FromEnd, st.LogStartOffset), nil
	case s.Offset == Earliest:
		return st.LogStartOffset, nil
	case s.Offset == Latest:
		return st.HighWatermark, nil
	case s.Offset > st.HighWatermark || s.Offset < st.LogStartOffset:
		return 0, fmt.Errorf("%w: offset %d, the partition holds %d to %d", logdir.ErrOffsetOutOfRange, s.Offset, st.LogStartOffset, st.HighWatermark)
	}
	return s.Offset, nil
}

// watchSet is a coord.Watch on a set of paths that changes as leaders move.
type watchSet struct {
	paths  []string
	wake   <-chan struct{}
	cancel context.CancelFunc
}

// set watches paths; it reports whether that is a new watch.
func (w *watchSet) set(ctx context.Context, paths []string, backstop time.Duration) bool {
	if w.cancel != nil && slices.Equal(paths, w.paths) {
		return false
	}
	w.stop()
	wctx, cancel := context.WithCancel(ctx)
	w.paths, w.cancel, w.wake = paths, cancel, coord.Watch(wctx, paths, backstop)
	return true
}

func (w *watchSet) stop() {
	if w.cancel != nil {
		w.cancel()
	}
}
