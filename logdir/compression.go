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
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
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

// scanPiece is how many inflated bytes Scan checks at a time where the
// codec lets it choose: small enough to be checked while the decoder's
// output is still in the processor's cache (a first-level data cache is
// 32 KiB to 64 KiB), and the block size of snappy-java's framing, whose
// chunks come in this size anyway.
const scanPiece = 32 << 10

// scanCompressed inflates src, the records of a compressed batch, and
// checks them with s: a piece at a time where the codec allows it (the
// records straddle the pieces: a record cut at a piece's end is kept
// and completed by the next), else whole. Decoding errors are said as
// Reset says them; errors in the records as the scanner says them.
func (it *RecordIter) scanCompressed(codec Codec, src []byte, s *scanner) error {
	var err error
	switch codec {
	case CodecSnappy:
		if len(src) >= xerialHeaderSize && string(src[:len(xerialMagic)]) == xerialMagic {
			return it.scanXerial(src[xerialHeaderSize:], s)
		}
	case CodecGzip, CodecLZ4:
		r, err := it.streamReader(codec, src)
		if err != nil {
			return it.decodeErr(codec, err)
		}
		return it.scanReader(codec, r, s)
	}
	// A plain snappy block and a zstd frame: the decoders take whole
	// blocks only.
	records, err := it.decompress(codec, src)
	if err != nil {
		return err
	}
	return s.finish(records)
}

// streamReader is the iterator's reader of a gzip or lz4 stream, reset to
// src (the readers and their buffers are kept between batches).
func (it *RecordIter) streamReader(codec Codec, src []byte) (io.Reader, error) {
	it.src.Reset(src)
	if codec == CodecLZ4 {
		if it.lz4 == nil {
			it.lz4 = lz4.NewReader(&it.src)
		} else {
			it.lz4.Reset(&it.src)
		}
		return it.lz4, nil
	}
	if it.gzip == nil {
		g, err := gzip.NewReader(&it.src)
		if err != nil {
			return nil, err
		}
		it.gzip = g
		return g, nil
	}
	return it.gzip, it.gzip.Reset(&it.src)
}

func (it *RecordIter) decodeErr(codec Codec, err error) error {
	return fmt.Errorf("%w: batch at offset %d: %v records: %v", ErrCorrupt, it.header.BaseOffset, codec, err)
}

// scanXerial checks the records of src, snappy-java's chunks after the
// stream header, one chunk at a time, as decodeSnappy would inflate them.
func (it *RecordIter) scanXerial(src []byte, s *scanner) error {
	buf := it.decompressed[:0]
	defer func() {
		if cap(buf) > cap(it.decompressed) {
			it.decompressed = buf[:0]
		}
	}()
	total := 0
	for len(src) > 0 {
		if len(src) < 4 {
			return it.decodeErr(CodecSnappy, errors.New("snappy chunk length cut short"))
		}
		n := binary.BigEndian.Uint32(src)
		src = src[4:]
		if uint64(n) > uint64(len(src)) {
			return it.decodeErr(CodecSnappy, fmt.Errorf("snappy chunk of %d bytes, %d left", n, len(src)))
		}
		block := src[:n]
		src = src[n:]
		dn, err := snappy.DecodedLen(block)
		if err != nil {
			return it.decodeErr(CodecSnappy, err)
		}
		if dn > maxDecompressedSize-total {
			return it.decodeErr(CodecSnappy, errDecompressedTooLarge)
		}
		total += dn
		start := len(buf)
		buf = growLen(buf, dn)
		if _, err := snappy.Decode(buf[start:], block); err != nil {
			return it.decodeErr(CodecSnappy, err)
		}
		used, err := s.records(buf, true)
		if err != nil {
			return err
		}
		if used > 0 {
			buf = buf[:copy(buf, buf[used:])]
		}
	}
	return s.finish(buf)
}

// scanReader checks the records that r inflates, scanPiece bytes at a
// time.
func (it *RecordIter) scanReader(codec Codec, r io.Reader, s *scanner) error {
	buf := it.decompressed[:0]
	defer func() {
		if cap(buf) > cap(it.decompressed) {
			it.decompressed = buf[:0]
		}
	}()
	total := 0
	for {
		if cap(buf)-len(buf) < scanPiece {
			// A record longer than what is buffered, or the first
			// piece: grow (the records so far stay at the front).
			buf = growLen(buf, scanPiece)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf) : len(buf)+scanPiece])
		buf = buf[:len(buf)+n]
		if total += n; total > maxDecompressedSize {
			return it.decodeErr(codec, errDecompressedTooLarge)
		}
		if err == io.EOF {
			return s.finish(buf)
		}
		if err != nil {
			return it.decodeErr(codec, err)
		}
		used, err := s.records(buf, true)
		if err != nil {
			return err
		}
		if used > 0 {
			buf = buf[:copy(buf, buf[used:])]
		}
	}
}
