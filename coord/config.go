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
	// ConfigSegmentJitterMs is a random time taken off segment.ms for
	// each new segment; mk rolls at segment.ms exactly and takes only 0.
	ConfigSegmentJitterMs = "segment.jitter.ms"
	// ConfigPreallocate: Kafka creates each segment file at segment.bytes
	// when true; mk's segment files are always the size of their records
	// (see logdir/prealloc.go), so it takes only false.
	ConfigPreallocate = "preallocate"
	// ConfigFileDeleteDelayMs is how long Kafka keeps a removed segment's
	// files (renamed .deleted) before deleting them; mk deletes them at
	// once (a reader that has one open keeps reading it) and takes only 0.
	ConfigFileDeleteDelayMs = "file.delete.delay.ms"
	// ConfigLocalRetentionMs and ConfigLocalRetentionBytes bound the local
	// part of a tiered (remote storage) log; without remote storage, which
	// mk does not have, they do nothing in Kafka either (-2: retention.ms
	// and retention.bytes).
	ConfigLocalRetentionMs    = "local.retention.ms"
	ConfigLocalRetentionBytes = "local.retention.bytes"
	// The compaction-only settings: they do nothing on a topic that is not
	// compacted, in Kafka as in mk (which refuses cleanup.policy=compact).
	ConfigDeleteRetentionMs      = "delete.retention.ms"
	ConfigMinCompactionLagMs     = "min.compaction.lag.ms"
	ConfigMaxCompactionLagMs     = "max.compaction.lag.ms"
	ConfigMinCleanableDirtyRatio = "min.cleanable.dirty.ratio"
	// ConfigRemoteStorageEnable is tiered storage (KIP-405), which mk
	// does not have: it takes only false.
	ConfigRemoteStorageEnable = "remote.storage.enable"
	// The replicas whose replication Kafka throttles to the brokers'
	// leader.replication.throttled.rate and
	// follower.replication.throttled.rate, which are unlimited unless
	// set; mk has no such rates, so a listed replica is replicated
	// unthrottled, as in Kafka when they are not set.
	ConfigLeaderReplicationThrottledReplicas   = "leader.replication.throttled.replicas"
	ConfigFollowerReplicationThrottledReplicas = "follower.replication.throttled.replicas"
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
	kindInt         configKind = iota // Java int: 32 bits
	kindLong                          // Java long: 64 bits
	kindBool                          // "true" or "false", any case
	kindChoice                        // one of choices
	kindList                          // comma-separated, each one of choices, no repeats
	kindDouble                        // Java double, between min and 1 (the only one is a ratio)
	kindReplicaList                   // "*" or PARTITION:BROKER,... (Kafka's ThrottledReplicaListValidator)
)

// configSpec describes one topic config key.
type configSpec struct {
	def     string
	kind    configKind
	min     int64    // for kindInt, kindLong and kindDouble
	choices []string // for kindChoice and kindList
	// only, if set, is the one value mk takes (its behaviour) and why
	// (Kafka takes others).
	only, why string
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
	ConfigSegmentJitterMs: {def: "0", kind: kindLong, min: 0, only: "0",
		why: "mk rolls a segment at segment.ms exactly, without jitter"},
	ConfigPreallocate: {def: "false", kind: kindBool, only: "false",
		why: "mk keeps each segment file the size of its records (it reserves disk blocks ahead whatever this setting)"},
	// Kafka's default is 60000; mk's behaviour, shown as its default, is 0.
	ConfigFileDeleteDelayMs: {def: "0", kind: kindLong, min: 0, only: "0",
		why: "mk deletes a removed segment's files at once (a reader that has one open keeps reading it)"},
	// -2: the topic's retention.ms and retention.bytes.
	ConfigLocalRetentionMs:    {def: "-2", kind: kindLong, min: -2},
	ConfigLocalRetentionBytes: {def: "-2", kind: kindLong, min: -2},
	// 1 day.
	ConfigDeleteRetentionMs:      {def: "86400000", kind: kindLong, min: 0},
	ConfigMinCompactionLagMs:     {def: "0", kind: kindLong, min: 0},
	ConfigMaxCompactionLagMs:     {def: "9223372036854775807", kind: kindLong, min: 1},
	ConfigMinCleanableDirtyRatio: {def: "0.5", kind: kindDouble, min: 0},
	ConfigRemoteStorageEnable: {def: "false", kind: kindBool, only: "false",
		why: "mk has no remote (tiered) storage"},
	ConfigLeaderReplicationThrottledReplicas:   {def: "", kind: kindReplicaList},
	ConfigFollowerReplicationThrottledReplicas: {def: "", kind: kindReplicaList},
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
	v, err := normalizeConfig(key, value)
	if err != nil {
		return "", err
	}
	if spec := configSpecs[key]; spec.only != "" && v != spec.only {
		return "", newError(ErrInvalidConfig, "invalid value %q for topic config %s: mk takes only %s: %s", value, key, spec.only, spec.why)
	}
	return v, nil
}

func normalizeConfig(key, value string) (string, error) {
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
	case kindDouble:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || f < float64(spec.min) || f > 1 {
			return bad("it must be a number from %d to 1", spec.min)
		}
		return javaDouble(f), nil
	case kindReplicaList:
		return replicaList(v, bad)
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

// The docs and broker synonyms (Kafka's ServerTopicConfigSynonyms) of the
// topic configs mk takes for what they mean to it, not for what they do.
func init() {
	for k, d := range map[string]struct{ doc, broker string }{
		ConfigSegmentJitterMs:                      {"The most random time taken off segment.ms for each new segment in Kafka; mk rolls at segment.ms exactly and takes only 0.", "log.roll.jitter.ms"},
		ConfigPreallocate:                          {"Whether Kafka creates each segment file at its full size (segment.bytes); mk keeps segment files the size of their records and takes only false.", "log.preallocate"},
		ConfigFileDeleteDelayMs:                    {"How long a removed segment's files are kept before they are deleted; mk deletes them at once (a reader that has one open keeps reading it) and takes only 0 (Kafka's default is 60000).", "log.segment.delete.delay.ms"},
		ConfigLocalRetentionMs:                     {"How long the local part of a tiered log keeps records; without remote storage (mk has none) it does nothing. -2: retention.ms.", "log.local.retention.ms"},
		ConfigLocalRetentionBytes:                  {"How many bytes the local part of a tiered log keeps per partition; without remote storage (mk has none) it does nothing. -2: retention.bytes.", "log.local.retention.bytes"},
		ConfigDeleteRetentionMs:                    {"How long a compacted topic keeps delete markers (tombstones); does nothing unless cleanup.policy has compact, which mk refuses.", "log.cleaner.delete.retention.ms"},
		ConfigMinCompactionLagMs:                   {"How long a record stays uncompacted at least; does nothing unless cleanup.policy has compact, which mk refuses.", "log.cleaner.min.compaction.lag.ms"},
		ConfigMaxCompactionLagMs:                   {"How long a record may stay uncompacted at most; does nothing unless cleanup.policy has compact, which mk refuses.", "log.cleaner.max.compaction.lag.ms"},
		ConfigRemoteStorageEnable:                  {"Whether the topic's old segments move to remote (tiered) storage; mk has none and takes only false.", ""},
		ConfigLeaderReplicationThrottledReplicas:   {"The replicas whose replication is throttled on the leader's side to the broker's leader.replication.throttled.rate: * or PARTITION:BROKER,...; mk has no throttle rates (Kafka's are unlimited unless set), so replication is never throttled.", ""},
		ConfigFollowerReplicationThrottledReplicas: {"The replicas whose replication is throttled on the follower's side to the broker's follower.replication.throttled.rate: * or PARTITION:BROKER,...; mk has no throttle rates (Kafka's are unlimited unless set), so replication is never throttled.", ""},
		ConfigMinCleanableDirtyRatio:               {"How much of a compacted log must be uncompacted before it is compacted again; does nothing unless cleanup.policy has compact, which mk refuses.", "log.cleaner.min.cleanable.ratio"},
	} {
		configDocs[k] = d
	}
}

// replicaList checks a throttled-replica list as Kafka's
// ThrottledReplicaListValidator does: "*", or PARTITION:BROKER entries
// (Java ints), empty ones only at the end; it returns it with the entries
// trimmed and the empty ones dropped.
func replicaList(v string, bad func(string, ...any) (string, error)) (string, error) {
	items := strings.Split(v, ",")
	for i := range items {
		items[i] = strings.TrimSpace(items[i])
	}
	if len(items) == 1 && items[0] == "*" {
		return "*", nil
	}
	var out []string
	empty := false // an empty entry came before
	for _, it := range items {
		if it == "" {
			empty = true
			continue
		}
		p, b, ok := strings.Cut(it, ":")
		if empty || !ok || !isJavaInt(p) || !isJavaInt(b) {
			return bad("it must be * or a list of replicas PARTITION:BROKER,PARTITION:BROKER,...")
		}
		out = append(out, it)
	}
	return strings.Join(out, ","), nil
}

// isJavaInt reports whether s is digits only that fit a Java int.
func isJavaInt(s string) bool {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return false
	}
	_, err := strconv.ParseInt(s, 10, 32)
	return err == nil
}

// javaDouble formats f as Java's Double.toString does for the values a
// ratio takes (0.5, 1.0), as Kafka shows a DOUBLE config.
func javaDouble(f float64) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}

// ValidateConfig checks a set of topic config overrides and returns them in
// canonical form (see NormalizeConfig). It returns the first error in key
// order, so the message does not change from run to run. Then it checks
// the settings against each other as Kafka's LogConfig.validateValues
// does, the defaults standing in for those not set.
func ValidateConfig(cfg map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(cfg))
	for _, k := range slices.Sorted(maps.Keys(cfg)) {
		v, err := NormalizeConfig(k, cfg[k])
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	if err := checkConfigTogether(out); err != nil {
		return nil, err
	}
	return out, nil
}

// checkConfigTogether checks the settings of cfg (canonical overrides)
// that bound each other, with the defaults for those not set.
func checkConfigTogether(cfg map[string]string) error {
	t := &Topic{Config: cfg}
	minLag, maxLag := t.Int64Config(ConfigMinCompactionLagMs), t.Int64Config(ConfigMaxCompactionLagMs)
	if minLag > maxLag {
		return newError(ErrInvalidConfig, "conflict topic config setting %s (%d) > %s (%d)", ConfigMinCompactionLagMs, minLag, ConfigMaxCompactionLagMs, maxLag)
	}
	return nil
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
