package format

import (
	"bytes"

	"fmt"
	"io"
)

// Line input for `mk produce`: one record per line.
//
// A line ends at "\n" or "\r\n"; neither is part of the record, so files
// written on Windows produce the same records as files written on Unix (as
// with Kafka's console producer and Go's bufio.ScanLines). A "\r" anywhere
// else is data. The last line needs no newline. An empty line is an empty
// record; the reader does not skip it. Lines that must carry exact bytes,
// newlines or a final "\r" belong in --input json.

// DefaultMaxLineBytes bounds a line, as Kafka's default max.request.size
// (1 MiB) bounds a record: a longer line is almost certainly not meant as
// one record, and the bound keeps a runaway input from taking all memory.
const DefaultMaxLineBytes = 1 << 20

// initialLineBuffer is where the buffer starts; it grows only for long lines.
const initialLineBuffer = 64 << 10

// LineTooLongError reports a line longer than the reader's limit.
type LineTooLongError struct {
	Line int // 1-based
	Max  int // bytes
}

func (e *LineTooLongError) Error() string {
	return fmt.Sprintf("line %d: longer than the limit of %d bytes (%s)", e.Line, e.Max, Bytes(int64(e.Max)))
}

// ChunkReader is a reader that can lend the bytes it holds instead of
// copying them: a LineReader over one takes its lines straight out of the
// reader's chunks while it has no part of a line left over, and copies
// only a line that spans two chunks.
type ChunkReader interface {
	io.Reader
	// ReadChunk returns the next bytes of the input (and, as Read, an
	// error with or after the last). They are valid until the next call
	// of ReadChunk or Read.
	ReadChunk() ([]byte, error)
}

// LineReader reads lines from an io.Reader without allocating per line.
type LineReader struct {
	r        io.Reader
	cr       ChunkReader // r, if it lends its chunks
	buf      []byte      // own, or lent by cr
	own      []byte      // the reader's own buffer
	lent     bool        // buf is cr's
	start    int         // first unread byte
	end      int         // end of the data read
	scanned  int         // buf[start:scanned] holds no '\n'
	max      int
	line     int
	err      error // sticky error from r, io.EOF at the end
	skipping bool  // discarding the rest of an over-long line
	reads    int   // reads from r so far
}

// NewLineReader returns a reader of lines of at most maxLine bytes (not
// counting the line ending); maxLine <= 0 means DefaultMaxLineBytes.
func NewLineReader(r io.Reader, maxLine int) *LineReader {
	if maxLine <= 0 {
		maxLine = DefaultMaxLineBytes
	}
	lr := &LineReader{r: r, max: maxLine, own: make([]byte, min(initialLineBuffer, maxLine+2))}
	lr.buf = lr.own
	lr.cr, _ = r.(ChunkReader)
	return lr
}

// Line returns the number of the line last returned (1-based), including a
// line that was too long.
func (lr *LineReader) Line() int { return lr.line }

// Reads counts the reads from the underlying reader so far: lines returned
// between two changes of it came in the same read.
func (lr *LineReader) Reads() int { return lr.reads }

// Next returns the next line without its line ending. The slice points into
// the reader's buffer and is valid until the next call. At the end of the
// input Next returns io.EOF; a read error is returned as it is.
//
// A line longer than the limit gives a *LineTooLongError without being held
// in memory; the next call continues with the line after it.
func (lr *LineReader) Next() ([]byte, error) {
	for {
		if lr.skipping {
			if i := bytes.IndexByte(lr.buf[lr.start:lr.end], '\n'); i >= 0 {
				lr.start += i + 1
				lr.scanned = lr.start
				lr.skipping = false
				continue
			}
			lr.start, lr.end, lr.scanned = 0, 0, 0
		} else if i := bytes.IndexByte(lr.buf[lr.scanned:lr.end], '\n'); i >= 0 {
			nl := lr.scanned + i
			line := lr.buf[lr.start:nl]
			lr.start, lr.scanned = nl+1, nl+1
			return lr.finish(line)
		} else {
			lr.scanned = lr.end
		}

		if lr.err != nil {
			if lr.start < lr.end && !lr.skipping {
				line := lr.buf[lr.start:lr.end]
				lr.start, lr.scanned = lr.end, lr.end
				return lr.finish(line)
			}
			return nil, lr.err
		}
		if !lr.skipping && lr.end-lr.start > lr.max+1 { // +1: a '\r' that may end it
			lr.line++
			lr.skipping = true
			lr.start, lr.end, lr.scanned = 0, 0, 0
			return nil, &LineTooLongError{Line: lr.line, Max: lr.max}
		}
		lr.fill()
	}
}

// finish counts line and returns it without a final '\r'.
func (lr *LineReader) finish(line []byte) ([]byte, error) {
	lr.line++
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > lr.max {
		return nil, &LineTooLongError{Line: lr.line, Max: lr.max}
	}
	return line, nil
}

// fill reads more input, first making room by moving unread data to the
// front or by growing the buffer up to the line limit.
func (lr *LineReader) fill() {
	if lr.cr != nil && lr.start == lr.end {
		// Nothing left over: the next chunk is the buffer.
		for range 100 {
			b, err := lr.cr.ReadChunk()
			lr.reads++
			if len(b) > 0 || err != nil {
				lr.buf, lr.lent = b, true
				lr.start, lr.end, lr.scanned = 0, len(b), 0
				lr.err = err
				return
			}
		}
		lr.err = io.ErrNoProgress
		return
	}
	if lr.lent {
		// Part of a line left over in a lent chunk: on in the reader's
		// own buffer (grown to hold it), as the chunk is lent only until
		// the next read.
		n := lr.end - lr.start
		if len(lr.own) < n+1 {
			lr.own = make([]byte, min(max(2*len(lr.own), n+1), lr.max+2))
		}
		copy(lr.own, lr.buf[lr.start:lr.end])
		lr.buf, lr.lent = lr.own, false
		lr.scanned -= lr.start
		lr.start, lr.end = 0, n
	}
	if lr.end == len(lr.buf) {
		if lr.start > 0 {
			n := copy(lr.buf, lr.buf[lr.start:lr.end])
			lr.scanned -= lr.start
			lr.start, lr.end = 0, n
		} else {
			grown := make([]byte, min(2*len(lr.buf), lr.max+2))
			copy(grown, lr.buf[:lr.end])
			lr.buf, lr.own = grown, grown
		}
	}
	for range 100 {
		n, err := lr.r.Read(lr.buf[lr.end:])
		lr.end += n
		lr.reads++
		if err != nil {
			lr.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	lr.err = io.ErrNoProgress
}

// SplitKey splits line at the first occurrence of sep into key and value, as
// Kafka's console producer does with parse.key=true and key.separator. It
// reports false when sep does not occur (or is empty); what that means is the
// caller's choice (Kafka fails "no key separator found on line N").
func SplitKey(line, sep []byte) (key, value []byte, ok bool) {
	if len(sep) == 0 {
		return nil, line, false
	}
	i := bytes.Index(line, sep)
	if i < 0 {
		return nil, line, false
	}
	return line[:i:i], line[i+len(sep):], true
}

// Buffered reports whether a whole line is already in the buffer, so that
// the next call to Next will not block on the underlying reader. A
// producer uses it to send what it has batched when its input goes idle.
func (lr *LineReader) Buffered() bool {
	return bytes.IndexByte(lr.buf[lr.scanned:lr.end], '\n') >= 0
}
