package commands

import (
	"bytes"
	"context"
	"errors"
	"io"
)

// errInterrupted: SIGINT or SIGTERM stopped the reading of the input.
var errInterrupted = errors.New("interrupted")

// interruptibleInput reads the input in a goroutine of its own and hands
// it on in whole lines, so that a signal stops mk produce's reading at
// once, between two lines: Read then fails with errInterrupted, and no
// line cut in two is ever taken for a record. (A line longer than
// maxHeld bytes is handed on in pieces; it is longer than any record a
// topic takes, and refused whole.)
type interruptibleInput struct {
	ctx    context.Context
	chunks chan inputChunk
	// free takes back the chunks Read has handed on whole, for read to
	// fill again: a stream is read into a few buffers, not a new one per
	// chunk (allocating and clearing 256 KiB per read cost a tenth of
	// mk produce's CPU).
	free  chan []byte
	chunk []byte // the chunk cur is the rest of
	cur   []byte
	err   error
}

type inputChunk struct {
	b   []byte
	err error
}

const (
	inputChunkBytes = 256 << 10
	maxHeld         = 4 << 20
)

func newInterruptibleInput(ctx context.Context, r io.Reader) *interruptibleInput {
	in := &interruptibleInput{ctx: ctx, chunks: make(chan inputChunk, 2), free: make(chan []byte, 3)}
	go in.read(r)
	return in
}

// read reads r until its end or an error, and sends what it read up to the
// last newline (the rest waits for the line's end).
func (in *interruptibleInput) read(r io.Reader) {
	var held []byte
	for {
		var buf []byte
		select {
		case buf = <-in.free:
		default:
		}
		if cap(buf) < len(held)+inputChunkBytes {
			buf = make([]byte, 0, len(held)+inputChunkBytes)
		}
		buf = append(buf[:0], held...)
		n, err := r.Read(buf[len(held):cap(buf)])
		buf = buf[:len(held)+n]
		held = nil
		if err == nil {
			if i := bytes.LastIndexByte(buf, '\n'); i >= 0 && len(buf) <= maxHeld {
				held = append([]byte(nil), buf[i+1:]...)
				buf = buf[:i+1]
			} else if i < 0 && len(buf) < maxHeld {
				held, buf = buf, nil
			}
		}
		select {
		case in.chunks <- inputChunk{buf, err}:
		case <-in.ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// Read hands on the input read so far, or waits for more; once the context
// is done it fails with errInterrupted.
func (in *interruptibleInput) Read(p []byte) (int, error) {
	for len(in.cur) == 0 {
		if in.err != nil {
			return 0, in.err
		}
		select {
		case <-in.ctx.Done():
			in.err = errInterrupted
		case c := <-in.chunks:
			in.chunk, in.cur, in.err = c.b, c.b, c.err
		}
	}
	if in.ctx.Err() != nil {
		in.cur, in.err = nil, errInterrupted
		return 0, errInterrupted
	}
	n := copy(p, in.cur)
	in.cur = in.cur[n:]
	if len(in.cur) == 0 && in.chunk != nil {
		// Handed on whole: nothing refers to it any more.
		select {
		case in.free <- in.chunk[:0]:
		default:
		}
		in.chunk = nil
	}
	return n, nil
}
