package commands

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"mk/coord"
	"mk/format"
	"mk/logdir"
)

func describeCommand() *cli.Command {
	return &cli.Command{
		Name:  "describe",
		Usage: "tables about the cluster and its topics (-o json for scripts)",
		Subcommands: []*cli.Command{
			{Name: "cluster", Usage: "brokers: state, pid, controller, partitions hosted and led, data size", ArgsUsage: " ", Flags: []cli.Flag{outputFlag()}, Action: describeCluster,
				Description: "STATE is alive, failed (holds its lock but stopped heartbeating: SIGSTOP) or dead.\nADDRESS is where the broker serves the Kafka protocol on TCP (- when it does not;\nfor a dead broker, where it did).\n\n   mk describe cluster\n   mk describe cluster -o json | jq '.brokers[] | select(.state != \"alive\")'"},
			{Name: "topic", Usage: "a topic's partitions: leader, replicas, ISR, offsets, size", ArgsUsage: "NAME", Flags: []cli.Flag{outputFlag()}, Action: describeTopic,
				Description: "LEADER is - when no replica can lead, and is followed by (dead) or (failed) when its broker is down:\nwith no controller running (every broker down), LEADER and ISR are as last recorded, and a note\nafter the table says so. Offsets are read from the leader's replica.\n\n   mk describe topic orders\n   mk describe topic orders -o json | jq '.partitions[].high_watermark'"},
			{Name: "topics", Usage: "every topic, as describe topic", ArgsUsage: " ", Flags: []cli.Flag{outputFlag()}, Action: describeTopics,
				Description: "   mk describe topics\n   mk describe topics -o json"},
			{Name: "group", Usage: "a consumer group: state, generation, and Kafka's GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID", ArgsUsage: "GROUP", Flags: describeGroupFlags(), Action: describeGroup,
				Description: describeGroupDoc},
		},
	}
}

// brokerRow is one broker in describe cluster.
type brokerRow struct {
	ID    int    `json:"id"`
	State string `json:"state"`
	Pid   int    `json:"pid"`
	Host  string `json:"host"`
	// Address is the advertised HOST:PORT of the broker's Kafka TCP
	// listener ("" when it has none); a dead broker's is where it was.
	Address    string `json:"address"`
	Controller bool   `json:"controller"`
	Partitions int    `json:"partitions"`
	Leaders    int    `json:"leaders"`
	SizeBytes  int64  `json:"size_bytes"`
}

type clusterView struct {
	ClusterID       string      `json:"cluster_id"`
	Dir             string      `json:"dir"`
	Controller      int         `json:"controller"`
	ControllerEpoch int64       `json:"controller_epoch"`
	Brokers         []brokerRow `json:"brokers"`
}

func describeCluster(cc *cli.Context) error {
	mode, c, d, err := outputAndCluster(cc)
	if err != nil {
		return err
	}
	infos, bad, err := c.BrokersReadable()
	if err != nil {
		return err
	}
	d.add(bad...)
	ctl, err := c.Controller()
	d.add(err)
	topics, bad, err := c.TopicsReadable()
	if err != nil {
		return err
	}
	d.add(bad...)
	view := clusterView{ClusterID: c.ID(), Dir: c.Dir(), Controller: -1, ControllerEpoch: ctl.Epoch, Brokers: []brokerRow{}}
	if ctl.Active {
		view.Controller = ctl.Broker
	}
	for _, b := range infos {
		row := brokerRow{ID: b.ID, State: b.State(), Host: b.Host, Address: b.Address, Controller: ctl.Active && ctl.Broker == b.ID, SizeBytes: dirSize(c.BrokerDataDir(b.ID))}
		if b.LockHeld {
			row.Pid = b.Pid
		}
		for _, t := range topics {
			for _, p := range t.Partitions {
				if slices.Contains(p.Replicas, b.ID) {
					row.Partitions++
				}
				if p.Leader == b.ID {
					row.Leaders++
				}
			}
		}
		view.Brokers = append(view.Brokers, row)
	}
	if mode == "json" {
		return cmp.Or(format.JSON(cc.App.Writer, view), d.report(cc))
	}
	var rows [][]string
	for _, b := range view.Brokers {
		pid, mark := "", ""
		if b.Pid > 0 {
			pid = strconv.Itoa(b.Pid)
		}
		if b.Controller {
			mark = "yes"
		}
		rows = append(rows, []string{strconv.Itoa(b.ID), b.State, pid, mark, strconv.Itoa(b.Partitions), strconv.Itoa(b.Leaders), format.Bytes(b.SizeBytes), b.Address})
	}
	return cmp.Or(format.Table(cc.App.Writer, []string{"BROKER", "STATE", "PID", "CONTROLLER", "PARTITIONS", "LEADERS", "SIZE", "ADDRESS"}, rows), d.report(cc))
}

// dirSize is the bytes of the regular files below dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// partitionView is one partition in describe topic.
type partitionView struct {
	Partition      int   `json:"partition"`
	Leader         int   `json:"leader"`
	LeaderEpoch    int   `json:"leader_epoch"`
	Replicas       []int `json:"replicas"`
	ISR            []int `json:"isr"`
	LogStartOffset int64 `json:"log_start_offset"`
	HighWatermark  int64 `json:"high_watermark"`
	LogEndOffset   int64 `json:"log_end_offset"`
	SizeBytes      int64 `json:"size_bytes"`
	// OfflineReplicas are the replicas whose broker is not alive (Kafka's
	// offline replicas): when the leader is one, the partition has no
	// working leader, whatever the metadata last recorded.
	OfflineReplicas []int `json:"offline_replicas"`
	// Damaged are the replicas known to lack records that may have been
	// committed; they do not lead while a replica that may hold them is
	// alive (see coord.Partition.Damaged).
	Damaged []coord.DamagedReplica `json:"damaged"`
	// LastUncleanEpoch is the leader epoch of the partition's latest
	// unclean election, 0 if none.
	LastUncleanEpoch int `json:"last_unclean_epoch"`
	leaderState      string
}

type topicView struct {
	Topic             string            `json:"topic"`
	TopicID           string            `json:"topic_id"`
	PartitionCount    int               `json:"partition_count"`
	ReplicationFactor int               `json:"replication_factor"`
	Config            map[string]string `json:"config"`
	Partitions        []partitionView   `json:"partitions"`
	// Notes say what the table cannot: that leaders and ISRs are stale
	// because no controller is running, say.
	Notes []string `json:"notes"`
}

// viewTopic reads a topic's partitions' offsets from their leaders'
// replicas (or, for a partition without a leader, from the first replica
// that has files). Offsets are -1 where no replica can be read.
func viewTopic(c *coord.Cluster, t *coord.Topic) topicView {
	v := topicView{Topic: t.Name, TopicID: t.ID, PartitionCount: len(t.Partitions), ReplicationFactor: t.ReplicationFactor(), Config: t.Config, Partitions: []partitionView{}, Notes: []string{}}
	if v.Config == nil {
		v.Config = map[string]string{}
	}
	states := map[int]string{} // broker id -> alive, failed or dead
	state := func(id int) string {
		if s, ok := states[id]; ok {
			return s
		}
		b, _ := c.Broker(id) // an unreadable registration is still judged by its lock
		states[id] = b.State()
		return states[id]
	}
	stale := false // a leader or ISR member is down
	for _, p := range t.Partitions {
		pv := partitionView{Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, Replicas: p.Replicas, ISR: p.ISR, LogStartOffset: -1, HighWatermark: -1, LogEndOffset: -1, SizeBytes: -1,
			OfflineReplicas: []int{}, Damaged: append([]coord.DamagedReplica{}, p.Damaged...), LastUncleanEpoch: p.LastUncleanEpoch}
		for _, d := range p.Damaged {
			note := fmt.Sprintf("partition %d: %s; it may not lead while a replica that may hold them is alive", p.Partition, d)
			if p.Leader == coord.NoLeader {
				note += " (with none alive, the partition has no leader until one comes back or unclean.leader.election.enable is set)"
			}
			v.Notes = append(v.Notes, note)
		}
		if p.LastUncleanEpoch > 0 && p.LastUncleanEpoch == p.LeaderEpoch {
			v.Notes = append(v.Notes, fmt.Sprintf("partition %d: broker %d was elected leader uncleanly at epoch %d: records acknowledged before may be lost", p.Partition, p.Leader, p.LeaderEpoch))
		}
		for _, b := range p.Replicas {
			if state(b) != "alive" {
				pv.OfflineReplicas = append(pv.OfflineReplicas, b)
				stale = stale || b == p.Leader || slices.Contains(p.ISR, b)
			}
		}
		if p.Leader != coord.NoLeader {
			pv.leaderState = state(p.Leader)
		}
		order := p.Replicas
		if p.Leader != coord.NoLeader {
			order = append([]int{p.Leader}, p.Replicas...)
		}
		for _, b := range order {
			dir := c.PartitionDir(b, t.Name, p.Partition)
			rd, err := logdir.OpenReader(dir)
			if err != nil {
				continue
			}
			st, err := rd.State()
			rd.Close()
			if err != nil {
				continue
			}
			pv.LogStartOffset, pv.HighWatermark, pv.LogEndOffset = st.LogStartOffset, st.HighWatermark, st.LogEndOffset
			pv.SizeBytes = segmentBytes(dir)
			break
		}
		v.Partitions = append(v.Partitions, pv)
	}
	if ctl, _ := c.Controller(); stale && !ctl.Active {
		var down []string
		for id, s := range states {
			if s != "alive" {
				down = append(down, fmt.Sprintf("broker %d is %s", id, s))
			}
		}
		slices.Sort(down)
		v.Notes = append(v.Notes, fmt.Sprintf("no controller is running, so LEADER and ISR are as last recorded, not current: %s", strings.Join(down, ", ")))
	}
	return v
}

// segmentBytes is the size of a replica's .log files.
func segmentBytes(dir string) int64 {
	ents, _ := os.ReadDir(dir)
	var n int64
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".log") {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
	}
	return n
}

func ints(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

func printTopicView(cc *cli.Context, v topicView, t *coord.Topic) error {
	w := cc.App.Writer
	if err := format.KeyValues(w, [][2]string{
		{"Topic", v.Topic},
		{"TopicId", v.TopicID},
		{"Partitions", strconv.Itoa(v.PartitionCount)},
		{"ReplicationFactor", strconv.Itoa(v.ReplicationFactor)},
		{"Configs", configSummary(t)},
	}); err != nil {
		return err
	}
	fmt.Fprintln(w)
	var rows [][]string
	for _, p := range v.Partitions {
		leader := format.IntOrMissing(int64(p.Leader))
		if p.leaderState != "" && p.leaderState != "alive" {
			leader += " (" + p.leaderState + ")"
		}
		size := format.Missing
		if p.SizeBytes >= 0 {
			size = format.Bytes(p.SizeBytes)
		}
		rows = append(rows, []string{strconv.Itoa(p.Partition), leader, ints(p.Replicas), ints(p.ISR),
			format.IntOrMissing(p.LogStartOffset), format.IntOrMissing(p.HighWatermark), format.IntOrMissing(p.LogEndOffset), size})
	}
	if err := format.Table(w, []string{"PARTITION", "LEADER", "REPLICAS", "ISR", "LOG-START-OFFSET", "HIGH-WATERMARK", "LOG-END-OFFSET", "SIZE"}, rows); err != nil {
		return err
	}
	if len(v.Notes) > 0 {
		fmt.Fprintln(w)
	}
	for _, n := range v.Notes {
		fmt.Fprintln(w, "Note: "+n)
	}
	return nil
}

func describeTopic(cc *cli.Context) error {
	name, err := oneArg(cc, "topic name")
	if err != nil {
		return err
	}
	mode, c, d, err := outputAndCluster(cc)
	if err != nil {
		return err
	}
	if err := coord.ValidateTopicName(name); err != nil {
		return err
	}
	t, err := c.Topic(name)
	if err != nil {
		return err
	}
	v := viewTopic(c, t)
	if mode == "json" {
		return cmp.Or(format.JSON(cc.App.Writer, v), d.report(cc))
	}
	return cmp.Or(printTopicView(cc, v, t), d.report(cc))
}

func describeTopics(cc *cli.Context) error {
	mode, c, d, err := outputAndCluster(cc)
	if err != nil {
		return err
	}
	ts, bad, err := c.TopicsReadable()
	if err != nil {
		return err
	}
	d.add(bad...)
	views := []topicView{}
	for _, t := range ts {
		views = append(views, viewTopic(c, t))
	}
	if mode == "json" {
		return cmp.Or(format.JSON(cc.App.Writer, views), d.report(cc))
	}
	for i, v := range views {
		if i > 0 {
			fmt.Fprintln(cc.App.Writer)
		}
		if err := printTopicView(cc, v, ts[i]); err != nil {
			return err
		}
	}
	return d.report(cc)
}
