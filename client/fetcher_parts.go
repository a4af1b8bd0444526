package client

// Changing a running Fetcher's partitions, for group consumers. These are
// called from ConsumerOptions.Hook, on the fetching goroutine.

// AddPartition starts consuming a partition at start.
func (f *Fetcher) AddPartition(a Assignment) {
	f.parts = append(f.parts, &fetchPart{a: a, next: -1, leader: -1})
}

// RemovePartition stops consuming a partition and returns its next offset
// (-1 if it never started).
func (f *Fetcher) RemovePartition(topic string, partition int32) int64 {
	for i, p := range f.parts {
		if p.a.Topic == topic && p.a.Partition == partition {
			if p.rd != nil {
				p.rd.Close()
			}
			f.parts = append(f.parts[:i], f.parts[i+1:]...)
			return p.next
		}
	}
	return -1
}

// Position is where a partition's consumption stands.
type Position struct {
	Topic     string
	Partition int32
	Next      int64 // next offset to hand out; -1 if not started
	CaughtUp  bool  // Next has reached the high watermark last read
}

// PartitionPositions lists the partitions being consumed.
func (f *Fetcher) PartitionPositions() []Position {
	out := make([]Position, 0, len(f.parts))
	for _, p := range f.parts {
		out = append(out, Position{p.a.Topic, p.a.Partition, p.next, p.rd != nil && p.next >= 0 && p.next >= p.hw})
	}
	return out
}
