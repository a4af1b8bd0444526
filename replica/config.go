// Package replica runs the partition replicas of one broker: it recovers
// them at start, gives each its role (leader or follower) at the epoch the
// controller published, fences replicas whose leadership moved, copies the
// leader's batches into follower replicas, moves the high watermark, and
// applies retention. Producers and consumers do not go through it: they
// append to and read from the leader's replica directly (see package
// logdir), fenced by the epoch it maintains.
package replica

import (
	"mk/coord"
	"mk/logdir"
)

// LogConfig is the part of a topic's configuration that shapes its log.
func LogConfig(t *coord.Topic) logdir.Config {
	return logdir.Config{
		SegmentBytes:       t.Int64Config("segment.bytes"),
		SegmentMs:          t.Int64Config("segment.ms"),
		SegmentIndexBytes:  t.Int64Config("segment.index.bytes"),
		IndexIntervalBytes: t.Int64Config("index.interval.bytes"),
		MaxMessageBytes:    t.Int64Config("max.message.bytes"),
		RetentionMs:        t.Int64Config("retention.ms"),
		RetentionBytes:     t.Int64Config("retention.bytes"),
		FlushMessages:      t.Int64Config("flush.messages"),
		FlushMs:            t.Int64Config("flush.ms"),
	}
}
