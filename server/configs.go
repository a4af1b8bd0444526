package server

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/coord"
)

// Configs as DescribeConfigs, AlterConfigs and IncrementalAlterConfigs see
// them.
//
// A topic's configs are mk's topic configs (coord's, with Kafka's names
// and defaults): an override in the topic's metadata file has the source
// DYNAMIC_TOPIC_CONFIG, every other key DEFAULT_CONFIG. mk brokers have no
// config file that overrides topic defaults, so the synonyms are the
// override, if any, then Kafka's broker config that holds the default
// (log.retention.ms for retention.ms), as DEFAULT_CONFIG.
//
// A broker's configs are what mk has: its id, data directory and
// listeners (STATIC_BROKER_CONFIG: given at start), its own settings
// (STATIC_BROKER_CONFIG when given on the command line, else
// DEFAULT_CONFIG), the cluster-wide settings of cluster.json
// (DYNAMIC_DEFAULT_BROKER_CONFIG when they differ from Kafka's defaults:
// they apply to every broker, as Kafka's cluster-wide dynamic configs do),
// and the topic defaults under their broker names. None can be changed
// over the wire: a broker takes its settings at start, so all are
// read-only, and altering one is INVALID_REQUEST as Kafka answers for a
// config that cannot be updated dynamically.

// configEntry is one config of a described resource.
type configEntry struct {
	name, value string
	source      kmsg.ConfigSource
	typ         kmsg.ConfigType
	doc         string
	readOnly    bool
	topic       bool // a topic's config (else a broker's)
	// def is the default, shown as a DEFAULT_CONFIG synonym when the
	// source is another; "" when there is none.
	def string
}

// configType maps coord's type names to the protocol's.
func configType(name string) kmsg.ConfigType {
	switch name {
	case "INT":
		return kmsg.ConfigTypeInt
	case "SHORT":
		return kmsg.ConfigTypeShort
	case "LONG":
		return kmsg.ConfigTypeLong
	case "BOOLEAN":
		return kmsg.ConfigTypeBoolean
	case "STRING":
		return kmsg.ConfigTypeString
	case "LIST":
		return kmsg.ConfigTypeList
	case "DOUBLE":
		return kmsg.ConfigTypeDouble
	}
	return kmsg.ConfigTypeUnknown
}

// topicConfigEntries lists t's configs, sorted by name.
func topicConfigEntries(t *coord.Topic) []configEntry {
	var out []configEntry
	for _, k := range coord.ConfigKeys() {
		d, _ := coord.DescribeConfigKey(k)
		e := configEntry{name: k, value: t.ConfigValue(k), source: kmsg.ConfigSourceDefaultConfig, typ: configType(d.Type), doc: d.Doc, topic: true, def: d.Default}
		if !t.ConfigIsDefault(k) {
			e.source = kmsg.ConfigSourceDynamicTopicConfig
		}
		out = append(out, e)
	}
	return out
}

// toResponse turns entries into DescribeConfigs' form, keeping only the
// names asked for (all when none are named, null or empty, as Kafka
// reads it).
func toResponse(entries []configEntry, names []string, synonyms, docs bool) []kmsg.DescribeConfigsResponseResourceConfig {
	out := []kmsg.DescribeConfigsResponseResourceConfig{}
	for _, e := range entries {
		if len(names) > 0 && !slices.Contains(names, e.name) {
			continue
		}
		rc := kmsg.NewDescribeConfigsResponseResourceConfig()
		rc.Name, rc.Value = e.name, str(e.value)
		rc.ReadOnly = e.readOnly
		rc.Source = e.source
		rc.IsDefault = e.source == kmsg.ConfigSourceDefaultConfig
		rc.ConfigType = e.typ
		if docs {
			rc.Documentation = str(e.doc)
		}
		if synonyms {
			rc.ConfigSynonyms = synonymsOf(e)
		}
		out = append(out, rc)
	}
	return out
}

// synonymsOf lists where e's value could come from, the one in effect
// first: for a topic config, its override and then the broker config that
// holds its default; for a broker config, its own value and its default.
func synonymsOf(e configEntry) []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	syn := func(name, value string, source kmsg.ConfigSource) kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
		s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
		s.Name, s.Value, s.Source = name, str(value), source
		return s
	}
	var out []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
	if e.topic {
		d, _ := coord.DescribeConfigKey(e.name)
		if e.source == kmsg.ConfigSourceDynamicTopicConfig {
			out = append(out, syn(e.name, e.value, e.source))
		}
		if d.BrokerKey == "" {
			// No broker config holds its default (Kafka's
			// CONFIGS_WITH_NO_SERVER_DEFAULTS): none is listed.
			return out
		}
		return append(out, syn(d.BrokerKey, d.Default, kmsg.ConfigSourceDefaultConfig))
	}
	out = append(out, syn(e.name, e.value, e.source))
	if e.source != kmsg.ConfigSourceDefaultConfig && e.def != "" {
		out = append(out, syn(e.name, e.def, kmsg.ConfigSourceDefaultConfig))
	}
	return out
}

// brokerConfigInfo is Kafka's type and default of each broker config mk
// has that is not a topic default, and what it does in mk.
var brokerConfigInfo = map[string]struct {
	typ      kmsg.ConfigType
	def, doc string
}{
	"broker.id":                       {kmsg.ConfigTypeInt, "-1", "The broker's id (mk broker --id)."},
	"node.id":                         {kmsg.ConfigTypeInt, "-1", "The broker's id (mk broker --id)."},
	"log.dirs":                        {kmsg.ConfigTypeString, "", "The directory that holds the broker's partition replicas: DIR/brokers/ID."},
	"listeners":                       {kmsg.ConfigTypeString, "", "The TCP address the broker serves the Kafka protocol on (mk broker --listen); it also always serves its Unix socket DIR/brokers/ID/kafka.sock."},
	"advertised.listeners":            {kmsg.ConfigTypeString, "", "The TCP address clients are told to use (mk broker --advertise, else the bound address)."},
	"socket.request.max.bytes":        {kmsg.ConfigTypeInt, strconv.Itoa(MaxRequestBytes), "The largest request the broker reads; a larger one closes its connection."},
	"log.retention.check.interval.ms": {kmsg.ConfigTypeLong, "300000", "How often the broker applies retention to its replicas (mk broker --retention-check-interval)."},
	"log.flush.offset.checkpoint.interval.ms": {kmsg.ConfigTypeInt, "60000", "How often the broker writes its replicas' checkpoints (mk broker --checkpoint-interval)."},
	"broker.session.timeout.ms":               {kmsg.ConfigTypeInt, "9000", "How old a broker's heartbeat may get before the broker counts as failed (mk broker --session-timeout)."},
	"leader.imbalance.check.interval.seconds": {kmsg.ConfigTypeLong, "300", "How often the controller gives leadership back to preferred replicas (mk broker --leader-imbalance-check-interval)."},
	"replica.lag.time.max.ms":                 {kmsg.ConfigTypeLong, "30000", "How long a follower may stay behind its leader before it leaves the ISR (mk broker --replica-lag-time-max)."},
	coord.ClusterAutoCreateTopics:             {kmsg.ConfigTypeBoolean, "true", "Whether producing to or asking Metadata for an unknown topic creates it (cluster.json, for every broker)."},
	coord.ClusterNumPartitions:                {kmsg.ConfigTypeInt, "1", "The partition count of a topic created without one (cluster.json, for every broker)."},
	coord.ClusterDefaultReplicationFactor:     {kmsg.ConfigTypeInt, "1", "The replication factor of a topic created without one (cluster.json, for every broker)."},
	coord.ClusterAutoLeaderRebalance:          {kmsg.ConfigTypeBoolean, "true", "Whether the controller gives leadership back to preferred replicas (cluster.json, for every broker)."},
}

// brokerConfigEntries lists this broker's configs, sorted by name.
func (s *Server) brokerConfigEntries() []configEntry {
	var out []configEntry
	add := func(name, value string, source kmsg.ConfigSource) {
		info := brokerConfigInfo[name]
		out = append(out, configEntry{name: name, value: value, source: source, typ: info.typ, doc: info.doc, readOnly: true, def: info.def})
	}
	id := strconv.Itoa(s.cfg.BrokerID)
	add("broker.id", id, kmsg.ConfigSourceStaticBrokerConfig)
	add("node.id", id, kmsg.ConfigSourceStaticBrokerConfig)
	add("log.dirs", s.cfg.Cluster.BrokerDataDir(s.cfg.BrokerID), kmsg.ConfigSourceStaticBrokerConfig)
	if s.cfg.Listen != "" {
		add("listeners", "PLAINTEXT://"+s.cfg.Listen, kmsg.ConfigSourceStaticBrokerConfig)
		add("advertised.listeners", "PLAINTEXT://"+s.cfg.Advertised, kmsg.ConfigSourceStaticBrokerConfig)
	}
	source := kmsg.ConfigSourceDefaultConfig
	if s.cfg.MaxRequestBytes != MaxRequestBytes {
		source = kmsg.ConfigSourceStaticBrokerConfig
	}
	add("socket.request.max.bytes", strconv.Itoa(s.cfg.MaxRequestBytes), source)
	for _, st := range s.cfg.Settings {
		source := kmsg.ConfigSourceDefaultConfig
		if st.Static {
			source = kmsg.ConfigSourceStaticBrokerConfig
		}
		add(st.Name, st.Value, source)
	}
	out = append(out, s.clusterConfigEntries(false)...)
	for _, k := range coord.ConfigKeys() {
		d, _ := coord.DescribeConfigKey(k)
		if d.BrokerKey == "" {
			continue // a topic-only config (remote.storage.enable)
		}
		out = append(out, configEntry{name: d.BrokerKey, value: d.Default, source: kmsg.ConfigSourceDefaultConfig, typ: configType(d.Type),
			doc: "The default of the topic config " + k + ": " + d.Doc, readOnly: true, def: d.Default})
	}
	slices.SortFunc(out, func(a, b configEntry) int { return strings.Compare(a.name, b.name) })
	return out
}

// clusterConfigEntries lists cluster.json's settings; dynamicOnly keeps
// those that differ from Kafka's defaults (the cluster-wide default
// resource, named "", lists only those, as Kafka's does).
func (s *Server) clusterConfigEntries(dynamicOnly bool) []configEntry {
	var out []configEntry
	for _, e := range s.cfg.Cluster.ClusterConfigEntries() {
		info := brokerConfigInfo[e.Key]
		ce := configEntry{name: e.Key, value: e.Value, source: kmsg.ConfigSourceDefaultConfig, typ: info.typ, doc: info.doc, readOnly: true, def: e.Default}
		if e.Value != e.Default {
			ce.source = kmsg.ConfigSourceDynamicDefaultBrokerConfig
		} else if dynamicOnly {
			continue
		}
		out = append(out, ce)
	}
	return out
}

// brokerResource checks a BROKER or BROKER_LOGGER resource name: "" (the
// cluster-wide default, BROKER only) or this broker's id. Other brokers'
// configs are answered by those brokers, where clients send them.
func (s *Server) brokerResource(name string, loggers bool) (clusterDefault bool, err error) {
	if name == "" {
		if loggers {
			return false, wireErrorf(kerr.InvalidRequest.Code, "Broker id must not be empty")
		}
		return true, nil
	}
	id, perr := strconv.Atoi(name)
	if perr != nil {
		return false, wireErrorf(kerr.InvalidRequest.Code, "Broker id must be an integer, but it is: %s", name)
	}
	if id != s.cfg.BrokerID {
		if loggers {
			return false, wireErrorf(kerr.InvalidRequest.Code, "Unexpected broker id, expected %d but received %s", s.cfg.BrokerID, name)
		}
		return false, wireErrorf(kerr.InvalidRequest.Code, "Unexpected broker id, expected %d or empty string, but received %s", s.cfg.BrokerID, name)
	}
	return false, nil
}

// eachResource answers each resource of an alter request (AlterConfigs,
// IncrementalAlterConfigs) in request order with alter's error, after
// Kafka's checks of the request as a whole: an undefined resource type is
// UNSUPPORTED_VERSION, a resource given twice is answered once, with
// INVALID_REQUEST, and not altered.
func eachResource[R any](rs []R, key func(R) resourceKey, alter func(R) error, answer func(R, error)) {
	seen := map[resourceKey]int{}
	for _, rr := range rs {
		seen[key(rr)]++
	}
	for _, rr := range rs {
		var err error
		switch k := key(rr); {
		case !knownResourceType(k.typ):
			err = wireErrorf(kerr.UnsupportedVersion.Code, "Unknown resource type %d.", k.typ)
		case seen[k] < 0:
			continue // answered
		case seen[k] > 1:
			seen[k] = -1
			err = wireErrorf(kerr.InvalidRequest.Code, "Duplicate resource.")
		default:
			err = alter(rr)
		}
		answer(rr, err)
	}
}

// alterResource checks the resource of an alter that sets the configs
// names: broker configs cannot change at run time, types other than
// TOPIC and BROKER cannot be altered, and a topic must exist. topic says
// the alter goes on to change a topic's configs; otherwise err is the
// resource's answer.
func (s *Server) alterResource(typ kmsg.ConfigResourceType, name string, names []string) (topic bool, err error) {
	switch typ {
	case kmsg.ConfigResourceTypeBroker:
		return false, s.alterBrokerConfigs(name, names)
	case kmsg.ConfigResourceTypeTopic:
		return true, topicResource(s.cfg.Cluster, name)
	default:
		return false, wireErrorf(kerr.InvalidRequest.Code, "Unexpected resource type %s.", resourceTypeName(typ))
	}
}

// alterTopicConfig sets topic name's overrides to what apply makes of
// them, checked whole (coord.Cluster.AlterTopicConfig), or with
// validateOnly only checks them; a change is logged with logFormat (given
// the new overrides and the client id).
func (s *Server) alterTopicConfig(r *request, name string, apply func(map[string]string) (map[string]string, error), validateOnly bool, logFormat string) error {
	t, err := s.cfg.Cluster.AlterTopicConfig(name, apply, validateOnly)
	if err != nil {
		if isUnknownOrInvalid(err) {
			return wireErrorf(kerr.UnknownTopicOrPartition.Code, "unknown topic %s", name)
		}
		return err
	}
	if !validateOnly {
		s.cfg.Logf("topic %s: "+logFormat, t.Name, overrides(t.Config), r.clientID)
	}
	return nil
}

// topicResource checks a TOPIC resource of an alter: "" is the default
// topic resource, which Kafka refuses.
func topicResource(c *coord.Cluster, name string) error {
	if name == "" {
		return wireErrorf(kerr.InvalidRequest.Code, "Default topic resources are not allowed.")
	}
	if err := coord.ValidateTopicName(name); err != nil {
		return err
	}
	if _, err := c.Topic(name); err != nil {
		if isUnknownOrInvalid(err) {
			return wireErrorf(kerr.UnknownTopicOrPartition.Code, "unknown topic %s", name)
		}
		return err
	}
	return nil
}

// alterBrokerConfigs answers an alter of broker configs: none can change
// at run time, so anything but an empty change is refused.
func (s *Server) alterBrokerConfigs(resourceName string, names []string) error {
	if name := resourceName; name != "" {
		if _, err := strconv.Atoi(name); err != nil {
			return wireErrorf(kerr.InvalidRequest.Code, "Broker id must be an integer, but it is: %s", name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	return wireErrorf(kerr.InvalidRequest.Code, "Cannot update these configs dynamically: %s (an mk broker takes its settings at start: restart it with other flags, or edit cluster.json for cluster-wide ones)", strings.Join(names, ","))
}

// resourceTypeName is how messages name a resource type.
func resourceTypeName(t kmsg.ConfigResourceType) string {
	switch t {
	case kmsg.ConfigResourceTypeTopic:
		return "TOPIC"
	case kmsg.ConfigResourceTypeBroker:
		return "BROKER"
	case kmsg.ConfigResourceTypeBrokerLogger:
		return "BROKER_LOGGER"
	case kmsg.ConfigResourceTypeClientMetrics:
		return "CLIENT_METRICS"
	case kmsg.ConfigResourceTypeGroupConfig:
		return "GROUP"
	}
	return strconv.Itoa(int(t))
}

// knownResourceType: the protocol defines the type (an undefined one is
// UNSUPPORTED_VERSION in Kafka's alter APIs).
func knownResourceType(t kmsg.ConfigResourceType) bool {
	switch t {
	case kmsg.ConfigResourceTypeTopic, kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger,
		kmsg.ConfigResourceTypeClientMetrics, kmsg.ConfigResourceTypeGroupConfig:
		return true
	}
	return false
}

// resourceKey identifies a resource in a request, to find duplicates.
type resourceKey struct {
	typ  kmsg.ConfigResourceType
	name string
}

// overrides lists config overrides as k=v,k=v in key order, for the log.
func overrides(m map[string]string) string {
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		kv = append(kv, k+"="+m[k])
	}
	return strings.Join(kv, ",")
}
