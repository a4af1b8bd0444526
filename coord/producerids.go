package coord

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Producer ids, as Kafka's ProducerIdManager hands them out: the cluster
// keeps the next free id in meta/producer-ids.json, and a broker claims a
// block of ProducerIDBlockSize ids at a time under meta/lock, then gives
// them to InitProducerId requests one by one from memory. The file only
// grows, and is replaced atomically after the claim, so an id is never given
// twice, across brokers, restarts and crashes; the ids of a block whose
// broker died before using them all are skipped, as in Kafka.
//
//	{"next_producer_id": 3000, "block_size": 1000, "last_claimed_by": 2,
//	 "claimed_at": "2024-05-01T10:00:00Z"}

// ProducerIDBlockSize is Kafka's ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE.
const ProducerIDBlockSize = 1000

// producerIDsFile is meta/producer-ids.json.
type producerIDsFile struct {
	NextProducerID int64  `json:"next_producer_id"`
	BlockSize      int64  `json:"block_size"`
	LastClaimedBy  int    `json:"last_claimed_by"`
	ClaimedAt      string `json:"claimed_at"` // RFC 3339
}

// ErrProducerIDsExhausted: every 64-bit producer id was given out.
var ErrProducerIDsExhausted = errors.New("producer ids exhausted")

func (c *Cluster) producerIDsPath() string { return filepath.Join(c.metaDir(), "producer-ids.json") }

// ClaimProducerIDBlock claims the next block of producer ids for broker
// and returns its first id; the block is [first, first+ProducerIDBlockSize).
// A damaged producer-ids.json is reported (ErrCorruptMetadata), never
// rewritten: starting again from 0 would give ids twice.
func (c *Cluster) ClaimProducerIDBlock(broker int) (int64, error) {
	var first int64
	err := c.withMetaLock(func() error {
		var f producerIDsFile
		err := readJSON(c.producerIDsPath(), &f)
		switch {
		case errors.Is(err, os.ErrNotExist):
			f = producerIDsFile{}
		case err != nil:
			return err
		case f.NextProducerID < 0:
			return corruptError(c.producerIDsPath(), fmt.Errorf("negative next_producer_id %d", f.NextProducerID))
		}
		if f.NextProducerID > math.MaxInt64-ProducerIDBlockSize {
			return fmt.Errorf("%w: the next block would pass %d", ErrProducerIDsExhausted, int64(math.MaxInt64))
		}
		first = f.NextProducerID
		f.NextProducerID += ProducerIDBlockSize
		f.BlockSize, f.LastClaimedBy = ProducerIDBlockSize, broker
		f.ClaimedAt = time.Now().UTC().Format(time.RFC3339)
		return writeJSON(c.producerIDsPath(), f)
	})
	return first, err
}

// ProducerIDs gives one broker's producer ids from the blocks it claims.
// Safe for concurrent use.
type ProducerIDs struct {
	c      *Cluster
	broker int

	mu        sync.Mutex
	next, end int64 // the claimed ids not yet given: [next, end)
}

// NewProducerIDs returns broker's producer id source. It claims its first
// block at the first Next.
func NewProducerIDs(c *Cluster, broker int) *ProducerIDs {
	return &ProducerIDs{c: c, broker: broker}
}

// Next returns a producer id no one was given before.
func (p *ProducerIDs) Next() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next >= p.end {
		first, err := p.c.ClaimProducerIDBlock(p.broker)
		if err != nil {
			return -1, err
		}
		p.next, p.end = first, first+ProducerIDBlockSize
	}
	id := p.next
	p.next++
	return id, nil
}
