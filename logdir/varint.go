package logdir

// Kafka's variable-length integers (ByteUtils.writeVarint/writeVarlong):
// the value is zig-zag mapped, so that small negative numbers stay short
// (-1 becomes 1), then written 7 bits a byte, least significant group first,
// with the high bit set on every byte but the last.
//
// Reading follows ByteUtils.readVarint/readVarlong exactly, including
// their limits: a varint may take at most 5 bytes and a varlong at most 10;
// bits past the 32 (64) that fit are dropped, as Kafka drops them. A
// reader that is stricter than Kafka would refuse batches Kafka accepts.

const (
	// maxVarintLen is the longest a 32-bit varint may be: ceil(32/7).
	maxVarintLen = 5
	// maxVarlongLen is the longest a 64-bit varlong may be: ceil(64/7).
	maxVarlongLen = 10
)

// appendVarint appends v as a zig-zag varint.
func appendVarint(dst []byte, v int32) []byte {
	u := uint32(v<<1) ^ uint32(v>>31)
	if u < 1<<14 { // one or two bytes: lengths and offset deltas mostly
		if u < 0x80 {
			return append(dst, byte(u))
		}
		return append(dst, byte(u)|0x80, byte(u>>7))
	}
	for u >= 0x80 {
		dst = append(dst, byte(u)|0x80)
		u >>= 7
	}
	return append(dst, byte(u))
}

// appendVarlong appends v as a zig-zag varlong.
func appendVarlong(dst []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		dst = append(dst, byte(u)|0x80)
		u >>= 7
	}
	return append(dst, byte(u))
}

// sizeVarint is the number of bytes appendVarint writes for v.
func sizeVarint(v int32) int {
	u := uint32(v<<1) ^ uint32(v>>31)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

// sizeVarlong is the number of bytes appendVarlong writes for v.
func sizeVarlong(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

// readVarint decodes a zig-zag varint from the start of b. It returns the
// value and the number of bytes read, or n == 0 if b ends inside the
// varint or the varint is longer than maxVarintLen bytes. It is small
// enough for the compiler to inline, which the record decoder relies on.
func readVarint(b []byte) (v int32, n int) {
	var u uint32
	for i := 0; i < maxVarintLen && i < len(b); i++ {
		c := b[i]
		u |= uint32(c&0x7f) << (7 * i)
		if c < 0x80 {
			return int32(u>>1) ^ -int32(u&1), i + 1
		}
	}
	return 0, 0
}

// readVarlong decodes a zig-zag varlong from the start of b, like
// readVarint with maxVarlongLen.
func readVarlong(b []byte) (v int64, n int) {
	var u uint64
	for i := 0; i < maxVarlongLen && i < len(b); i++ {
		c := b[i]
		u |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1), i + 1
		}
	}
	return 0, 0
}
