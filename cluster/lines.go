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

// ProduceLines sends one record per line of in until its end or the
// first error: a line too long for the topic, a malformed JSON line, a
// line without the key separator (each naming the line), or a failure to
// send. Records are sent as they come: when the input goes idle (a
// person typing, tail -f) what is batched is flushed rather than held
// for input that may not come.
func ProduceLines(p Producer, in *bufio.Reader, o LineOptions) error {
	// The line limit is the largest record the topic takes, plus room for
	// the JSON encoding of one.
	maxLine := int(min(p.MaxMessageBytes(), 1<<30))
	if o.JSON {
		maxLine = maxLine*2 + 4096
	}
	lines := format.NewLineReader(in, maxLine)
	var dec format.RecordDecoder
	for {
		line, err := lines.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var tooLong *format.LineTooLongError
		if errors.As(err, &tooLong) {
			return fmt.Errorf("line %d: record is larger than max.message.bytes %d of topic %s", tooLong.Line, p.MaxMessageBytes(), o.Topic)
		}
		if err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
		key, value, hs, part, ts := o.Key, line, o.Headers, o.Partition, time.Now().UnixMilli()
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
		err = p.Send(part, ts, key, value, hs)
		var big *client.RecordTooLargeError
		if errors.As(err, &big) {
			return fmt.Errorf("line %d: %w of topic %s", lines.Line(), err, o.Topic)
		}
		if err != nil {
			return err
		}
		if !lines.Buffered() && in.Buffered() == 0 {
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
