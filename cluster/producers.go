package cluster

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/client"
	"mk/coord"
)

// describe producers: the producer state lives in the leaders' memory, so
// both implementations ask the leaders with Kafka's DescribeProducers —
// locally on each broker's Unix socket, remotely through kadm.

// askTimeout bounds a local leader's answer when ctx has no deadline.
const askTimeout = 10 * time.Second

// Producers asks each partition's leader, on its socket, for the
// producers it remembers. A partition without a leader, or whose leader
// does not answer, is a note.
func (l *Local) Producers(ctx context.Context, name string) (*ProducersView, error) {
	if err := coord.ValidateTopicName(name); err != nil {
		return nil, err
	}
	t, err := l.c.Topic(name)
	if err != nil {
		return nil, err
	}
	v := newProducersView(name)
	byLeader := map[int][]int32{}
	for _, p := range t.Partitions {
		if p.Leader == coord.NoLeader {
			v.Notes = append(v.Notes, fmt.Sprintf("partition %d: no leader to ask", p.Partition))
			continue
		}
		byLeader[p.Leader] = append(byLeader[p.Leader], int32(p.Partition))
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(askTimeout)
	}
	for _, leader := range slices.Sorted(maps.Keys(byLeader)) {
		req := kmsg.NewPtrDescribeProducersRequest()
		rt := kmsg.NewDescribeProducersRequestTopic()
		rt.Topic, rt.Partitions = name, byLeader[leader]
		req.Topics = append(req.Topics, rt)
		resp := kmsg.NewPtrDescribeProducersResponse()
		if err := client.Ask(l.c.SocketPath(leader), deadline, req, resp); err != nil {
			what := fmt.Sprintf("did not answer: %v", err)
			if b, _ := l.c.Broker(leader); b.State() != "alive" {
				what = "is " + b.State() // no controller moved the leadership
			}
			v.Notes = append(v.Notes, fmt.Sprintf("partitions %s: leader %d %s", joinInt32(byLeader[leader]), leader, what))
			continue
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				v.add(leader, p.Partition, kerr.ErrorForCode(p.ErrorCode), p.ActiveProducers)
			}
		}
	}
	v.sort()
	return v, nil
}

// Producers asks the cluster through kadm, which sends each partition to
// its leader.
func (k *Kafka) Producers(ctx context.Context, name string) (*ProducersView, error) {
	if err := coord.ValidateTopicName(name); err != nil {
		return nil, err
	}
	ctx, cancel := k.requestContext(ctx)
	defer cancel()
	tds, err := k.adm.ListTopicsWithInternal(ctx, name)
	if err != nil {
		return nil, k.mapErr(ctx, err)
	}
	td := detail(tds, name)
	if err := topicErr(name, td.Err); err != nil {
		return nil, err
	}
	set := kadm.TopicsSet{}
	for p := range td.Partitions {
		set.Add(name, p)
	}
	v := newProducersView(name)
	if len(set) == 0 {
		return v, nil
	}
	dps, err := k.adm.DescribeProducers(ctx, set)
	if err != nil && len(dps) == 0 {
		return nil, k.mapErr(ctx, err)
	}
	for _, p := range td.Partitions.Numbers() {
		// kadm leaves out of its answer a partition it found no leader
		// to ask (its error is in err): say so, as the local command does.
		if _, ok := dps[name].Partitions[p]; !ok {
			if l := td.Partitions[p].Leader; l >= 0 {
				v.Notes = append(v.Notes, fmt.Sprintf("partition %d: leader %d did not answer", p, l))
			} else {
				v.Notes = append(v.Notes, fmt.Sprintf("partition %d: no leader", p))
			}
		}
	}
	for _, p := range dps[name].Partitions {
		var aps []kmsg.DescribeProducersResponseTopicPartitionActiveProducer
		for _, d := range p.ActiveProducers.Sorted() {
			aps = append(aps, kmsg.DescribeProducersResponseTopicPartitionActiveProducer{ProducerID: d.ProducerID, ProducerEpoch: int32(d.ProducerEpoch),
				LastSequence: d.LastSequence, LastTimestamp: d.LastTimestamp, CoordinatorEpoch: d.CoordinatorEpoch, CurrentTxnStartOffset: d.CurrentTxnStartOffset})
		}
		v.add(int(p.Leader), p.Partition, p.Err, aps)
	}
	v.sort()
	return v, nil
}

func newProducersView(topic string) *ProducersView {
	return &ProducersView{Topic: topic, Producers: []ProducerView{}, Notes: []string{}}
}

// add records one partition's answer from its leader: its producers, or a
// note saying why there are none to show.
func (v *ProducersView) add(leader int, partition int32, err error, aps []kmsg.DescribeProducersResponseTopicPartitionActiveProducer) {
	if err != nil {
		v.Notes = append(v.Notes, fmt.Sprintf("partition %d: leader %d: %v", partition, leader, kafkaErr(err)))
		return
	}
	for _, ap := range aps {
		v.Producers = append(v.Producers, ProducerView{Partition: int(partition), Leader: leader, ProducerID: ap.ProducerID, ProducerEpoch: int(ap.ProducerEpoch),
			LastSequence: int(ap.LastSequence), LastTimestamp: ap.LastTimestamp, CoordinatorEpoch: int(ap.CoordinatorEpoch), CurrentTxnStartOffset: ap.CurrentTxnStartOffset})
	}
}

func (v *ProducersView) sort() {
	slices.SortFunc(v.Producers, func(a, b ProducerView) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.ProducerID, b.ProducerID))
	})
	slices.Sort(v.Notes)
}

func joinInt32(xs []int32) string {
	s := ""
	for i, x := range xs {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprint(x)
	}
	return s
}
