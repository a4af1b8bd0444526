package main

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestKafkaTopicConfigsMkTakesAsKafka: a Kafka client creates a topic with
// the configs Kafka takes that mean nothing more in mk (compaction-only,
// tiered-storage-only) or whose value is mk's behaviour, as Kafka Streams,
// Connect and Terraform providers do; DescribeConfigs shows them as set,
// the others at their defaults with Kafka's broker synonyms; a value mk
// would not honour is INVALID_CONFIG.
func TestKafkaTopicConfigsMkTakesAsKafka(t *testing.T) {
	k := startKafkaCluster(t, 1)
	ctx := testContext(t)
	adm := k.admin()
	set := map[string]*string{}
	for key, v := range map[string]string{
		"delete.retention.ms":                   "1000",
		"min.compaction.lag.ms":                 "10",
		"max.compaction.lag.ms":                 "20",
		"min.cleanable.dirty.ratio":             "0.25",
		"local.retention.ms":                    "3600000",
		"segment.jitter.ms":                     "0",
		"preallocate":                           "false",
		"remote.storage.enable":                 "false",
		"leader.replication.throttled.replicas": "0:1",
	} {
		set[key] = kadm.StringPtr(v)
	}
	r, err := adm.CreateTopic(ctx, 1, 1, set, "s")
	if err != nil || r.Err != nil {
		t.Fatalf("create: %v %v %s", err, r.Err, r.ErrMessage)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("s", nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe: %v %v", err, rc.Err)
	}
	got := map[string]kadm.Config{}
	for _, c := range rc.Configs {
		got[c.Key] = c
	}
	for key, v := range set {
		if c := got[key]; c.MaybeValue() != *v || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Errorf("%s: %q from %v, want %q set", key, c.MaybeValue(), c.Source, *v)
		}
	}
	for key, want := range map[string][2]string{
		"local.retention.bytes": {"-2", "log.local.retention.bytes"},
		"file.delete.delay.ms":  {"0", "log.segment.delete.delay.ms"},
	} {
		c := got[key]
		if c.MaybeValue() != want[0] || c.Source != kmsg.ConfigSourceDefaultConfig || len(c.Synonyms) != 1 || c.Synonyms[0].Key != want[1] {
			t.Errorf("%s: %+v, want default %s from %s", key, c, want[0], want[1])
		}
	}
	// Topic-only configs: no broker synonym; a set one lists itself.
	if c := got["follower.replication.throttled.replicas"]; c.MaybeValue() != "" || c.Source != kmsg.ConfigSourceDefaultConfig || len(c.Synonyms) != 0 {
		t.Errorf("follower.replication.throttled.replicas: %+v", c)
	}
	if c := got["remote.storage.enable"]; len(c.Synonyms) != 1 || c.Synonyms[0].Key != "remote.storage.enable" {
		t.Errorf("remote.storage.enable synonyms %+v", c.Synonyms)
	}
	// Kafka's types.
	types := map[string]kmsg.ConfigType{}
	req := kmsg.NewPtrDescribeConfigsRequest()
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, "s"
	req.Resources = append(req.Resources, res)
	req.IncludeSynonyms = true
	resp, err := req.RequestWith(ctx, k.client())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range resp.Resources[0].Configs {
		types[c.Name] = c.ConfigType
	}
	for key, want := range map[string]kmsg.ConfigType{
		"min.cleanable.dirty.ratio":             kmsg.ConfigTypeDouble,
		"preallocate":                           kmsg.ConfigTypeBoolean,
		"remote.storage.enable":                 kmsg.ConfigTypeBoolean,
		"delete.retention.ms":                   kmsg.ConfigTypeLong,
		"leader.replication.throttled.replicas": kmsg.ConfigTypeList,
	} {
		if types[key] != want {
			t.Errorf("%s: type %v, want %v", key, types[key], want)
		}
	}
	// The brokers' configs list no empty name for a topic-only config.
	brcs, err := adm.DescribeBrokerConfigs(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range brcs {
		for _, c := range rc.Configs {
			if c.Key == "" {
				t.Errorf("broker %s lists a config without a name: %+v", rc.Name, c)
			}
		}
	}
	if c := got["min.cleanable.dirty.ratio"]; len(c.Synonyms) != 2 || c.Synonyms[1].Key != "log.cleaner.min.cleanable.ratio" || c.Synonyms[1].Value == nil || *c.Synonyms[1].Value != "0.5" {
		t.Errorf("min.cleanable.dirty.ratio synonyms %+v", c.Synonyms)
	}

	for key, v := range map[string]string{
		"segment.jitter.ms":                     "1000",
		"preallocate":                           "true",
		"file.delete.delay.ms":                  "60000",
		"min.cleanable.dirty.ratio":             "2",
		"remote.storage.enable":                 "true",
		"leader.replication.throttled.replicas": "0:1,,1:1",
	} {
		r, _ := adm.CreateTopic(ctx, 1, 1, map[string]*string{key: kadm.StringPtr(v)}, "u")
		if r.Err != kerr.InvalidConfig || !strings.Contains(r.ErrMessage, key) {
			t.Errorf("create with %s=%s: %v %q, want INVALID_CONFIG naming it", key, v, r.Err, r.ErrMessage)
		}
	}
}
