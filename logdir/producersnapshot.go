package logdir

// Producer state snapshots: <offset>.snapshot, Kafka's format
// (ProducerStateManager.writeSnapshot, snapshot version 1). The file holds
// the state of every producer after every batch below offset; its name is
// that offset, 20 digits like a segment's:
//
//	offset size field
//	     0    2 version          1
//	     2    4 crc              CRC-32C of bytes 6..end
//	     6    4 count            number of entries that follow
//	    10   46 entry            count times:
//	              8 producer_id
//	              2 epoch
//	              4 last_sequence      of the batch
//	              8 last_offset        of the batch (-1: the entry has no batch)
//	              4 offset_delta       last_offset - first offset of the batch
//	              8 timestamp          the batch's max timestamp
//	              4 coordinator_epoch  -1 (transactions only)
//	              8 current_txn_first_offset  -1 (transactions only)
//
// All big-endian. Kafka writes one entry per producer, its latest batch.
// mk writes one entry per kept batch (up to five per producer, oldest
// first), so that a broker restarted from a snapshot still detects the
// retry of any of a producer's last five batches. The file stays one that
// Kafka reads: its reader keeps the last entry of each producer id, which
// is the entry Kafka itself would have written. mk's reader gathers the
// entries of one producer id and epoch into its kept batches.
//
// When they are written: at every segment roll (named by the new
// segment's base offset, like Kafka's), at each checkpoint and at a clean
// shutdown (named by the log end offset), and after recovery rebuilt the
// state; always temp file, fsync, rename, fsync the directory, under the
// partition lock. A snapshot is a shortcut, never the only copy: the state
// is the batch headers of the log, so recovery loads the newest snapshot
// that is whole and passes its CRC (a damaged or cut one is deleted and an
// older one tried) and replays the log after it. Snapshots above the log
// end offset are deleted whenever the log is cut (truncation, recovery), so
// a snapshot always describes the log as it is below its offset; those
// below the log start offset are deleted, because the batches between them
// and the log start are gone and the state built from them could not be
// completed (the state then starts empty at the log start, as Kafka's
// does, and producers not in it are accepted at any sequence).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

const (
	snapshotSuffix = ".snapshot"
	// snapshotVersion is Kafka's PRODUCER_SNAPSHOT_VERSION.
	snapshotVersion = 1
	// snapshotHeaderSize: version (2), crc (4), entry count (4).
	snapshotHeaderSize = 10
	// snapshotCRCFrom: the CRC covers the entries array from its count on
	// (Kafka's PRODUCER_ENTRIES_OFFSET).
	snapshotCRCFrom = 6
	// snapshotEntrySize: the entry fields' sizes in the layout above.
	snapshotEntrySize = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8
)

// errBadSnapshot: a snapshot file that is cut short, damaged or of another
// version (Kafka's CorruptSnapshotException).
var errBadSnapshot = errors.New("bad producer state snapshot")

func snapshotPath(dir string, offset int64) string {
	return filepath.Join(dir, segmentName(offset)+snapshotSuffix)
}

// listSnapshots returns the offsets of the snapshot files in dir, ascending.
func listSnapshots(dir string) ([]int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var offs []int64
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, snapshotSuffix) || len(name) != 20+len(snapshotSuffix) {
			continue
		}
		off, err := strconv.ParseInt(name[:20], 10, 64)
		if err != nil {
			continue
		}
		offs = append(offs, off)
	}
	slices.Sort(offs)
	return offs, nil
}

// encodeSnapshot writes the state in the format above, producers in id
// order so that the same state always makes the same bytes.
func encodeSnapshot(producers map[int64]*ProducerEntry) []byte {
	ids := make([]int64, 0, len(producers))
	count := 0
	for id, e := range producers {
		ids = append(ids, id)
		count += max(len(e.Batches), 1)
	}
	slices.Sort(ids)
	b := make([]byte, snapshotHeaderSize, snapshotHeaderSize+count*snapshotEntrySize)
	be := binary.BigEndian
	be.PutUint16(b[0:], snapshotVersion)
	be.PutUint32(b[6:], uint32(count))
	entry := func(id int64, e *ProducerEntry, pb ProducerBatch) {
		b = be.AppendUint64(b, uint64(id))
		b = be.AppendUint16(b, uint16(e.Epoch))
		b = be.AppendUint32(b, uint32(pb.LastSequence))
		b = be.AppendUint64(b, uint64(pb.LastOffset))
		b = be.AppendUint32(b, uint32(pb.OffsetDelta))
		b = be.AppendUint64(b, uint64(pb.Timestamp))
		b = be.AppendUint32(b, 0xffffffff) // coordinator_epoch -1
		b = be.AppendUint64(b, ^uint64(0)) // current_txn_first_offset -1
	}
	for _, id := range ids {
		e := producers[id]
		if len(e.Batches) == 0 {
			// Kafka's entry without batch metadata: sequence -1, offset -1.
			entry(id, e, ProducerBatch{LastSequence: noSequence, LastOffset: -1, Timestamp: e.LastTimestamp})
			continue
		}
		for _, pb := range e.Batches {
			entry(id, e, pb)
		}
	}
	be.PutUint32(b[2:], crc32.Checksum(b[snapshotCRCFrom:], crcTable))
	return b
}

// decodeSnapshot reads a snapshot file's bytes into a state.
func decodeSnapshot(b []byte) (map[int64]*ProducerEntry, error) {
	be := binary.BigEndian
	if len(b) < snapshotHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes, shorter than its header", errBadSnapshot, len(b))
	}
	if v := int16(be.Uint16(b)); v != snapshotVersion {
		return nil, fmt.Errorf("%w: unknown file version %d", errBadSnapshot, v)
	}
	if crc, want := crc32.Checksum(b[snapshotCRCFrom:], crcTable), be.Uint32(b[2:]); crc != want {
		return nil, fmt.Errorf("%w: crc is %#08x, computed %#08x", errBadSnapshot, want, crc)
	}
	count := int64(int32(be.Uint32(b[6:])))
	if count < 0 || count*snapshotEntrySize != int64(len(b)-snapshotHeaderSize) {
		return nil, fmt.Errorf("%w: %d entries in %d bytes", errBadSnapshot, count, len(b)-snapshotHeaderSize)
	}
	producers := map[int64]*ProducerEntry{}
	for p := snapshotHeaderSize; p < len(b); p += snapshotEntrySize {
		e := b[p:]
		id := int64(be.Uint64(e[0:]))
		epoch := int16(be.Uint16(e[8:]))
		pb := ProducerBatch{
			LastSequence: int32(be.Uint32(e[10:])),
			LastOffset:   int64(be.Uint64(e[14:])),
			OffsetDelta:  int32(be.Uint32(e[22:])),
			Timestamp:    int64(be.Uint64(e[26:])),
		}
		pe := producers[id]
		if pe == nil || pe.Epoch != epoch {
			// A new producer, or (in a file another writer made) a
			// later entry for the same id: the last one wins, as in
			// Kafka's reader.
			pe = &ProducerEntry{Epoch: epoch}
			producers[id] = pe
		}
		if pb.LastOffset >= 0 {
			pe.addBatch(epoch, pb)
		}
		pe.LastTimestamp = pb.Timestamp
	}
	return producers, nil
}

// readSnapshot reads the snapshot at offset.
func readSnapshot(dir string, offset int64) (map[int64]*ProducerEntry, error) {
	b, err := os.ReadFile(snapshotPath(dir, offset))
	if err != nil {
		return nil, err
	}
	ps, err := decodeSnapshot(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, snapshotPath(dir, offset))
	}
	return ps, nil
}

// writeSnapshot writes the state as the snapshot at offset, atomically.
func writeSnapshot(dir string, offset int64, producers map[int64]*ProducerEntry) error {
	return WriteFileAtomic(snapshotPath(dir, offset), encodeSnapshot(producers), 0o644)
}

// removeSnapshots deletes the snapshots for which drop is true.
func removeSnapshots(dir string, drop func(offset int64) bool) error {
	offs, err := listSnapshots(dir)
	if err != nil {
		return err
	}
	for _, o := range offs {
		if drop(o) {
			if err := os.Remove(snapshotPath(dir, o)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}
