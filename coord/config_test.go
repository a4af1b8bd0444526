package coord

import (
	"errors"
	"strings"
	"testing"
)

func TestConfigDefaultsAreKafkas(t *testing.T) {
	want := map[string]string{
		"retention.ms":                    "604800000",
		"retention.bytes":                 "-1",
		"segment.bytes":                   "1073741824",
		"segment.ms":                      "604800000",
		"segment.index.bytes":             "10485760",
		"index.interval.bytes":            "4096",
		"cleanup.policy":                  "delete",
		"max.message.bytes":               "1048588",
		"min.insync.replicas":             "1",
		"unclean.leader.election.enable":  "false",
		"flush.messages":                  "9223372036854775807",
		"flush.ms":                        "9223372036854775807",
		"message.timestamp.type":          "CreateTime",
		"message.timestamp.before.max.ms": "9223372036854775807",
		"message.timestamp.after.max.ms":  "3600000",
		"compression.type":                "producer",
		"segment.jitter.ms":               "0",
		"preallocate":                     "false",
		"local.retention.ms":              "-2",
		"local.retention.bytes":           "-2",
		"delete.retention.ms":             "86400000",
		"min.compaction.lag.ms":           "0",
		"max.compaction.lag.ms":           "9223372036854775807",
		"min.cleanable.dirty.ratio":       "0.5",
		// Kafka's is 60000: mk deletes at once, and says so.
		"file.delete.delay.ms":                    "0",
		"remote.storage.enable":                   "false",
		"leader.replication.throttled.replicas":   "",
		"follower.replication.throttled.replicas": "",
	}
	got := ConfigDefaults()
	if len(got) != len(want) {
		t.Errorf("ConfigDefaults has %d keys, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("default %s = %q, want %q", k, got[k], v)
		}
		if _, err := NormalizeConfig(k, v); err != nil {
			t.Errorf("default of %s does not validate: %v", k, err)
		}
	}
	got["retention.ms"] = "1"
	if ConfigDefaults()["retention.ms"] != "604800000" {
		t.Error("ConfigDefaults returned its own map")
	}
}

func TestNormalizeConfig(t *testing.T) {
	tests := []struct {
		key, value, want string // want "" = invalid
	}{
		{"retention.ms", "-1", "-1"},
		{"retention.ms", " 86400000 ", "86400000"},
		{"retention.ms", "-2", ""},
		{"retention.ms", "1d", ""},
		{"retention.ms", "9223372036854775808", ""},
		{"retention.bytes", "-1", "-1"},
		{"retention.bytes", "1073741824", "1073741824"},
		{"retention.bytes", "1.5", ""},
		{"segment.bytes", "14", "14"},
		{"segment.bytes", "13", ""},
		{"segment.bytes", "2147483647", "2147483647"},
		{"segment.bytes", "2147483648", ""},
		{"segment.ms", "1", "1"},
		{"segment.ms", "0", ""},
		{"segment.index.bytes", "4", "4"},
		{"segment.index.bytes", "3", ""},
		{"index.interval.bytes", "0", "0"},
		{"index.interval.bytes", "-1", ""},
		{"cleanup.policy", "delete", "delete"},
		// Log compaction is not implemented: refused rather than ignored.
		{"cleanup.policy", "compact", ""},
		{"cleanup.policy", "compact,delete", ""},
		{"cleanup.policy", "delete, compact", ""},
		{"cleanup.policy", " delete ", "delete"},
		{"cleanup.policy", "compact,compact", ""},
		{"cleanup.policy", "remove", ""},
		{"cleanup.policy", "", ""},
		{"max.message.bytes", "0", "0"},
		{"max.message.bytes", "-1", ""},
		{"min.insync.replicas", "2", "2"},
		{"min.insync.replicas", "0", ""},
		{"unclean.leader.election.enable", "True", "true"},
		{"unclean.leader.election.enable", "false", "false"},
		{"unclean.leader.election.enable", "yes", ""},
		{"flush.messages", "1", "1"},
		{"flush.messages", "0", ""},
		{"flush.ms", "0", "0"},
		{"flush.ms", "-1", ""},
		{"message.timestamp.type", "LogAppendTime", "LogAppendTime"},
		{"message.timestamp.type", "CreateTime", "CreateTime"},
		{"message.timestamp.type", "createtime", ""},
		{"compression.typo", "gzip", ""},
		{"compression.type", "producer", "producer"},
		{"compression.type", " producer ", "producer"},
		{"compression.type", "lz4", ""},
		{"compression.type", "uncompressed", ""},
		{"compression.type", "brotli", ""},
		// Taken where mk's behaviour is what the value means.
		{"segment.jitter.ms", "0", "0"},
		{"segment.jitter.ms", "1000", ""},
		{"segment.jitter.ms", "-1", ""},
		{"preallocate", "False", "false"},
		{"preallocate", "true", ""},
		{"preallocate", "no", ""},
		{"file.delete.delay.ms", "0", "0"},
		{"file.delete.delay.ms", "60000", ""},
		{"file.delete.delay.ms", "-1", ""},
		{"local.retention.ms", "-2", "-2"},
		{"local.retention.ms", "3600000", "3600000"},
		{"local.retention.ms", "-3", ""},
		{"local.retention.bytes", "-2", "-2"},
		{"local.retention.bytes", "-3", ""},
		{"local.retention.bytes", "1x", ""},
		{"delete.retention.ms", "0", "0"},
		{"delete.retention.ms", "-1", ""},
		{"min.compaction.lag.ms", "60000", "60000"},
		{"min.compaction.lag.ms", "-1", ""},
		{"max.compaction.lag.ms", "1", "1"},
		{"max.compaction.lag.ms", "0", ""},
		{"min.cleanable.dirty.ratio", "0.1", "0.1"},
		{"min.cleanable.dirty.ratio", "1", "1.0"},
		{"min.cleanable.dirty.ratio", " 0 ", "0.0"},
		{"min.cleanable.dirty.ratio", "1.01", ""},
		{"min.cleanable.dirty.ratio", "-0.1", ""},
		{"min.cleanable.dirty.ratio", "NaN", ""},
		{"min.cleanable.dirty.ratio", "half", ""},
		{"remote.storage.enable", "FALSE", "false"},
		{"remote.storage.enable", "true", ""},
		{"leader.replication.throttled.replicas", " * ", "*"},
		{"leader.replication.throttled.replicas", "0:1, 1:2", "0:1,1:2"},
		{"leader.replication.throttled.replicas", "0:1,1:2,", "0:1,1:2"},
		{"follower.replication.throttled.replicas", "0:1,,1:2", ""},
		{"follower.replication.throttled.replicas", "*,0:1", ""},
		{"follower.replication.throttled.replicas", "0:x", ""},
		{"follower.replication.throttled.replicas", "0", ""},
		{"follower.replication.throttled.replicas", "2147483648:1", ""},
		{"follower.replication.throttled.replicas", "-1:1", ""},
	}
	for _, tt := range tests {
		got, err := NormalizeConfig(tt.key, tt.value)
		if tt.want == "" {
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.key) || strings.Contains(err.Error(), "\n") {
				t.Errorf("NormalizeConfig(%s, %q) = %q, %v; want ErrInvalidConfig naming the key", tt.key, tt.value, got, err)
			}
			if _, known := configSpecs[tt.key]; known && !strings.Contains(err.Error(), `"`+tt.value+`"`) {
				t.Errorf("error does not name the value %q: %v", tt.value, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeConfig(%s, %q) = %q, %v; want %q", tt.key, tt.value, got, err, tt.want)
		}
	}
}

func TestTypedConfigGetters(t *testing.T) {
	tp := &Topic{Config: map[string]string{ConfigRetentionMs: "-1", ConfigCleanupPolicy: "compact,delete"}}
	if tp.Int64Config(ConfigRetentionMs) != -1 || tp.Int64Config(ConfigFlushMs) != 1<<63-1 {
		t.Error("Int64Config")
	}
	if tp.BoolConfig(ConfigUncleanLeaderElection) {
		t.Error("BoolConfig default")
	}
	if d, c := tp.CleanupPolicy(); !d || !c {
		t.Error("CleanupPolicy")
	}
	if tp.ConfigValue("no.such.key") != "" {
		t.Error("ConfigValue of unknown key")
	}
	defer func() {
		if recover() == nil {
			t.Error("Int64Config of a non-integer key did not panic")
		}
	}()
	tp.Int64Config(ConfigCleanupPolicy)
}

// Settings that bound each other are checked together, as Kafka's
// LogConfig.validateValues does, the defaults standing in for the rest.
func TestValidateConfigTogether(t *testing.T) {
	for _, cfg := range []map[string]string{
		{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"},
		{"max.compaction.lag.ms": "5", "min.compaction.lag.ms": "6"},
	} {
		_, err := ValidateConfig(cfg)
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "conflict topic config setting min.compaction.lag.ms") {
			t.Errorf("ValidateConfig(%v) = %v, want the conflict", cfg, err)
		}
	}
	if _, err := ValidateConfig(map[string]string{"min.compaction.lag.ms": "5", "max.compaction.lag.ms": "5"}); err != nil {
		t.Errorf("equal lags: %v", err)
	}
	if _, err := ValidateConfig(map[string]string{"min.compaction.lag.ms": "86400000"}); err != nil {
		t.Errorf("a min lag under the default max: %v", err)
	}
}
