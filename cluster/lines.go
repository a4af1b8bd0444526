package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"

	"mk/client"
	"mk/format"
	"mk/logdir"
)

// LineOptions say how mk produce turns lines of input into records.
type LineOptions struct {
	Topic string
	// JSON: each line is a record object as mk consume -o json prints it.
	JSON bool
	// Key is every record's key (nil: none); KeySeparator splits each line
	// into key and value at its first occurrence instead.
	Key          []byte
	KeySeparator []byte
	// Headers go on every record.
	Headers []logdir.Header
	// Partition, if >= 0, is every record's partition.
	Partition int32
	// Progress, if set, is called every 65536 lines with the records
	// acknowledged so far.
	Progress func(acked int64)
}

// waitingProducer is a Producer with work of its own to do while the
// input is idle (mk's producer: acknowledgements to take, retries to
// send): ProduceLines then reads the input in a goroutine and, whenever
// none is ready, tells it Idle and lets it Poll until input comes.
type waitingProducer interface {
	Producer
	// Wake has a value when the producer has something to handle.
	Wake() <-chan struct{}
	// Poll handles it without blocking and returns the first failure
	// so far.
	Poll() error
}

// BufferedReader is an input that tells how many bytes it holds that can
// be read without waiting (as *bufio.Reader does).
type BufferedReader interface {
	io.Reader
	Buffered() int
}

// ProduceLines sends one record per line of in until its end or the
// first error: a line too long for the topic, a malformed JSON line, a
// line without the key separator (each naming the line), or a failure to
// send. Records are sent as they come: when the input goes idle (a
// person typing, tail -f) what is batched is sent rather than held for
// input that may not come. The input goes idle when in holds no whole
// line that can be read without waiting.
func ProduceLines(p Producer, in BufferedReader, o LineOptions) error {
	// The line limit is the largest record the topic takes, plus room for
	// the JSON encoding of one.
	maxLine := int(min(p.MaxMessageBytes(), 1<<30))
	if o.JSON {
		maxLine = maxLine*2 + 4096
	}
	var lines *format.LineReader
	var input *idleReader
	wp, waits := p.(waitingProducer)
	if waits {
		input = newIdleReader(in, wp)
		lines = format.NewLineReader(input, maxLine)
	} else {
		lines = format.NewLineReader(in, maxLine)
	}
	var dec format.RecordDecoder
	// A record's timestamp is when mk read its line: the lines of one
	// read share it (reading the clock per line costs more than the rest
	// of a line's way to the producer).
	now, reads := time.Now().UnixMilli(), 0
	for {
		line, err := lines.Next()
		if err != nil {
			// (Inside the if: a target of errors.As escapes, and would
			// cost an allocation per line.)
			if errors.Is(err, io.EOF) {
				return nil
			}
			var tooLong *format.LineTooLongError
			if errors.As(err, &tooLong) {
				return fmt.Errorf("line %d: record is larger than max.message.bytes %d of topic %s", tooLong.Line, p.MaxMessageBytes(), o.Topic)
			}
			var failed *producerFailed
			if errors.As(err, &failed) {
				return failed.err // stopped while waiting for input
			}
			return fmt.Errorf("read stdin: %w", err)
		}
		ts := now
		if input != nil {
			// When its read arrived: a clock read per read, not per line
			// (which costs more than the rest of a line's work).
			ts = input.stamp
		} else if r := lines.Reads(); r != reads {
			now, reads = time.Now().UnixMilli(), r
			ts = now
		}
		key, value, hs, part := o.Key, line, o.Headers, o.Partition
		if o.JSON {
			rec, err := dec.Decode(line)
			if err != nil {
				return format.AtLine(err, lines.Line())
			}
			key, value = rec.Key, rec.Value
			if len(rec.Headers) > 0 {
				hs = append(hs[:len(hs):len(hs)], rec.Headers...)
			}
			if rec.Partition >= 0 && o.Partition < 0 {
				part = rec.Partition
			}
			if rec.Timestamp >= 0 {
				ts = rec.Timestamp
			}
		} else if len(o.KeySeparator) > 0 {
			k, v, ok := format.SplitKey(line, o.KeySeparator)
			if !ok {
				return fmt.Errorf("line %d: no key separator %q", lines.Line(), o.KeySeparator)
			}
			key, value = k, v
		}
		if n := lines.Line(); n&0xffff == 0 && o.Progress != nil {
			o.Progress(p.Acked())
		}
		if err := p.Send(part, ts, key, value, hs); err != nil {
			var big *client.RecordTooLargeError
			if errors.As(err, &big) {
				return fmt.Errorf("line %d: %w of topic %s", lines.Line(), err, o.Topic)
			}
			return err
		}
		if !waits && in.Buffered() == 0 && !lines.Buffered() {
			// The input went idle: send what is batched now rather than
			// wait for more (a producer typing, or a slow pipe).
			if err := p.Idle(); err != nil {
				return err
			}
		}
	}
}

// NotAcknowledged is the error of a producer that closed with records
// not acknowledged (nil if there are none): how many, and why.
func NotAcknowledged(p Producer, sendErr, closeErr error) error {
	if p.Failed() == 0 {
		return nil
	}
	cause := closeErr
	if cause == nil {
		cause = sendErr
	}
	return fmt.Errorf("%d of %d records were not acknowledged: %w", p.Failed(), p.Failed()+p.Acked(), cause)
}

// ChunkInput is an input that is already read ahead in a goroutine of its
// own, in chunks of whole lines (mk produce's, which stops at a signal):
// ProduceLines takes its chunks as they come rather than read it through
// a goroutine of its own as well, which would copy every byte once more
// and hand every chunk on twice.
type ChunkInput interface {
	BufferedReader
	// Chunks delivers the input in order; the last chunk has Err set
	// (io.EOF at the end).
	Chunks() <-chan InputChunk
	// Recycle gives back the buffer of a chunk whose bytes are no longer
	// used, to read into again.
	Recycle(b []byte)
	// Stopped is closed when reading must stop at once (the chunks not
	// taken yet are dropped); Read then fails with StopErr.
	Stopped() <-chan struct{}
	StopErr() error
}

// InputChunk is one read of the input.
type InputChunk struct {
	B     []byte
	Err   error
	Stamp int64 // when it was read, ms
}

// idleReader reads the input in a goroutine of its own (or takes the
// chunks of a ChunkInput), so that while no input is ready the producer
// sends what it has batched and handles its acknowledgements and retries:
// a line that trickles in is sent and acknowledged at once (tail -f | mk
// produce), and a stream that never pauses is never held up waiting for
// acknowledgements.
type idleReader struct {
	chunks  <-chan InputChunk
	recycle func([]byte)
	stopped <-chan struct{} // nil: never
	stopErr func() error
	cur     InputChunk
	off     int
	p       waitingProducer
	// stamp is the wall clock (ms) when the bytes last returned by Read
	// were read from the input.
	stamp int64
}

// producerFailed is the producer's failure, met while waiting for input.
type producerFailed struct{ err error }

func (e *producerFailed) Error() string { return e.err.Error() }

// idleChunkBytes is the least size of one read of the input; idleChunks
// of them are in use at once (one being parsed, the others read ahead).
const (
	idleChunkBytes = 256 << 10
	idleChunks     = 3
)

func newIdleReader(r io.Reader, p waitingProducer) *idleReader {
	if ci, ok := r.(ChunkInput); ok {
		return &idleReader{chunks: ci.Chunks(), recycle: ci.Recycle, stopped: ci.Stopped(), stopErr: ci.StopErr, p: p}
	}
	chunks, free := make(chan InputChunk, idleChunks), make(chan []byte, idleChunks)
	ir := &idleReader{chunks: chunks, recycle: func(b []byte) { free <- b[:cap(b)] }, p: p}
	// At least r's buffer: a bufio.Reader reads a request that large
	// straight into it, not through its own buffer.
	size := idleChunkBytes
	if br, ok := r.(*bufio.Reader); ok {
		size = max(size, br.Size())
	}
	for range idleChunks {
		free <- make([]byte, size)
	}
	go func() {
		for {
			buf := <-free
			n, err := r.Read(buf)
			chunks <- InputChunk{buf[:n], err, time.Now().UnixMilli()}
			if err != nil {
				return
			}
		}
	}()
	return ir
}

func (ir *idleReader) Read(b []byte) (int, error) {
	if err := ir.next(); err != nil {
		return 0, err
	}
	n := copy(b, ir.cur.B[ir.off:])
	ir.off += n
	ir.stamp = ir.cur.Stamp
	return n, nil
}

// ReadChunk lends the rest of the current chunk (format.ChunkReader): the
// line reader takes lines straight out of it, uncopied. It is valid until
// the next call, which recycles it.
func (ir *idleReader) ReadChunk() ([]byte, error) {
	if err := ir.next(); err != nil {
		return nil, err
	}
	b := ir.cur.B[ir.off:]
	ir.off = len(ir.cur.B)
	ir.stamp = ir.cur.Stamp
	return b, nil
}

func (ir *idleReader) isStopped() bool {
	select {
	case <-ir.stopped:
		return true
	default:
		return false
	}
}

// next makes sure the current chunk has bytes to read, waiting for the
// next chunk (and handling the producer's work meanwhile) when it has
// none.
func (ir *idleReader) next() error {
	for ir.off >= len(ir.cur.B) {
		if ir.cur.Err != nil {
			return ir.cur.Err
		}
		if ir.cur.B != nil {
			ir.recycle(ir.cur.B)
			ir.cur = InputChunk{}
		}
		// A stop comes first, even with chunks ready to take.
		if ir.isStopped() {
			return ir.stopErr()
		}
		select {
		case ir.cur = <-ir.chunks:
			ir.off = 0
			continue
		default:
		}
		// Nothing to read now: send what is batched, and meanwhile take
		// the answers as they come.
		err := ir.p.Idle()
		for err == nil && ir.cur.B == nil && ir.cur.Err == nil {
			select {
			case <-ir.stopped:
				return ir.stopErr()
			case ir.cur = <-ir.chunks:
				ir.off = 0
			case <-ir.p.Wake():
				err = ir.p.Poll()
			}
		}
		if err != nil {
			return &producerFailed{err}
		}
		if ir.isStopped() {
			ir.cur = InputChunk{}
			return ir.stopErr()
		}
	}
	// (A stop is seen between chunks, never within one: a ChunkInput's
	// chunks end at line ends, and the line reader must not be left a
	// line cut in two, which it would take for a last line.)
	return nil
}
