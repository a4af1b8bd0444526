package server

import (
	"context"
	"errors"
	"time"

	"mk/coord"
	"mk/logdir"
)

// What the admin APIs (CreateTopics, DeleteTopics, CreatePartitions, the
// config APIs, DescribeCluster) share.
//
// Kafka sends these requests to its controller, which alone writes the
// metadata log; clients find it through Metadata's controller id. Every mk
// broker can write the metadata directory (under meta/lock, as mk topic
// does), so any broker answers them itself, with the same result the
// controller would give: a client that sends CreateTopics to another
// broker than the controller gets the topic created, not NOT_CONTROLLER.

// errMessage is the error message of an admin response: err's one-line
// text, or none.
func errMessage(err error) *string {
	if err == nil {
		return nil
	}
	m := err.Error()
	return &m
}

// str returns a pointer to s.
func str(s string) *string { return &s }

// waitLeaders waits until every partition of topic name (of topic id id)
// from first on is led: the leader the metadata names has its replica
// open as leader at the partition's current epoch, so that a produce sent
// to it at once succeeds. It reports whether that happened before ctx
// ended. A topic deleted or replaced meanwhile has nothing to wait for.
//
// Kafka's CreateTopics and CreatePartitions did the same in the
// ZooKeeper era (DelayedCreatePartitions): they answered once the new
// partitions had leaders in the brokers' metadata, or REQUEST_TIMED_OUT
// at the request's timeout, the topic created all the same. Clients
// that produce right after creating a topic then find its leaders ready
// instead of retrying on NOT_LEADER_OR_FOLLOWER.
func waitLeaders(ctx context.Context, c *coord.Cluster, name, id string, first int) bool {
	// A partition stays ready while its leader and epoch stay the same,
	// so each is checked until it is ready, and one directory is watched
	// at a time: the first partition not ready yet. A topic of many
	// partitions costs a pass over them, not a pass per wake.
	type leadership struct{ partition, leader, epoch int }
	ready := map[leadership]bool{}
	watched := ""
	for {
		wctx, stop := context.WithCancel(ctx)
		// The watch is in place before the state is read, so that no
		// change between the read and the wait is missed.
		paths := []string{c.TopicsMetaDir()}
		if watched != "" {
			// The replica's directory, which the leader creates and
			// whose state it rewrites as it takes the partition.
			paths = append(paths, watched)
		}
		wake := coord.Watch(wctx, paths, 250*time.Millisecond)
		t, err := c.Topic(name)
		if err != nil || t.ID != id {
			stop()
			return true
		}
		next := ""
		for _, p := range t.Partitions[min(first, len(t.Partitions)):] {
			l := leadership{p.Partition, p.Leader, p.LeaderEpoch}
			if ready[l] {
				continue
			}
			if leaderReady(c, t, p) {
				ready[l] = true
				continue
			}
			next = c.PartitionDir(p.Leader, t.Name, p.Partition)
			break
		}
		if next == "" {
			stop()
			return true
		}
		if next != watched {
			watched = next
			stop()
			continue
		}
		select {
		case <-wake:
			stop()
		case <-ctx.Done():
			stop()
			return false
		}
	}
}

// leaderReady reports whether p's leader has taken it at its epoch.
func leaderReady(c *coord.Cluster, t *coord.Topic, p coord.Partition) bool {
	if p.Leader == coord.NoLeader {
		return false
	}
	rd, err := logdir.OpenReader(c.PartitionDir(p.Leader, t.Name, p.Partition))
	if err != nil {
		return false
	}
	defer rd.Close()
	st, err := rd.State()
	return err == nil && st.Leader && st.LeaderEpoch == int32(p.LeaderEpoch)
}

// deadline is the context of an admin request's timeout (timeoutMillis
// from the request); ok is false when the request asks not to wait.
func deadline(ctx context.Context, timeoutMillis int32) (context.Context, context.CancelFunc, bool) {
	if timeoutMillis <= 0 {
		return ctx, func() {}, false
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(timeoutMillis)*time.Millisecond)
	return ctx, cancel, true
}

// isUnknownOrInvalid: the topic does not exist, or its name could name
// none. Kafka answers both UNKNOWN_TOPIC_OR_PARTITION where a topic is
// looked up.
func isUnknownOrInvalid(err error) bool {
	return errors.Is(err, coord.ErrUnknownTopic) || errors.Is(err, coord.ErrInvalidTopic)
}
