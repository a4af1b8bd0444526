package logdir

// Decompression of a batch's records, as Kafka's producers compress them
// (CompressionType.java):
//
//	gzip    one gzip stream (RFC 1952)
//	snappy  xerial snappy-java framing: the 8-byte magic
//	        0x82 "SNAPPY" 0x00, int32 version, int32 compatible version,
//	        then chunks of int32 length + snappy block, all big-endian.
//	        Clients other than Java (franz-go, librdkafka, sarama) may
//	        write one plain snappy block instead; snappy-java reads both,
//	        telling them apart by the magic, and so does mk.
//	lz4     one LZ4 frame (the LZ4 frame format, with its header checksum
//	        computed correctly since magic 2)
//	zstd    one zstd frame
//
// mk writes uncompressed batches only; it reads all four.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
)

// maxDecompressedSize bounds the records of one compressed batch once
// inflated, so that a small corrupt or hostile batch cannot make a reader
// allocate without limit. Kafka's default max.message.bytes is 1 MiB of
// compressed bytes; 128 MiB leaves room for two orders of magnitude of
// compression on the largest batches anyone configures. A variable so
// tests can lower it.
var maxDecompressedSize = defaultMaxDecompressedSize

const defaultMaxDecompressedSize = 128 << 20

var errDecompressedTooLarge = errors.New("decompressed records larger than the limit")

const (
	// xerialHeaderSize is snappy-java's stream header: 8 bytes of magic,
	// then int32 version and int32 compatible version.
	xerialHeaderSize = 16
	// xerialMagic opens a snappy-java stream (SnappyCodec.MAGIC_HEADER).
	// snappy-java tells its framing from a plain block by this magic
	// alone, so mk does the same.
	xerialMagic = "\x82SNAPPY\x00"
)

// decodeSnappy appends the decoded records of a snappy batch to dst:
// snappy-java's framing if src starts with its magic, else one block.
func decodeSnappy(dst, src []byte) ([]byte, error) {
	if len(src) < xerialHeaderSize || string(src[:len(xerialMagic)]) != xerialMagic {
		return appendSnappyBlock(dst, src)
	}
	src = src[xerialHeaderSize:]
	for len(src) > 0 {
		if len(src) < 4 {
			return dst, fmt.Errorf("snappy chunk length cut short")
		}
		n := binary.BigEndian.Uint32(src)
		src = src[4:]
		if uint64(n) > uint64(len(src)) {
			return dst, fmt.Errorf("snappy chunk of %d bytes, %d left", n, len(src))
		}
		var err error
		if dst, err = appendSnappyBlock(dst, src[:n]); err != nil {
			return dst, err
		}
		src = src[n:]
	}
	return dst, nil
}

// appendSnappyBlock decodes one snappy block onto the end of dst.
func appendSnappyBlock(dst, block []byte) ([]byte, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return dst, err
	}
	if n > maxDecompressedSize-len(dst) {
		return dst, errDecompressedTooLarge
	}
	start := len(dst)
	dst = growLen(dst, n)
	if _, err := snappy.Decode(dst[start:], block); err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// growLen extends dst by n bytes, reallocating only when its capacity is
// short. The new bytes are not cleared.
func growLen(dst []byte, n int) []byte {
	if cap(dst)-len(dst) < n {
		grown := make([]byte, len(dst), max(2*cap(dst), len(dst)+n))
		copy(grown, dst)
		dst = grown
	}
	return dst[:len(dst)+n]
}

// zstdDecoder is shared by every RecordIter: DecodeAll is safe for
// concurrent use, and a decoder is too large to keep one per iterator.
// Its memory ceiling is fixed when it is made, so it is the default
// limit; decodeZstd checks the current one afterwards.
var zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(defaultMaxDecompressedSize))
})

// decodeZstd appends the decoded records of a zstd batch to dst.
func decodeZstd(dst, src []byte) ([]byte, error) {
	dec, err := zstdDecoder()
	if err != nil {
		return dst, err
	}
	start := len(dst)
	dst, err = dec.DecodeAll(src, dst)
	if err != nil {
		return dst[:start], err
	}
	if len(dst) > maxDecompressedSize {
		return dst[:start], errDecompressedTooLarge
	}
	return dst, nil
}
