package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// The admin APIs driven by franz-go's kadm (and raw kmsg requests where
// kadm has no call) against real brokers; what they do is checked with
// mk's own commands, which read the metadata directory.

// describedTopic is `mk topic describe NAME -o json`.
type describedTopic struct {
	Topic             string            `json:"topic"`
	TopicID           string            `json:"topic_id"`
	PartitionCount    int               `json:"partition_count"`
	ReplicationFactor int               `json:"replication_factor"`
	Config            map[string]string `json:"config"`
	Partitions        []struct {
		Partition    int   `json:"partition"`
		Leader       int   `json:"leader"`
		Replicas     []int `json:"replicas"`
		ISR          []int `json:"isr"`
		LogEndOffset int64 `json:"log_end_offset"`
	} `json:"partitions"`
}

func (k *kafkaCluster) describeTopic(name string) describedTopic {
	k.t.Helper()
	var d describedTopic
	if err := json.Unmarshal([]byte(k.mk("topic", "describe", name, "-o", "json")), &d); err != nil {
		k.t.Fatal(err)
	}
	return d
}

// topicNames lists `mk topic list -o json`.
func (k *kafkaCluster) topicNames() []string {
	k.t.Helper()
	var list []struct{ Topic string }
	if err := json.Unmarshal([]byte(k.mk("topic", "list", "-o", "json")), &list); err != nil {
		k.t.Fatal(err)
	}
	var names []string
	for _, e := range list {
		names = append(names, e.Topic)
	}
	return names
}

// wantErr fails unless err is the Kafka error want (nil: no error) and,
// for an error, the broker said why.
func wantErr(t *testing.T, what string, err error, msg string, want *kerr.Error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("%s: %v (%s)", what, err, msg)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v (%s), want %s", what, err, msg, want.Message)
	}
	if msg == "" {
		t.Fatalf("%s: %s without an error message", what, want.Message)
	}
}

func code(c int16) error { return kerr.ErrorForCode(c) }

func msgOf(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// TestKafkaAdminTopics: CreateTopics, ListTopics, CreatePartitions and
// DeleteTopics, each with its error paths, on three brokers.
func TestKafkaAdminTopics(t *testing.T) {
	k := startKafkaCluster(t, 3)
	ctx := testContext(t)
	cl := k.client()
	adm := kadm.NewClient(cl)

	t.Run("create with configs", func(t *testing.T) {
		r, err := adm.CreateTopic(ctx, 3, 2, map[string]*string{"retention.ms": kadm.StringPtr("3600000"), "cleanup.policy": kadm.StringPtr("delete")}, "orders")
		wantErr(t, "create orders", err, r.ErrMessage, nil)
		d := k.describeTopic("orders")
		if id := base64.RawURLEncoding.EncodeToString(r.ID[:]); id != d.TopicID {
			t.Fatalf("topic id %s, mk says %s", id, d.TopicID)
		}
		if r.NumPartitions != 3 || r.ReplicationFactor != 2 || d.PartitionCount != 3 || d.ReplicationFactor != 2 {
			t.Fatalf("answered %d partitions rf %d; mk: %+v", r.NumPartitions, r.ReplicationFactor, d)
		}
		if want := map[string]string{"retention.ms": "3600000", "cleanup.policy": "delete"}; !maps.Equal(d.Config, want) {
			t.Fatalf("mk shows configs %v, want %v", d.Config, want)
		}
		// v5+: every config with its source.
		for key, want := range map[string]struct {
			value  string
			source kmsg.ConfigSource
		}{
			"retention.ms":      {"3600000", kmsg.ConfigSourceDynamicTopicConfig},
			"segment.bytes":     {"1073741824", kmsg.ConfigSourceDefaultConfig},
			"max.message.bytes": {"1048588", kmsg.ConfigSourceDefaultConfig},
		} {
			c := r.Configs[key]
			if c.MaybeValue() != want.value || c.Source != want.source {
				t.Errorf("create answer: %s = %q (source %v), want %q (%v)", key, c.MaybeValue(), c.Source, want.value, want.source)
			}
		}
		// The answer came once the leaders had their replicas open:
		// every partition's leader has its log.
		for _, p := range d.Partitions {
			if p.LogEndOffset != 0 || len(p.Replicas) != 2 || p.Leader != p.Replicas[0] {
				t.Fatalf("partition %+v right after create", p)
			}
		}
	})

	t.Run("create with cluster defaults", func(t *testing.T) {
		r, err := adm.CreateTopic(ctx, -1, -1, nil, "defaults")
		wantErr(t, "create defaults", err, r.ErrMessage, nil)
		if d := k.describeTopic("defaults"); d.PartitionCount != 1 || d.ReplicationFactor != 1 || r.NumPartitions != 1 || r.ReplicationFactor != 1 {
			t.Fatalf("num.partitions and default.replication.factor are 1: answered %d/%d, mk %+v", r.NumPartitions, r.ReplicationFactor, d)
		}
	})

	t.Run("validate only", func(t *testing.T) {
		rs, err := adm.ValidateCreateTopics(ctx, 4, 3, map[string]*string{"segment.bytes": kadm.StringPtr("1048576")}, "dry")
		if err != nil {
			t.Fatal(err)
		}
		r := rs["dry"]
		wantErr(t, "validate dry", r.Err, r.ErrMessage, nil)
		if r.NumPartitions != 4 || r.ReplicationFactor != 3 || r.ID != (kadm.TopicID{}) {
			t.Fatalf("validate-only answer %+v", r)
		}
		if slices.Contains(k.topicNames(), "dry") {
			t.Fatal("validate-only created the topic")
		}
		rs, _ = adm.ValidateCreateTopics(ctx, 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("soon")}, "dry")
		wantErr(t, "validate a bad config", rs["dry"].Err, rs["dry"].ErrMessage, kerr.InvalidConfig)
	})

	t.Run("create errors", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			p       int32
			rf      int16
			configs map[string]*string
			want    *kerr.Error
		}{
			{"bad name!", 1, 1, nil, kerr.InvalidTopicException},
			{strings.Repeat("x", 250), 1, 1, nil, kerr.InvalidTopicException},
			{"orders", 1, 1, nil, kerr.TopicAlreadyExists},
			{"ord_ers", 1, 1, nil, kerr.InvalidTopicException}, // collides with ord.ers, created first
			{"zero-partitions", 0, 1, nil, kerr.InvalidPartitions},
			{"minus-two-partitions", -2, 1, nil, kerr.InvalidPartitions},
			{"two-billion-partitions", 2_000_000_000, 1, nil, kerr.InvalidPartitions}, // refused before anything is placed
			{"zero-rf", 1, 0, nil, kerr.InvalidReplicationFactor},
			{"rf-above-brokers", 1, 4, nil, kerr.InvalidReplicationFactor},
			{"unknown-config", 1, 1, map[string]*string{"retention.forever": kadm.StringPtr("1")}, kerr.InvalidConfig},
			{"bad-config-value", 1, 1, map[string]*string{"segment.bytes": kadm.StringPtr("big")}, kerr.InvalidConfig},
			{"compacted", 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, kerr.InvalidConfig},
			{"null-config", 1, 1, map[string]*string{"retention.ms": nil}, kerr.InvalidConfig},
		} {
			if tc.name == "ord_ers" {
				if _, err := adm.CreateTopic(ctx, 1, 1, nil, "ord.ers"); err != nil {
					t.Fatal(err)
				}
			}
			r, err := adm.CreateTopic(ctx, tc.p, tc.rf, tc.configs, tc.name)
			wantErr(t, "create "+tc.name, err, r.ErrMessage, tc.want)
		}
		names := k.topicNames()
		for _, n := range []string{"zero-partitions", "rf-above-brokers", "unknown-config", "compacted", "ord_ers"} {
			if slices.Contains(names, n) {
				t.Fatalf("failed create left topic %s", n)
			}
		}
	})

	t.Run("create raw", func(t *testing.T) {
		// One request: a name given twice, a manual assignment, and
		// manual assignments Kafka refuses.
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 10000
		add := func(name string, p int32, rf int16, assign map[int32][]int32) {
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, p, rf
			for _, part := range slices.Sorted(maps.Keys(assign)) {
				a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
				a.Partition, a.Replicas = part, assign[part]
				rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
			}
			req.Topics = append(req.Topics, rt)
		}
		add("twice", 1, 1, nil)
		add("twice", 1, 1, nil)
		add("manual", -1, -1, map[int32][]int32{0: {3, 1}, 1: {2, 3}})
		add("manual-rf-set", 2, -1, map[int32][]int32{0: {1}})
		add("manual-gap", -1, -1, map[int32][]int32{0: {1}, 2: {2}})
		add("manual-unknown-broker", -1, -1, map[int32][]int32{0: {1, 9}})
		add("manual-twice", -1, -1, map[int32][]int32{0: {2, 2}})
		add("manual-mixed-rf", -1, -1, map[int32][]int32{0: {1, 2}, 1: {3}})
		// To a broker that is not the controller: any broker answers.
		ctl := k.controller()
		other := int32(1)
		if ctl == 1 {
			other = 2
		}
		kr, err := cl.Broker(int(other)).Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]kmsg.CreateTopicsResponseTopic{}
		twice := 0
		for _, rt := range kr.(*kmsg.CreateTopicsResponse).Topics {
			got[rt.Topic] = rt
			if rt.Topic == "twice" {
				twice++
			}
		}
		if twice != 1 {
			t.Fatalf("a name given twice is answered %d times, want once", twice)
		}
		for name, want := range map[string]*kerr.Error{
			"twice":                 kerr.InvalidRequest,
			"manual":                nil,
			"manual-rf-set":         kerr.InvalidRequest,
			"manual-gap":            kerr.InvalidReplicaAssignment,
			"manual-unknown-broker": kerr.InvalidReplicaAssignment,
			"manual-twice":          kerr.InvalidReplicaAssignment,
			"manual-mixed-rf":       kerr.InvalidReplicaAssignment,
		} {
			rt := got[name]
			wantErr(t, "create "+name, code(rt.ErrorCode), msgOf(rt.ErrorMessage), want)
		}
		d := k.describeTopic("manual")
		if len(d.Partitions) != 2 || !slices.Equal(d.Partitions[0].Replicas, []int{3, 1}) || d.Partitions[0].Leader != 3 ||
			!slices.Equal(d.Partitions[1].Replicas, []int{2, 3}) || d.Partitions[1].Leader != 2 {
			t.Fatalf("manual assignment: %+v", d.Partitions)
		}
		if slices.Contains(k.topicNames(), "twice") {
			t.Fatal("a name given twice was created")
		}
	})

	t.Run("list", func(t *testing.T) {
		ts, err := adm.ListTopics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ts.Names(), k.topicNames()) {
			t.Fatalf("kadm lists %v, mk %v", ts.Names(), k.topicNames())
		}
		if d := ts["orders"]; len(d.Partitions) != 3 || d.Partitions.NumReplicas() != 2 {
			t.Fatalf("orders listed as %+v", d)
		}
	})

	t.Run("create partitions", func(t *testing.T) {
		rs, err := adm.CreatePartitions(ctx, 2, "orders")
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, "add 2 to orders", rs["orders"].Err, rs["orders"].ErrMessage, nil)
		d := k.describeTopic("orders")
		if d.PartitionCount != 5 {
			t.Fatalf("orders has %d partitions, want 5", d.PartitionCount)
		}
		for _, p := range d.Partitions {
			if len(p.Replicas) != 2 || p.LogEndOffset != 0 {
				t.Fatalf("partition %+v after CreatePartitions", p)
			}
		}
		rs, _ = adm.ValidateCreatePartitions(ctx, 3, "orders")
		wantErr(t, "validate 3 more", rs["orders"].Err, rs["orders"].ErrMessage, nil)
		if k.describeTopic("orders").PartitionCount != 5 {
			t.Fatal("validate-only added partitions")
		}
		for _, tc := range []struct {
			what  string
			set   int
			topic string
			want  *kerr.Error
		}{
			{"decrease", 2, "orders", kerr.InvalidPartitions},
			{"same count", 5, "orders", kerr.InvalidPartitions},
			{"unknown topic", 4, "nosuch", kerr.UnknownTopicOrPartition},
			{"two billion", 2_000_000_000, "orders", kerr.InvalidPartitions},
		} {
			rs, err := adm.UpdatePartitions(ctx, tc.set, tc.topic)
			if err != nil {
				t.Fatal(err)
			}
			wantErr(t, tc.what, rs[tc.topic].Err, rs[tc.topic].ErrMessage, tc.want)
		}
		// Manual assignments of the new partitions.
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.TimeoutMillis = 10000
		add := func(topic string, count int32, assign ...[]int32) {
			rt := kmsg.NewCreatePartitionsRequestTopic()
			rt.Topic, rt.Count = topic, count
			for _, a := range assign {
				ra := kmsg.NewCreatePartitionsRequestTopicAssignment()
				ra.Replicas = a
				rt.Assignment = append(rt.Assignment, ra)
			}
			req.Topics = append(req.Topics, rt)
		}
		add("orders", 6, []int32{3, 2})
		add("manual", 4, []int32{1, 2}) // two to add, one assignment
		add("defaults", 2, []int32{1, 2})
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]*kerr.Error{"orders": nil, "manual": kerr.InvalidReplicaAssignment, "defaults": kerr.InvalidReplicaAssignment}
		for _, rt := range resp.Topics {
			wantErr(t, "create partitions "+rt.Topic, code(rt.ErrorCode), msgOf(rt.ErrorMessage), want[rt.Topic])
		}
		if d := k.describeTopic("orders"); d.PartitionCount != 6 || !slices.Equal(d.Partitions[5].Replicas, []int{3, 2}) {
			t.Fatalf("orders after a manual CreatePartitions: %+v", d.Partitions)
		}
	})

	t.Run("delete", func(t *testing.T) {
		d := k.describeTopic("orders")
		rs, err := adm.DeleteTopics(ctx, "orders", "nosuch", "bad name!")
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, "delete orders", rs["orders"].Err, rs["orders"].ErrMessage, nil)
		wantErr(t, "delete nosuch", rs["nosuch"].Err, rs["nosuch"].ErrMessage, kerr.UnknownTopicOrPartition)
		wantErr(t, "delete an invalid name", rs["bad name!"].Err, rs["bad name!"].ErrMessage, kerr.UnknownTopicOrPartition)
		if slices.Contains(k.topicNames(), "orders") {
			t.Fatal("orders still listed by mk")
		}
		for _, p := range d.Partitions {
			for _, b := range p.Replicas {
				if _, err := os.Stat(filepath.Join(k.dir, "brokers", strconv.Itoa(b), "orders-"+strconv.Itoa(p.Partition))); !os.IsNotExist(err) {
					t.Fatalf("replica of orders-%d on broker %d still there (%v)", p.Partition, b, err)
				}
			}
		}

		// v6: by topic id.
		manual := k.describeTopic("manual")
		var manualID [16]byte
		b, _ := base64.RawURLEncoding.DecodeString(manual.TopicID)
		copy(manualID[:], b)
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.TimeoutMillis = 10000
		for _, rt := range []kmsg.DeleteTopicsRequestTopic{
			{TopicID: manualID},
			{TopicID: [16]byte{1, 2, 3}},
			{Topic: kmsg.StringPtr("defaults"), TopicID: [16]byte{4}},
			{},
		} {
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Version < 6 {
			t.Fatalf("DeleteTopics v%d: topic ids need v6", resp.Version)
		}
		if len(resp.Topics) != 4 {
			t.Fatalf("%d answers to 4 topics", len(resp.Topics))
		}
		for _, rt := range resp.Topics {
			var want *kerr.Error
			switch {
			case rt.TopicID == manualID:
				if msgOf(rt.Topic) != "manual" {
					t.Fatalf("deleted by id, answered with name %q", msgOf(rt.Topic))
				}
			case rt.TopicID == [16]byte{1, 2, 3}:
				want = kerr.UnknownTopicID
			default:
				want = kerr.InvalidRequest
			}
			wantErr(t, "delete by id "+msgOf(rt.Topic), code(rt.ErrorCode), msgOf(rt.ErrorMessage), want)
		}
		names := k.topicNames()
		if slices.Contains(names, "manual") || !slices.Contains(names, "defaults") {
			t.Fatalf("after deleting by id, mk lists %v", names)
		}
	})

	t.Run("create times out", func(t *testing.T) {
		// Broker 3 stopped (SIGSTOP) is still alive for its session
		// timeout, but cannot take the partition it is given to lead:
		// the answer is REQUEST_TIMED_OUT at the request's timeout, and
		// the topic is created all the same, as Kafka answered.
		k.signal(3, syscall.SIGSTOP) // returns once it is stopped
		defer k.procs[3].Process.Signal(syscall.SIGCONT)
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 300
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "slow", -1, -1
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = 0, []int32{3}
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		req.Topics = append(req.Topics, rt)
		kr, err := cl.Broker(1).Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		st := kr.(*kmsg.CreateTopicsResponse).Topics[0]
		wantErr(t, "create slow", code(st.ErrorCode), msgOf(st.ErrorMessage), kerr.RequestTimedOut)
		if !slices.Contains(k.topicNames(), "slow") {
			t.Fatal("a create that timed out waiting for its leader did not create the topic")
		}
	})
}

// controller is the active controller's id, from mk describe cluster.
func (k *kafkaCluster) controller() int32 {
	k.t.Helper()
	var v struct{ Controller int32 }
	if err := json.Unmarshal([]byte(k.mk("describe", "cluster", "-o", "json")), &v); err != nil {
		k.t.Fatal(err)
	}
	return v.Controller
}

// TestKafkaAdminConfigs: DescribeConfigs with sources, synonyms and
// defaults checked against mk's view; IncrementalAlterConfigs and the
// legacy AlterConfigs, with mk topic describe showing the result; every
// error path.
func TestKafkaAdminConfigs(t *testing.T) {
	k := startKafkaCluster(t, 2)
	ctx := testContext(t)
	cl := k.client()
	adm := kadm.NewClient(cl)
	k.mk("topic", "create", "logs", "--partitions", "2", "--config", "retention.ms=60000", "--config", "segment.bytes=1048576")

	// describe returns logs' configs as kadm sees them, by name.
	describe := func() map[string]kadm.Config {
		t.Helper()
		rcs, err := adm.DescribeTopicConfigs(ctx, "logs")
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On("logs", nil)
		if err != nil || rc.Err != nil {
			t.Fatalf("describe logs: %v %v %s", err, rc.Err, rc.ErrMessage)
		}
		out := map[string]kadm.Config{}
		for _, c := range rc.Configs {
			out[c.Key] = c
		}
		return out
	}
	// overridden lists the DYNAMIC_TOPIC_CONFIG entries, which must be
	// exactly what mk topic describe shows.
	checkAgainstMk := func(configs map[string]kadm.Config) {
		t.Helper()
		over := map[string]string{}
		for key, c := range configs {
			if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
				over[key] = c.MaybeValue()
			} else if c.Source != kmsg.ConfigSourceDefaultConfig {
				t.Fatalf("%s has source %v", key, c.Source)
			}
		}
		if mk := k.describeTopic("logs").Config; !maps.Equal(over, mk) {
			t.Fatalf("DescribeConfigs overrides %v, mk topic describe %v", over, mk)
		}
	}

	t.Run("describe topic", func(t *testing.T) {
		configs := describe()
		checkAgainstMk(configs)
		// Kafka's defaults, where no override is set.
		for key, def := range map[string]string{
			"cleanup.policy":                 "delete",
			"max.message.bytes":              "1048588",
			"min.insync.replicas":            "1",
			"unclean.leader.election.enable": "false",
			"message.timestamp.type":         "CreateTime",
			"retention.bytes":                "-1",
		} {
			c, ok := configs[key]
			if !ok || c.MaybeValue() != def || c.Source != kmsg.ConfigSourceDefaultConfig {
				t.Fatalf("%s: %+v, want default %s", key, c, def)
			}
			if len(c.Synonyms) != 1 || c.Synonyms[0].Source != kmsg.ConfigSourceDefaultConfig || *c.Synonyms[0].Value != def {
				t.Fatalf("%s synonyms %+v", key, c.Synonyms)
			}
		}
		ret := configs["retention.ms"]
		if ret.MaybeValue() != "60000" || len(ret.Synonyms) != 2 ||
			ret.Synonyms[0].Key != "retention.ms" || ret.Synonyms[0].Source != kmsg.ConfigSourceDynamicTopicConfig ||
			ret.Synonyms[1].Key != "log.retention.ms" || *ret.Synonyms[1].Value != "604800000" || ret.Synonyms[1].Source != kmsg.ConfigSourceDefaultConfig {
			t.Fatalf("retention.ms %+v", ret)
		}

		// v3+: types and documentation; only the names asked for.
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.IncludeDocumentation = true
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeTopic, "logs", []string{"segment.bytes", "cleanup.policy", "no.such.config"}
		req.Resources = append(req.Resources, rr)
		for _, name := range []string{"nosuch", "bad name!"} {
			rr := kmsg.NewDescribeConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, name
			req.Resources = append(req.Resources, rr)
		}
		// To one broker, so that kgo does not split the request.
		kr, err := cl.Broker(1).Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		resp := kr.(*kmsg.DescribeConfigsResponse)
		if len(resp.Resources) != 3 {
			t.Fatalf("%d resources answered", len(resp.Resources))
		}
		got := resp.Resources[0].Configs
		if len(got) != 2 || got[0].Name != "cleanup.policy" || got[0].ConfigType != kmsg.ConfigTypeList || got[1].ConfigType != kmsg.ConfigTypeInt ||
			msgOf(got[0].Documentation) == "" || got[1].Source != kmsg.ConfigSourceDynamicTopicConfig || got[0].Source != kmsg.ConfigSourceDefaultConfig {
			t.Fatalf("asked for two configs, got %+v", got)
		}
		wantErr(t, "describe nosuch", code(resp.Resources[1].ErrorCode), msgOf(resp.Resources[1].ErrorMessage), kerr.UnknownTopicOrPartition)
		wantErr(t, "describe an invalid name", code(resp.Resources[2].ErrorCode), msgOf(resp.Resources[2].ErrorMessage), kerr.InvalidTopicException)
	})

	t.Run("describe broker", func(t *testing.T) {
		rcs, err := adm.DescribeBrokerConfigs(ctx, 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"1", "2"} {
			rc, err := rcs.On(id, nil)
			if err != nil || rc.Err != nil {
				t.Fatalf("broker %s: %v %v", id, err, rc.Err)
			}
			byKey := map[string]kadm.Config{}
			for _, c := range rc.Configs {
				byKey[c.Key] = c
			}
			for key, want := range map[string]string{
				"broker.id":                       id,
				"num.partitions":                  "1",
				"auto.create.topics.enable":       "true",
				"log.segment.bytes":               "1073741824",
				"log.retention.check.interval.ms": "300000",
				"socket.request.max.bytes":        "104857600",
			} {
				if c := byKey[key]; c.MaybeValue() != want {
					v := c.MaybeValue()
					t.Errorf("broker %s: %s = %q, want %q", id, key, v, want)
				}
			}
			_, addr := k.registration(mustAtoi(t, id))
			if c := byKey["advertised.listeners"]; c.MaybeValue() != "PLAINTEXT://"+addr || c.Source != kmsg.ConfigSourceStaticBrokerConfig {
				v := c.MaybeValue()
				t.Errorf("broker %s: advertised.listeners %q, registered %s", id, v, addr)
			}
		}
		// The cluster-wide default resource lists only what cluster.json
		// changes from Kafka's defaults: nothing here.
		rcs, err = adm.DescribeBrokerConfigs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rcs) != 1 || rcs[0].Err != nil || len(rcs[0].Configs) != 0 {
			t.Fatalf("cluster-wide configs: %+v", rcs)
		}
		// Another broker's id, or no number, asked of broker 1.
		req := kmsg.NewPtrDescribeConfigsRequest()
		for _, name := range []string{"2", "one"} {
			rr := kmsg.NewDescribeConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, name
			req.Resources = append(req.Resources, rr)
		}
		kr, err := cl.Broker(1).Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, res := range kr.(*kmsg.DescribeConfigsResponse).Resources {
			wantErr(t, "broker resource "+res.ResourceName+" asked of broker 1", code(res.ErrorCode), msgOf(res.ErrorMessage), kerr.InvalidRequest)
		}
	})

	t.Run("incremental alter", func(t *testing.T) {
		alter := func(validate bool, ops ...kadm.AlterConfig) kadm.AlterConfigsResponse {
			t.Helper()
			f := adm.AlterTopicConfigs
			if validate {
				f = adm.ValidateAlterTopicConfigs
			}
			rs, err := f(ctx, ops, "logs")
			if err != nil {
				t.Fatal(err)
			}
			r, err := rs.On("logs", nil)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		r := alter(false,
			kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.bytes", Value: kadm.StringPtr("1048576")},
			kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "retention.ms"},
			kadm.AlterConfig{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("delete")},
			kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "never.set"},
		)
		wantErr(t, "set, delete, append", r.Err, r.ErrMessage, nil)
		want := map[string]string{"retention.bytes": "1048576", "segment.bytes": "1048576", "cleanup.policy": "delete"}
		if got := k.describeTopic("logs").Config; !maps.Equal(got, want) {
			t.Fatalf("mk topic describe shows %v, want %v", got, want)
		}
		checkAgainstMk(describe())

		for _, tc := range []struct {
			what string
			ops  []kadm.AlterConfig
			want *kerr.Error
		}{
			{"append to a long", []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "retention.ms", Value: kadm.StringPtr("1")}}, kerr.InvalidConfig},
			{"subtract the only policy", []kadm.AlterConfig{{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: kadm.StringPtr("delete")}}, kerr.InvalidConfig},
			{"append compact", []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")}}, kerr.InvalidConfig},
			{"unknown key", []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.forever", Value: kadm.StringPtr("1")}}, kerr.InvalidConfig},
			{"bad value, with a good one", []kadm.AlterConfig{
				{Op: kadm.SetConfig, Name: "segment.ms", Value: kadm.StringPtr("60000")},
				{Op: kadm.SetConfig, Name: "min.insync.replicas", Value: kadm.StringPtr("0")},
			}, kerr.InvalidConfig},
			{"a key twice", []kadm.AlterConfig{
				{Op: kadm.SetConfig, Name: "segment.ms", Value: kadm.StringPtr("60000")},
				{Op: kadm.DeleteConfig, Name: "segment.ms"},
			}, kerr.InvalidRequest},
		} {
			r := alter(false, tc.ops...)
			wantErr(t, tc.what, r.Err, r.ErrMessage, tc.want)
		}
		r = alter(true, kadm.AlterConfig{Op: kadm.SetConfig, Name: "segment.ms", Value: kadm.StringPtr("60000")})
		wantErr(t, "validate only", r.Err, r.ErrMessage, nil)
		if got := k.describeTopic("logs").Config; !maps.Equal(got, want) {
			t.Fatalf("failed and validate-only alters changed the configs: %v, want %v", got, want)
		}

		rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("1")}}, "nosuch")
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, "alter nosuch", rs[0].Err, rs[0].ErrMessage, kerr.UnknownTopicOrPartition)
		rs, err = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "num.partitions", Value: kadm.StringPtr("3")}}, 1)
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, "alter a broker config", rs[0].Err, rs[0].ErrMessage, kerr.InvalidRequest)

		// Raw: a resource twice, an undefined resource type, the
		// default topic resource.
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		addRes := func(typ kmsg.ConfigResourceType, name string) {
			rr := kmsg.NewIncrementalAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = typ, name
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name, c.Op, c.Value = "segment.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("60000")
			rr.Configs = append(rr.Configs, c)
			req.Resources = append(req.Resources, rr)
		}
		addRes(kmsg.ConfigResourceTypeTopic, "logs")
		addRes(kmsg.ConfigResourceTypeTopic, "logs")
		addRes(kmsg.ConfigResourceType(3), "x")
		addRes(kmsg.ConfigResourceTypeTopic, "")
		kr, err := cl.Broker(2).Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		resp := kr.(*kmsg.IncrementalAlterConfigsResponse)
		wants := []*kerr.Error{kerr.InvalidRequest, kerr.UnsupportedVersion, kerr.InvalidRequest}
		if len(resp.Resources) != len(wants) {
			t.Fatalf("%d answers: %+v", len(resp.Resources), resp.Resources)
		}
		for i, res := range resp.Resources {
			wantErr(t, "raw alter "+res.ResourceName, code(res.ErrorCode), msgOf(res.ErrorMessage), wants[i])
		}
	})

	t.Run("legacy alter", func(t *testing.T) {
		// The whole override set is replaced.
		rs, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: kadm.StringPtr("2000000")}, {Name: "min.insync.replicas", Value: kadm.StringPtr("2")}}, "logs")
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, "legacy alter", rs[0].Err, rs[0].ErrMessage, nil)
		want := map[string]string{"max.message.bytes": "2000000", "min.insync.replicas": "2"}
		if got := k.describeTopic("logs").Config; !maps.Equal(got, want) {
			t.Fatalf("mk topic describe shows %v, want %v", got, want)
		}
		checkAgainstMk(describe())
		for _, tc := range []struct {
			what  string
			alter []kadm.AlterConfig
			want  *kerr.Error
		}{
			{"bad value", []kadm.AlterConfig{{Name: "segment.bytes", Value: kadm.StringPtr("-5")}}, kerr.InvalidConfig},
			{"unknown key", []kadm.AlterConfig{{Name: "retention.forever", Value: kadm.StringPtr("1")}}, kerr.InvalidConfig},
			{"null value", []kadm.AlterConfig{{Name: "segment.bytes"}}, kerr.InvalidConfig},
		} {
			rs, err := adm.AlterTopicConfigsState(ctx, tc.alter, "logs")
			if err != nil {
				t.Fatal(err)
			}
			wantErr(t, tc.what, rs[0].Err, rs[0].ErrMessage, tc.want)
		}
		rs, _ = adm.ValidateAlterTopicConfigsState(ctx, nil, "logs")
		wantErr(t, "validate clearing", rs[0].Err, rs[0].ErrMessage, nil)
		if got := k.describeTopic("logs").Config; !maps.Equal(got, want) {
			t.Fatalf("failed and validate-only legacy alters changed the configs: %v", got)
		}
		// An empty set clears every override.
		rs, _ = adm.AlterTopicConfigsState(ctx, nil, "logs")
		wantErr(t, "clear", rs[0].Err, rs[0].ErrMessage, nil)
		if got := k.describeTopic("logs").Config; len(got) != 0 {
			t.Fatalf("after clearing, mk shows %v", got)
		}
		rs, _ = adm.AlterTopicConfigsState(ctx, nil, "nosuch")
		wantErr(t, "legacy alter nosuch", rs[0].Err, rs[0].ErrMessage, kerr.UnknownTopicOrPartition)
		rs, _ = adm.AlterBrokerConfigsState(ctx, []kadm.AlterConfig{{Name: "log.retention.ms", Value: kadm.StringPtr("1")}}, 2)
		wantErr(t, "legacy alter of a broker config", rs[0].Err, rs[0].ErrMessage, kerr.InvalidRequest)
	})
}

func mustAtoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestKafkaAdminDescribeCluster: the cluster id, controller and brokers
// with their advertised addresses, as mk describe cluster shows them; a
// killed broker is listed as fenced only when asked (v2).
func TestKafkaAdminDescribeCluster(t *testing.T) {
	k := startKafkaCluster(t, 3)
	k.mk("cluster", "wait", "--brokers", "3") // and a controller
	ctx := testContext(t)
	cl := k.client()
	var view struct {
		ClusterID  string `json:"cluster_id"`
		Controller int32  `json:"controller"`
	}
	if err := json.Unmarshal([]byte(k.mk("describe", "cluster", "-o", "json")), &view); err != nil {
		t.Fatal(err)
	}
	describe := func(fenced bool, endpointType int8) *kmsg.DescribeClusterResponse {
		t.Helper()
		req := kmsg.NewPtrDescribeClusterRequest()
		req.IncludeFencedBrokers = fenced
		req.EndpointType = endpointType
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	brokers := func(resp *kmsg.DescribeClusterResponse) map[int32]string {
		out := map[int32]string{}
		for _, b := range resp.Brokers {
			addr := b.Host + ":" + strconv.Itoa(int(b.Port))
			if b.IsFenced {
				addr += " fenced"
			}
			out[b.NodeID] = addr
		}
		return out
	}
	resp := describe(false, 1)
	if resp.ErrorCode != 0 || resp.ClusterID != view.ClusterID || resp.ControllerID != view.Controller {
		t.Fatalf("DescribeCluster: %+v; mk: %+v", resp, view)
	}
	want := map[int32]string{}
	for id := 1; id <= 3; id++ {
		_, addr := k.registration(id)
		want[int32(id)] = addr
	}
	if got := brokers(resp); !maps.Equal(got, want) {
		t.Fatalf("brokers %v, registered %v", got, want)
	}

	// A killed broker's lock is gone when its process is: it is not
	// alive from then on. A new client, whose seeds are the live ones.
	k.kill(3)
	cl = k.client()
	victim := want[3]
	delete(want, 3)
	if got := brokers(describe(false, 1)); !maps.Equal(got, want) {
		t.Fatalf("after kill: %v, want %v", got, want)
	}
	want[3] = victim + " fenced"
	if got := brokers(describe(true, 1)); !maps.Equal(got, want) {
		t.Fatalf("with fenced brokers: %v, want %v", got, want)
	}
	resp = describe(false, 2)
	wantErr(t, "controllers' endpoints", code(resp.ErrorCode), msgOf(resp.ErrorMessage), kerr.UnsupportedEndpointType)
}

// TestKafkaAdminOldVersions: the admin APIs at the versions older clients
// send (kafka-python and kafkajs speak the 0.11-2.0 ones, librdkafka 2.0
// those of 2.4-2.8), by kgo capped at each Kafka release's versions.
func TestKafkaAdminOldVersions(t *testing.T) {
	k := startKafkaCluster(t, 1)
	ctx := testContext(t)
	for _, release := range []struct {
		name string
		vs   *kversion.Versions
	}{
		{"0.11", kversion.V0_11_0()},
		{"1.0", kversion.V1_0_0()},
		{"2.0", kversion.V2_0_0()},
		{"2.4", kversion.V2_4_0()},
		{"2.8", kversion.V2_8_0()},
		{"latest", kversion.Stable()},
	} {
		t.Run(release.name, func(t *testing.T) {
			vs := release.vs
			cl := k.client(kgo.MaxVersions(vs))
			adm := kadm.NewClient(cl)
			has := func(key kmsg.Key, min int16) bool {
				v, ok := vs.LookupMaxKeyVersion(key.Int16())
				return ok && v >= min
			}
			name := "v" + strings.ReplaceAll(release.name, ".", "_")
			r, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": kadm.StringPtr("1000")}, name)
			wantErr(t, "create", err, r.ErrMessage, nil)
			if d := k.describeTopic(name); d.PartitionCount != 2 || !maps.Equal(d.Config, map[string]string{"retention.ms": "1000"}) {
				t.Fatalf("created %+v", d)
			}
			if _, err := adm.CreateTopic(ctx, 2, 1, nil, name); !errors.Is(err, kerr.TopicAlreadyExists) {
				t.Fatalf("create again: %v", err)
			}

			rcs, err := adm.DescribeTopicConfigs(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			var retention kadm.Config
			for _, c := range rcs[0].Configs {
				if c.Key == "retention.ms" {
					retention = c
				}
			}
			if retention.MaybeValue() != "1000" || has(kmsg.DescribeConfigs, 1) && retention.Source != kmsg.ConfigSourceDynamicTopicConfig {
				t.Fatalf("described retention.ms %+v", retention)
			}

			rs, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.bytes", Value: kadm.StringPtr("1048576")}}, name)
			if err != nil || rs[0].Err != nil {
				t.Fatalf("legacy alter: %v %v", err, rs)
			}
			want := map[string]string{"segment.bytes": "1048576"}
			if has(kmsg.IncrementalAlterConfigs, 0) {
				rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("2000")}}, name)
				if err != nil || rs[0].Err != nil {
					t.Fatalf("incremental alter: %v %v", err, rs)
				}
				want["retention.ms"] = "2000"
			}
			d := k.describeTopic(name)
			if !maps.Equal(d.Config, want) {
				t.Fatalf("configs %v, want %v", d.Config, want)
			}
			if has(kmsg.CreatePartitions, 0) {
				rs, err := adm.CreatePartitions(ctx, 1, name)
				if err != nil || rs[name].Err != nil {
					t.Fatalf("create partitions: %v %v", err, rs)
				}
				if d := k.describeTopic(name); d.PartitionCount != 3 {
					t.Fatalf("%d partitions after adding one", d.PartitionCount)
				}
			}
			if has(kmsg.DescribeCluster, 0) {
				k.mk("cluster", "wait", "--brokers", "1") // and a controller
				resp, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl)
				if err != nil || resp.ErrorCode != 0 || resp.ClusterID == "" || len(resp.Brokers) != 1 || resp.ControllerID != 1 {
					t.Fatalf("describe cluster: %v %+v", err, resp)
				}
			}
			if rs, err := adm.DeleteTopics(ctx, name); err != nil || rs[name].Err != nil {
				t.Fatalf("delete: %v %v", err, rs)
			}
			if slices.Contains(k.topicNames(), name) {
				t.Fatal("not deleted")
			}
		})
	}
}
