package logdir

import "math"

// Config is the part of a topic's configuration that shapes its log.
// Names and defaults are Kafka's (the topic-level config in parentheses).
type Config struct {
	SegmentBytes       int64 // segment.bytes: roll when the active segment would pass this
	SegmentMs          int64 // segment.ms: roll when the active segment's first batch is older than this
	SegmentIndexBytes  int64 // segment.index.bytes: roll when the offset index reaches this size
	IndexIntervalBytes int64 // index.interval.bytes: bytes of log between two offset-index entries
	MaxMessageBytes    int64 // max.message.bytes: the largest batch accepted
	RetentionMs        int64 // retention.ms: delete segments whose newest record is older (-1: never)
	RetentionBytes     int64 // retention.bytes: delete oldest segments while the log is larger (-1: never)
	FlushMessages      int64 // flush.messages: fsync after this many unflushed records
	FlushMs            int64 // flush.ms: fsync when the oldest unflushed append is this old
	// ProducerIDExpirationMs: an idempotent producer that has written
	// nothing for this long is forgotten (producer.id.expiration.ms, a
	// broker config in Kafka: the broker sets it, not the topic).
	ProducerIDExpirationMs int64
}

// DefaultConfig returns Kafka's defaults. Flushing is off (MaxInt64), as in
// Kafka: durability comes from replication and the OS page cache, which a
// SIGKILL of any process does not lose.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * 3600 * 1000,
		SegmentIndexBytes:  10 << 20,
		IndexIntervalBytes: 4096,
		MaxMessageBytes:    1048588, // 1 MiB + the batch overhead, Kafka's default
		RetentionMs:        7 * 24 * 3600 * 1000,
		RetentionBytes:     -1,
		FlushMessages:      math.MaxInt64,
		FlushMs:            math.MaxInt64,

		ProducerIDExpirationMs: DefaultProducerIDExpirationMs,
	}
}

// flushEnabled reports whether either flush policy is set.
func (c *Config) flushEnabled() bool {
	return c.FlushMessages != math.MaxInt64 || c.FlushMs != math.MaxInt64
}

// withDefaults fills zero fields with the defaults so a partial Config
// (from a test, say) is usable.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = d.SegmentBytes
	}
	if c.SegmentMs <= 0 {
		c.SegmentMs = d.SegmentMs
	}
	if c.SegmentIndexBytes <= 0 {
		c.SegmentIndexBytes = d.SegmentIndexBytes
	}
	if c.IndexIntervalBytes <= 0 {
		c.IndexIntervalBytes = d.IndexIntervalBytes
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = d.MaxMessageBytes
	}
	if c.RetentionMs == 0 {
		c.RetentionMs = d.RetentionMs
	}
	if c.RetentionBytes == 0 {
		c.RetentionBytes = d.RetentionBytes
	}
	if c.FlushMessages <= 0 {
		c.FlushMessages = d.FlushMessages
	}
	if c.FlushMs <= 0 {
		c.FlushMs = d.FlushMs
	}
	if c.ProducerIDExpirationMs <= 0 {
		c.ProducerIDExpirationMs = d.ProducerIDExpirationMs
	}
	return c
}
