package cluster

import (
	"context"
	"errors"

	"mk/client"
	"mk/coord"
	"mk/logdir"
)

// NewProducer opens topic for producing through package client, creating
// it with the cluster's defaults when it is unknown and may be created.
func (l *Local) NewProducer(ctx context.Context, topic string, opts ProducerOptions) (Producer, error) {
	if _, err := l.c.RequireLiveBroker(); err != nil {
		return nil, err
	}
	if err := coord.ValidateTopicName(topic); err != nil {
		return nil, err
	}
	copts := client.ProducerOptions{Acks: opts.Acks, BatchBytes: opts.BatchBytes, Timeout: opts.Timeout, AutoCreate: opts.AutoCreate, OnAck: opts.OnAck, Warnf: opts.Warnf,
		Idempotent: opts.Idempotent, OnRecord: opts.OnRecord}
	if opts.OnCreate != nil {
		copts.OnCreate = func(t *coord.Topic) { opts.OnCreate(t.Name, len(t.Partitions), t.ReplicationFactor()) }
	}
	p, err := client.NewProducerContext(ctx, l.c, topic, copts)
	if err != nil {
		return nil, err
	}
	return localProducer{p}, nil
}

type localProducer struct{ p *client.Producer }

// Idle sends what is batched at once; the acknowledgements are taken as
// they come while ProduceLines waits for input (Wake, Poll).
func (p localProducer) Idle() error {
	p.p.SendNow()
	return p.p.Err()
}
func (p localProducer) Wake() <-chan struct{} { return p.p.Wake() }
func (p localProducer) Poll() error {
	p.p.Poll()
	return p.p.Err()
}

func (p localProducer) Partitions() int { return len(p.p.Topic().Partitions) }
func (p localProducer) MaxMessageBytes() int64 {
	return p.p.Topic().Int64Config(coord.ConfigMaxMessageBytes)
}
func (p localProducer) Send(partition int32, ts int64, key, value []byte, hs []logdir.Header) error {
	return p.p.Send(partition, ts, key, value, hs)
}
func (p localProducer) Flush() error  { return p.p.Flush() }
func (p localProducer) Close() error  { return p.p.Close() }
func (p localProducer) Acked() int64  { return p.p.Acked }
func (p localProducer) Failed() int64 { return p.p.Failed }

// assignments lists the partitions of spec's topics, all starting at its
// start.
func (l *Local) assignments(spec ConsumeSpec) ([]client.Assignment, error) {
	if spec.Partition >= 0 && len(spec.Topics) > 1 {
		return nil, errors.New("--partition needs exactly one topic")
	}
	var as []client.Assignment
	for _, name := range spec.Topics {
		if err := coord.ValidateTopicName(name); err != nil {
			return nil, err
		}
		t, err := l.c.Topic(name)
		if err != nil {
			return nil, err
		}
		if spec.Partition >= len(t.Partitions) {
			return nil, client.PartitionRangeError(name, spec.Partition, len(t.Partitions))
		}
		for _, p := range t.Partitions {
			if spec.Partition < 0 || p.Partition == spec.Partition {
				as = append(as, client.Assignment{Topic: name, Partition: int32(p.Partition), Start: spec.Start})
			}
		}
	}
	return as, nil
}

// Consume reads the replicas' segments directly (package client's
// Fetcher), below each partition's high watermark.
func (l *Local) Consume(ctx context.Context, spec ConsumeSpec, h client.Handler) error {
	as, err := l.assignments(spec)
	if err != nil {
		return err
	}
	var whole []string // a topic consumed whole follows its new partitions
	if spec.Partition < 0 {
		whole = spec.Topics
	}
	f := client.NewFetcher(l.c, as, client.ConsumerOptions{
		Follow:        spec.Follow,
		Subscribed:    whole,
		ResetEarliest: spec.ResetEarliest,
		Warnf:         spec.Warnf,
		Idle:          spec.Idle,
	})
	defer f.Close()
	return f.Run(ctx, h)
}

// ConsumeGroup is a member of one of mk's own groups (coordinated by
// locks in the metadata directory).
func (l *Local) ConsumeGroup(ctx context.Context, topics []string, opts client.GroupOptions, h client.Handler) error {
	for _, t := range topics {
		if err := coord.ValidateTopicName(t); err != nil {
			return err
		}
		if _, err := l.c.Topic(t); err != nil {
			return err
		}
	}
	g, err := client.JoinGroup(l.c, topics, opts)
	if err != nil {
		return err
	}
	return g.Run(ctx, h)
}
