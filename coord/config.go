package coord

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"mk/logdir"
)

// Topic config keys: Kafka's names, defaults and validation rules
// (org.apache.kafka.common.config.TopicConfig and LogConfig).
const (
	ConfigRetentionMs           = "retention.ms"
	ConfigRetentionBytes        = "retention.bytes"
	ConfigSegmentBytes          = "segment.bytes"
	ConfigSegmentMs             = "segment.ms"
	ConfigSegmentIndexBytes     = "segment.index.bytes"
	ConfigIndexIntervalBytes    = "index.interval.bytes"
	ConfigCleanupPolicy         = "cleanup.policy"
	ConfigMaxMessageBytes       = "max.message.bytes"
	ConfigMinInsyncReplicas     = "min.insync.replicas"
	ConfigUncleanLeaderElection = "unclean.leader.election.enable"
	ConfigFlushMessages         = "flush.messages"
	ConfigFlushMs               = "flush.ms"
	ConfigMessageTimestampType  = "message.timestamp.type"
	// ConfigCompressionType is the codec of the topic's batches; mk
	// accepts only Kafka's default, producer (see NormalizeConfig).
	ConfigCompressionType = "compression.type"
	// ConfigMessageTimestampBeforeMaxMs and ConfigMessageTimestampAfterMaxMs
	// bound how far a CreateTime record's timestamp may be behind or ahead
	// of the leader's clock when it is produced (KIP-937).
	ConfigMessageTimestampBeforeMaxMs = "message.timestamp.before.max.ms"
	ConfigMessageTimestampAfterMaxMs  = "message.timestamp.after.max.ms"
)

// Values of the enumerated topic configs.
const (
	CleanupPolicyDelete        = "delete"
	CleanupPolicyCompact       = "compact"
	TimestampTypeCreateTime    = "CreateTime"
	TimestampTypeLogAppendTime = "LogAppendTime"
	CompressionTypeProducer    = "producer"
)

// configKind is how a config value is parsed and bounded.
type configKind int

const (
	kindInt    configKind = iota // Java int: 32 bits
	kindLong                     // Java long: 64 bits
	kindBool                     // "true" or "false", any case
	kindChoice                   // one of choices
	kindList                     // comma-separated, each one of choices, no repeats
)

// configSpec describes one topic config key.
type configSpec struct {
	def     string
	kind    configKind
	min     int64    // for kindInt and kindLong
	choices []string // for kindChoice and kindList
}

// configSpecs holds every topic config mk knows. Defaults and lower bounds
// are Kafka's; each bound's reason is Kafka's too.
var configSpecs = map[string]configSpec{
	// 7 days; -1 keeps records forever.
	ConfigRetentionMs: {def: "604800000", kind: kindLong, min: -1},
	// -1: no size limit. Kafka sets no lower bound: any negative is unlimited.
	ConfigRetentionBytes: {def: "-1", kind: kindLong, min: math.MinInt64},
	// 1 GiB. 14 bytes is the smallest record (the v0 record overhead).
	ConfigSegmentBytes: {def: "1073741824", kind: kindInt, min: 14},
	// 7 days; a segment must live at least 1ms.
	ConfigSegmentMs: {def: "604800000", kind: kindLong, min: 1},
	// 10 MiB; one index entry is at least 4 bytes.
	ConfigSegmentIndexBytes: {def: "10485760", kind: kindInt, min: 4},
	// An index entry every 4 KiB of log.
	ConfigIndexIntervalBytes: {def: "4096", kind: kindInt, min: 0},
	ConfigCleanupPolicy: {def: CleanupPolicyDelete, kind: kindList,
		choices: []string{CleanupPolicyDelete, CleanupPolicyCompact}},
	// 1 MiB plus the 12-byte log overhead, so a 1 MiB batch fits.
	ConfigMaxMessageBytes:       {def: "1048588", kind: kindInt, min: 0},
	ConfigMinInsyncReplicas:     {def: "1", kind: kindInt, min: 1},
	ConfigUncleanLeaderElection: {def: "false", kind: kindBool},
	// Long.MaxValue: leave flushing to the OS; replication gives durability.
	ConfigFlushMessages: {def: "9223372036854775807", kind: kindLong, min: 1},
	ConfigFlushMs:       {def: "9223372036854775807", kind: kindLong, min: 0},
	ConfigMessageTimestampType: {def: TimestampTypeCreateTime, kind: kindChoice,
		choices: []string{TimestampTypeCreateTime, TimestampTypeLogAppendTime}},
	// Kafka's values; mk takes only producer (NormalizeConfig).
	ConfigCompressionType: {def: CompressionTypeProducer, kind: kindChoice,
		choices: []string{CompressionTypeProducer, "uncompressed", "gzip", "snappy", "lz4", "zstd"}},
	// Any age is accepted (Long.MAX_VALUE); a record at most an hour in
	// the future (Kafka 4.0's default, which catches clocks set wrong).
	ConfigMessageTimestampBeforeMaxMs: {def: "9223372036854775807", kind: kindLong, min: 0},
	ConfigMessageTimestampAfterMaxMs:  {def: "3600000", kind: kindLong, min: 0},
}

// ConfigDefaults returns every topic config key mk knows with its default.
// The map is a copy.
func ConfigDefaults() map[string]string {
	m := make(map[string]string, len(configSpecs))
	for k, s := range configSpecs {
		m[k] = s.def
	}
	return m
}

// ConfigKeys returns the known topic config keys, sorted.
func ConfigKeys() []string {
	return slices.Sorted(maps.Keys(configSpecs))
}

// NormalizeConfig checks one topic config setting and returns its value in
// canonical form (spaces trimmed, booleans lower-case, list items
// trimmed). An unknown key or a bad value is ErrInvalidConfig with a
// one-line message that names both.
func NormalizeConfig(key, value string) (string, error) {
	spec, ok := configSpecs[key]
	if !ok {
		return "", newError(ErrInvalidConfig, "unknown topic config %q; known keys are %s", key, strings.Join(ConfigKeys(), ", "))
	}
	v := strings.TrimSpace(value)
	bad := func(format string, args ...any) (string, error) {
		return "", newError(ErrInvalidConfig, "invalid value %q for topic config %s: "+format, append([]any{value, key}, args...)...)
	}
	switch spec.kind {
	case kindInt, kindLong:
		bits := 64
		if spec.kind == kindInt {
			bits = 32
		}
		n, err := strconv.ParseInt(v, 10, bits)
		if err != nil {
			if spec.kind == kindInt {
				return bad("it must be an integer up to %d", math.MaxInt32)
			}
			return bad("it must be an integer")
		}
		if n < spec.min {
			return bad("it must be at least %d", spec.min)
		}
		return strconv.FormatInt(n, 10), nil
	case kindBool:
		switch strings.ToLower(v) {
		case "true", "false":
			return strings.ToLower(v), nil
		}
		return bad("it must be true or false")
	case kindChoice:
		if key == ConfigCompressionType && v != CompressionTypeProducer && slices.Contains(spec.choices, v) {
			// Kafka's leader recompresses every batch into the topic's
			// codec; mk stores batches as producers compressed them
			// (producer, Kafka's default) and never re-encodes one, so
			// taking another codec would be a silent lie.
			return bad("mk keeps each batch in the codec its producer used (compression.type=producer) and does not recompress")
		}
		if slices.Contains(spec.choices, v) {
			return v, nil
		}
		return bad("it must be one of %s", strings.Join(spec.choices, ", "))
	case kindList:
		items := strings.Split(v, ",")
		seen := map[string]bool{}
		for i, it := range items {
			it = strings.TrimSpace(it)
			if !slices.Contains(spec.choices, it) || seen[it] {
				return bad("it must be a comma-separated list of %s, each at most once", strings.Join(spec.choices, ", "))
			}
			seen[it] = true
			items[i] = it
		}
		if key == ConfigCleanupPolicy && seen[CleanupPolicyCompact] {
			// Accepting compact and then only deleting would be a silent
			// lie: say so instead (see ARCHITECTURE.md, compaction).
			return bad("log compaction is not supported yet; mk removes records by retention (delete) only")
		}
		return strings.Join(items, ","), nil
	}
	panic("coord: unknown config kind")
}

// ValidateConfig checks a set of topic config overrides and returns them in
// canonical form (see NormalizeConfig). It returns the first error in key
// order, so the message does not change from run to run.
func ValidateConfig(cfg map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(cfg))
	for _, k := range slices.Sorted(maps.Keys(cfg)) {
		v, err := NormalizeConfig(k, cfg[k])
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// ConfigValue returns the effective value of a topic config: the topic's
// override, else the default. It returns "" for an unknown key.
func (t *Topic) ConfigValue(key string) string {
	if v, ok := t.Config[key]; ok {
		return v
	}
	return configSpecs[key].def
}

// ConfigIsDefault reports whether key has no override on the topic.
func (t *Topic) ConfigIsDefault(key string) bool {
	_, ok := t.Config[key]
	return !ok
}

// Int64Config returns the effective value of an integer topic config. It
// panics for a key that is not an integer config: that is a programming
// error, and the value itself was validated when it was written.
func (t *Topic) Int64Config(key string) int64 {
	if k := configSpecs[key].kind; k != kindInt && k != kindLong || configSpecs[key].def == "" {
		panic("coord: Int64Config of non-integer topic config " + key)
	}
	n, err := strconv.ParseInt(t.ConfigValue(key), 10, 64)
	if err != nil {
		n, _ = strconv.ParseInt(configSpecs[key].def, 10, 64)
	}
	return n
}

// BoolConfig returns the effective value of a boolean topic config. It
// panics for a key that is not a boolean config.
func (t *Topic) BoolConfig(key string) bool {
	if configSpecs[key].kind != kindBool {
		panic("coord: BoolConfig of non-boolean topic config " + key)
	}
	return strings.EqualFold(t.ConfigValue(key), "true")
}

// CleanupPolicy returns the effective cleanup.policy as a set.
func (t *Topic) CleanupPolicy() (deletePolicy, compactPolicy bool) {
	for _, p := range strings.Split(t.ConfigValue(ConfigCleanupPolicy), ",") {
		switch strings.TrimSpace(p) {
		case CleanupPolicyDelete:
			deletePolicy = true
		case CleanupPolicyCompact:
			compactPolicy = true
		}
	}
	return deletePolicy, compactPolicy
}

// LogConfig is the part of the topic's configuration that shapes its
// partitions' logs.
func (t *Topic) LogConfig() logdir.Config {
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
