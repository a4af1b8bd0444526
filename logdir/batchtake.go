package logdir

// Take completes the header and returns the batch, as Finish does, but the
// batch is the caller's from now on: the builder goes on with next's
// storage (emptied) instead of its own. A producer that keeps batches
// until they are acknowledged hands them back this way when they are, so
// that no batch is copied out of the builder and no buffer is allocated
// per batch.
func (b *BatchBuilder) Take(next []byte) []byte {
	batch := b.Finish()
	b.buf, b.count = next[:0], 0
	return batch
}

// TakeIdempotent is Take for an idempotent producer: the batch carries its
// producer id and epoch and its first record's sequence number (see
// FinishIdempotent).
func (b *BatchBuilder) TakeIdempotent(next []byte, producerID int64, producerEpoch int16, baseSequence int32) []byte {
	batch := b.FinishIdempotent(producerID, producerEpoch, baseSequence)
	b.buf, b.count = next[:0], 0
	return batch
}
