package logdir

// ReadForCopy is Read without checking the batches' CRCs, for a follower
// that hands what it reads straight to AppendVerbatim: AppendVerbatim
// checks every batch's CRC before it writes any (checkBatches), so each
// byte is checked once on its way from the leader's log into the
// follower's, not twice, and nothing that fails its CRC is written or
// served. Anything else must use Read.
func (r *Reader) ReadForCopy(dst []byte, offset, limit int64, maxBytes int) ([]byte, State, error) {
	r.unchecked = true
	defer func() { r.unchecked = false }()
	return r.Read(dst, offset, limit, maxBytes)
}
