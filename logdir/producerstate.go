package logdir

import (
	"fmt"
	"math"
	"slices"
)

// Idempotent producers' state, as Kafka's ProducerStateManager keeps it
// (ProducerStateEntry, ProducerAppendInfo): for each producer id, its epoch
// and the sequence ranges and offsets of its last five batches. It is
// derived from the log (the batch headers carry producer id, epoch and base
// sequence) and lives beside it: in memory in the Log that appends, in
// <offset>.snapshot files on disk (producersnapshot.go).
//
// A leader checks every batch of an idempotent producer under the
// partition lock, in the same critical section that assigns its offsets,
// so a retry racing its original cannot both be appended:
//
//   - a batch of the current epoch whose sequence range is one of the last
//     five batches' is a duplicate: nothing is appended and the original's
//     offsets are the answer;
//   - an epoch older than the producer's is ErrInvalidProducerEpoch
//     (INVALID_PRODUCER_EPOCH: Kafka 2.7+ answers this, not PRODUCER_FENCED,
//     to produce requests);
//   - a new epoch must start at sequence 0, and within an epoch each batch
//     must continue the last one's sequence: anything else is
//     ErrOutOfOrderSequence (OUT_OF_ORDER_SEQUENCE_NUMBER);
//   - a producer id the partition has no state for (never seen, expired, or
//     its batches removed by retention) is accepted at any sequence, as
//     Kafka has done since 2.5 (KIP-360): UNKNOWN_PRODUCER_ID is never the
//     answer to a produce request.
//
// A follower copying its leader's batches applies them without checking
// (the leader did), so that after a failover the new leader knows what the
// old one appended and answers a retry of it as a duplicate.

// ProducerBatchesKept is how many of a producer's latest batches are kept
// for duplicate detection: Kafka's NUM_BATCHES_TO_RETAIN, which is why a
// Kafka producer has at most five requests in flight per partition
// (max.in.flight.requests.per.connection <= 5 with idempotence).
const ProducerBatchesKept = 5

// DefaultProducerIDExpirationMs is Kafka's producer.id.expiration.ms: a
// producer that has not written to a partition for a day is forgotten there.
const DefaultProducerIDExpirationMs = 24 * 60 * 60 * 1000

// ProducerBatch is one appended batch of an idempotent producer (Kafka's
// BatchMetadata).
type ProducerBatch struct {
	LastSequence int32
	LastOffset   int64
	OffsetDelta  int32 // LastOffset - FirstOffset, also LastSequence - FirstSequence
	Timestamp    int64 // the batch's max timestamp
}

// FirstSequence is the batch's base sequence.
func (b ProducerBatch) FirstSequence() int32 { return decrementSequence(b.LastSequence, b.OffsetDelta) }

// FirstOffset is the offset of the batch's first record.
func (b ProducerBatch) FirstOffset() int64 { return b.LastOffset - int64(b.OffsetDelta) }

// ProducerEntry is the state of one producer id in one partition.
type ProducerEntry struct {
	Epoch int16 // -1 (NO_PRODUCER_EPOCH): none known
	// Batches holds the latest batches of Epoch, oldest first, at most
	// ProducerBatchesKept. An epoch change empties it.
	Batches       []ProducerBatch
	LastTimestamp int64 // the newest batch's timestamp, for expiry
}

// LastSequence is the sequence of the producer's last record, -1 if none.
func (e ProducerEntry) LastSequence() int32 {
	if len(e.Batches) == 0 {
		return noSequence
	}
	return e.Batches[len(e.Batches)-1].LastSequence
}

// setEpoch moves the entry to epoch, forgetting the batches of another
// (Kafka's maybeUpdateProducerEpoch).
func (e *ProducerEntry) setEpoch(epoch int16) {
	if e.Epoch != epoch {
		e.Batches = e.Batches[:0]
		e.Epoch = epoch
	}
}

// addBatch records an appended batch, dropping the oldest beyond the kept
// five.
func (e *ProducerEntry) addBatch(epoch int16, b ProducerBatch) {
	e.setEpoch(epoch)
	if len(e.Batches) == ProducerBatchesKept {
		copy(e.Batches, e.Batches[1:])
		e.Batches = e.Batches[:ProducerBatchesKept-1]
	}
	e.Batches = append(e.Batches, b)
	e.LastTimestamp = b.Timestamp
}

// duplicate returns the kept batch with exactly the sequence range of a
// batch of epoch, if any (Kafka's findDuplicateBatch).
func (e *ProducerEntry) duplicate(epoch int16, firstSeq, lastSeq int32) (ProducerBatch, bool) {
	if epoch != e.Epoch {
		return ProducerBatch{}, false
	}
	for _, b := range e.Batches {
		if b.FirstSequence() == firstSeq && b.LastSequence == lastSeq {
			return b, true
		}
	}
	return ProducerBatch{}, false
}

func (e *ProducerEntry) clone() ProducerEntry {
	c := *e
	c.Batches = slices.Clone(e.Batches)
	return c
}

// producerState is the state of every producer of one partition, and the
// offset of the log it reflects.
type producerState struct {
	producers map[int64]*ProducerEntry
	// mapEnd: the state reflects every batch below this offset (Kafka's
	// lastMapOffset). An append checks it against the log end offset under
	// the lock and catches up from the log when they differ.
	mapEnd int64
	// lastSnap: the offset of the newest snapshot file written or loaded,
	// or where the state started (the log start: an empty log needs no
	// snapshot), so an unchanged state is not written again.
	lastSnap int64
	// loadedFrom: the offset of the snapshot the state was loaded from
	// (-1: none, it was replayed from the log start).
	loadedFrom int64
	// replayed counts the batch headers read by the last load's replay.
	replayed int

	// Reused between appends: the batches of the append in progress.
	pending []producerUpdate
	work    []ProducerEntry // what the append's batches make of their producers
	workIDs []int64
}

func newProducerState(at int64) *producerState {
	return &producerState{producers: map[int64]*ProducerEntry{}, mapEnd: at, lastSnap: at, loadedFrom: -1}
}

// producerUpdate is one batch of an append that changes a producer's
// state once it is written. batch is its index in the append.
type producerUpdate struct {
	batch   int
	id      int64
	epoch   int16
	control bool
	meta    ProducerBatch
}

// apply records a batch in the state: an appended data batch joins the
// producer's kept batches; a control batch (a transaction marker, which
// mk never writes but may find in a log) only moves the epoch.
func (ps *producerState) apply(u *producerUpdate) {
	e := ps.producers[u.id]
	if e == nil {
		e = &ProducerEntry{Epoch: noProducerEpoch, LastTimestamp: noTimestamp}
		ps.producers[u.id] = e
	}
	if u.control {
		e.setEpoch(u.epoch)
		e.LastTimestamp = u.meta.Timestamp
		return
	}
	e.addBatch(u.epoch, u.meta)
}

// updateOf describes batch h, whose first offset is base, as a state
// change.
func updateOf(i int, h *BatchHeader, base int64) producerUpdate {
	delta := h.LastOffsetDelta
	return producerUpdate{
		batch:   i,
		id:      h.ProducerID,
		epoch:   h.ProducerEpoch,
		control: h.IsControl(),
		meta: ProducerBatch{
			LastSequence: incrementSequence(h.BaseSequence, delta),
			LastOffset:   base + int64(delta),
			OffsetDelta:  delta,
			Timestamp:    h.MaxTimestamp,
		},
	}
}

// duplicateOf reports whether the batch h of a client is a retry of one of
// its producer's kept batches.
func (ps *producerState) duplicateOf(h *BatchHeader) (ProducerBatch, bool) {
	e := ps.producers[h.ProducerID]
	if e == nil {
		return ProducerBatch{}, false
	}
	return e.duplicate(h.ProducerEpoch, h.BaseSequence, incrementSequence(h.BaseSequence, h.LastOffsetDelta))
}

// resetWork starts checking a new append.
func (ps *producerState) resetWork() {
	ps.pending = ps.pending[:0]
	ps.work = ps.work[:0]
	ps.workIDs = ps.workIDs[:0]
}

// working returns what the append in progress has made of producer id so
// far: Kafka's updatedEntry, which starts as the current entry's epoch
// without its batches.
func (ps *producerState) working(id int64) *ProducerEntry {
	for i, w := range ps.workIDs {
		if w == id {
			return &ps.work[i]
		}
	}
	n := len(ps.work)
	if n < cap(ps.work) {
		ps.work = ps.work[:n+1] // reuse the slot's batch slice
	} else {
		ps.work = append(ps.work, ProducerEntry{})
	}
	w := &ps.work[n]
	w.Epoch, w.Batches, w.LastTimestamp = noProducerEpoch, w.Batches[:0], noTimestamp
	if cur := ps.producers[id]; cur != nil {
		w.Epoch, w.LastTimestamp = cur.Epoch, cur.LastTimestamp
	}
	ps.workIDs = append(ps.workIDs, id)
	return w
}

// check validates a client's batch u (batch header h) against the
// producer's state and the batches before it in the same append, as
// Kafka's ProducerAppendInfo does for a client append, and records it in
// the append's working state.
func (ps *producerState) check(dir string, h *BatchHeader, u *producerUpdate) error {
	if h.IsTransactional() || h.IsControl() {
		// Kafka accepts transactional batches only inside a transaction
		// the coordinator verified; mk has no transaction coordinator.
		return fmt.Errorf("%w: record was not part of an ongoing transaction (producer %d, partition %s): mk does not support transactions", ErrInvalidTxnState, u.id, dir)
	}
	cur := ps.producers[u.id]
	upd := ps.working(u.id)
	if u.epoch < upd.Epoch {
		return fmt.Errorf("%w: epoch of producer %d at offset %d in partition %s is %d, which is smaller than the last seen epoch %d",
			ErrInvalidProducerEpoch, u.id, u.meta.FirstOffset(), dir, u.epoch, upd.Epoch)
	}
	firstSeq := h.BaseSequence
	if u.epoch != upd.Epoch {
		if firstSeq != 0 && upd.Epoch != noProducerEpoch {
			return fmt.Errorf("%w: invalid sequence number for new epoch of producer %d at offset %d in partition %s: %d (request epoch), %d (seq. number), %d (current producer epoch)",
				ErrOutOfOrderSequence, u.id, u.meta.FirstOffset(), dir, u.epoch, firstSeq, upd.Epoch)
		}
	} else {
		curEpoch := int16(noProducerEpoch)
		lastSeq := int32(noSequence)
		if cur != nil {
			curEpoch = cur.Epoch
		}
		switch {
		case len(upd.Batches) > 0:
			lastSeq = upd.LastSequence()
		case cur != nil && u.epoch == cur.Epoch:
			lastSeq = cur.LastSequence()
		}
		// No epoch known: the producer's records were all removed
		// (retention) or it expired; any sequence is accepted.
		if curEpoch != noProducerEpoch && !inSequence(lastSeq, firstSeq) {
			return fmt.Errorf("%w: out of order sequence number for producer %d at offset %d in partition %s: %d (incoming seq. number), %d (current end sequence number)",
				ErrOutOfOrderSequence, u.id, u.meta.FirstOffset(), dir, firstSeq, lastSeq)
		}
	}
	upd.addBatch(u.epoch, u.meta)
	return nil
}

// expire forgets the producers that have written nothing for expirationMs
// (Kafka's removeExpiredProducers), so that the state stays bounded.
func (ps *producerState) expire(nowMs, expirationMs int64) int {
	n := 0
	for id, e := range ps.producers {
		if producerExpired(e, nowMs, expirationMs) {
			delete(ps.producers, id)
			n++
		}
	}
	return n
}

func producerExpired(e *ProducerEntry, nowMs, expirationMs int64) bool {
	return nowMs-e.LastTimestamp >= expirationMs
}

// inSequence: next follows last, wrapping after the largest int32 as
// Kafka's sequences do.
func inSequence(last, next int32) bool {
	return int64(next) == int64(last)+1 || next == 0 && last == math.MaxInt32
}

// incrementSequence is Kafka's DefaultRecordBatch.incrementSequence:
// sequences wrap to 0 after the largest int32.
func incrementSequence(seq, inc int32) int32 {
	if seq > math.MaxInt32-inc {
		return inc - (math.MaxInt32 - seq) - 1
	}
	return seq + inc
}

// decrementSequence is Kafka's DefaultRecordBatch.decrementSequence.
func decrementSequence(seq, dec int32) int32 {
	if seq < dec {
		return math.MaxInt32 - (dec - seq) + 1
	}
	return seq - dec
}
