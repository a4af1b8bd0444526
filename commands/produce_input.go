package commands

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"mk/cluster"
)

// errInterrupted: SIGINT or SIGTERM stopped the reading of the input.
var errInterrupted = errors.New("interrupted")

// interruptibleInput reads the input in a goroutine of its own and hands
// it on in whole lines, so that a signal stops mk produce's reading at
// once, between two lines: Read then fails with errInterrupted, and no
// line cut in two is ever taken for a record. (A line longer than
// maxHeld bytes is handed on in pieces; it is longer than any record a
// topic takes, and refused whole.)
//
// It is a cluster.ChunkInput: ProduceLines takes its chunks as they are,
// rather than read them through a goroutine of its own once more.
type interruptibleInput struct {
	ctx    context.Context
	chunks chan cluster.InputChunk
	// free are the buffers of chunks Read has handed on, for the reading
	// goroutine to read into again: the input is read without
	// allocating.
	free  chan []byte
	cur   cluster.InputChunk
	off   int
	err   error
	ready atomic.Int64 // bytes read and not yet handed on (Buffered)
}

const (
	inputChunkBytes = 1 << 20
	inputChunks     = 3 // buffers: one being handed on, the others read ahead
	maxHeld         = 4 << 20
)

func newInterruptibleInput(ctx context.Context, r io.Reader) *interruptibleInput {
	in := &interruptibleInput{ctx: ctx, chunks: make(chan cluster.InputChunk, inputChunks), free: make(chan []byte, inputChunks)}
	for range inputChunks {
		in.free <- make([]byte, 0, inputChunkBytes)
	}
	go in.read(r)
	return in
}

// read reads r until its end or an error, and sends what it read up to the
// last newline (the rest waits for the line's end, at the start of the
// next buffer).
func (in *interruptibleInput) read(r io.Reader) {
	var held []byte
	for {
		var buf []byte
		select {
		case buf = <-in.free:
		case <-in.ctx.Done():
			return
		}
		if cap(buf) < len(held)+inputChunkBytes {
			buf = make([]byte, 0, len(held)+inputChunkBytes)
		}
		buf = append(buf[:0], held...)
		n, err := r.Read(buf[len(held):cap(buf)])
		buf = buf[:len(held)+n]
		held = held[:0]
		if err == nil {
			if i := bytes.LastIndexByte(buf, '\n'); i >= 0 && len(buf) <= maxHeld {
				held = append(held, buf[i+1:]...)
				buf = buf[:i+1]
			} else if i < 0 && len(buf) < maxHeld {
				held = append(held, buf...)
				buf = buf[:0]
			}
		}
		if len(buf) == 0 && err == nil {
			in.free <- buf
			continue
		}
		in.ready.Add(int64(len(buf)))
		select {
		case in.chunks <- cluster.InputChunk{B: buf, Err: err, Stamp: time.Now().UnixMilli()}:
		case <-in.ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// Buffered is how many bytes of input were read and not yet handed on:
// when it is 0, Read may wait for the input (a producer then sends what
// it has batched rather than hold it for input that may not come).
func (in *interruptibleInput) Buffered() int { return int(in.ready.Load()) }

// Read hands on the input read so far, or waits for more; once the context
// is done it fails with errInterrupted.
func (in *interruptibleInput) Read(p []byte) (int, error) {
	for in.off >= len(in.cur.B) {
		if in.err != nil {
			return 0, in.err
		}
		if in.cur.B != nil {
			in.free <- in.cur.B
			in.cur = cluster.InputChunk{}
		}
		select {
		case <-in.ctx.Done():
			in.err = errInterrupted
		case c := <-in.chunks:
			in.cur, in.off, in.err = c, 0, c.Err
		}
	}
	if in.ctx.Err() != nil {
		in.cur, in.err = cluster.InputChunk{}, errInterrupted
		return 0, errInterrupted
	}
	n := copy(p, in.cur.B[in.off:])
	in.off += n
	in.ready.Add(-int64(n))
	return n, nil
}

// Chunks, Recycle, Stopped and StopErr take the input a chunk at a time
// (cluster.ChunkInput), instead of Read; the two are not mixed. A chunk
// holds whole lines (but for a line over maxHeld bytes), so a stop
// between two chunks is a stop between two lines.
func (in *interruptibleInput) Chunks() <-chan cluster.InputChunk { return in.chunks }

func (in *interruptibleInput) Recycle(b []byte) {
	in.ready.Add(-int64(len(b)))
	in.free <- b
}

func (in *interruptibleInput) Stopped() <-chan struct{} { return in.ctx.Done() }
func (in *interruptibleInput) StopErr() error           { return errInterrupted }
