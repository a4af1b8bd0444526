package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
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
	wait := max(time.Until(deadline).Round(100*time.Millisecond), 100*time.Millisecond) // for notes
	// The leaders are asked at once, each on its own connection, so that
	// one that does not answer (stopped after the check below, or busy)
	// costs the others nothing; the command waits at most until the
	// deadline (its --timeout).
	leaders := slices.Sorted(maps.Keys(byLeader))
	resps := make([]*kmsg.DescribeProducersResponse, len(leaders))
	notes := make([]string, len(leaders))
	var wg sync.WaitGroup
	for i, leader := range leaders {
		note := func(what string) {
			notes[i] = fmt.Sprintf("%s: leader %d %s", partitionsWord(byLeader[leader]), leader, what)
		}
		b, _ := l.c.Broker(leader)
		if b.State() != "alive" {
			note("is " + b.State()) // no controller moved the leadership
			continue
		}
		if coord.ProcessStopped(b.Pid) {
			note("is stopped (SIGSTOP): not asked")
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := kmsg.NewPtrDescribeProducersRequest()
			rt := kmsg.NewDescribeProducersRequestTopic()
			rt.Topic, rt.Partitions = name, byLeader[leader]
			req.Topics = append(req.Topics, rt)
			resp := kmsg.NewPtrDescribeProducersResponse()
			err := client.Ask(l.c.SocketPath(leader), deadline, req, resp)
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				note(fmt.Sprintf("did not answer within %s", wait))
			case err != nil:
				note(fmt.Sprintf("did not answer: %v", err))
			default:
				resps[i] = resp
			}
		}()
	}
	wg.Wait()
	for i, leader := range leaders {
		if notes[i] != "" {
			v.Notes = append(v.Notes, notes[i])
			continue
		}
		for _, t := range resps[i].Topics {
			for _, p := range t.Partitions {
				v.add(leader, p.Partition, kerr.ErrorForCode(p.ErrorCode), p.ActiveProducers)
			}
		}
	}
	v.sort()
	return v, nil
}

// partitionsWord is "partition 1" or "partitions 0,2".
func partitionsWord(ps []int32) string {
	if len(ps) == 1 {
		return fmt.Sprintf("partition %d", ps[0])
	}
	return "partitions " + joinInt32(ps)
}

// Producers asks the cluster through kadm, which sends each partition to
// its leader.
func (k *Kafka) Producers(ctx context.Context, name string) (*ProducersView, error) {
	if err := coord.ValidateTopicName(name); err != nil {
		return nil, err
	}
	ctx, cancel := k.requestContext(ctx)
	defer cancel()
	tds, err := k.listTopic(ctx, name)
	if err != nil {
		return nil, err
	}
	td := detail(tds, name)
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
