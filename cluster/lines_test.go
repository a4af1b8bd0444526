package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"mk/client"
	"mk/logdir"
)

// fakeProducer records what ProduceLines sends.
type fakeProducer struct {
	max   int64
	sent  []string
	idles int
}

func (p *fakeProducer) Partitions() int        { return 3 }
func (p *fakeProducer) MaxMessageBytes() int64 { return p.max }
func (p *fakeProducer) Send(part int32, ts int64, key, value []byte, hs []logdir.Header) error {
	if int64(len(value)) > p.max {
		return &client.RecordTooLargeError{Size: int64(len(value)), Max: p.max}
	}
	s := fmt.Sprintf("%d %q=%q", part, key, value)
	for _, h := range hs {
		s += fmt.Sprintf(" %s:%s", h.Key, h.Value)
	}
	p.sent = append(p.sent, s)
	return nil
}
func (p *fakeProducer) Idle() error   { p.idles++; return nil }
func (p *fakeProducer) Flush() error  { return nil }
func (p *fakeProducer) Close() error  { return nil }
func (p *fakeProducer) Acked() int64  { return int64(len(p.sent)) }
func (p *fakeProducer) Failed() int64 { return 0 }

func TestProduceLines(t *testing.T) {
	hdr := []logdir.Header{{Key: []byte("src"), Value: []byte("web")}}
	for _, c := range []struct {
		name, in string
		o        LineOptions
		want     []string
		err      string
	}{
		{"values", "a\nb\r\n", LineOptions{Partition: -1}, []string{`-1 ""="a"`, `-1 ""="b"`}, ""},
		{"fixed key and header", "a\n", LineOptions{Partition: 2, Key: []byte("k"), Headers: hdr}, []string{`2 "k"="a" src:web`}, ""},
		{"separator", "u1:x:y\n", LineOptions{Partition: -1, KeySeparator: []byte(":")}, []string{`-1 "u1"="x:y"`}, ""},
		{"no separator", "u1:x\nnone\n", LineOptions{Partition: -1, KeySeparator: []byte(":"), Topic: "t"}, []string{`-1 "u1"="x"`}, `line 2: no key separator ":"`},
		{"json", `{"key":"k","value":"v","partition":1,"headers":[{"key":"h","value":"1"}]}` + "\n", LineOptions{Partition: -1, JSON: true}, []string{`1 "k"="v" h:1`}, ""},
		{"json, --partition wins", `{"value":"v","partition":1}` + "\n", LineOptions{Partition: 0, JSON: true}, []string{`0 ""="v"`}, ""},
		{"bad json", "{}\n{x\n", LineOptions{Partition: -1, JSON: true}, []string{`-1 ""=""`}, "line 2"},
		{"too long", "ok\n" + strings.Repeat("x", 200) + "\n", LineOptions{Partition: -1, Topic: "t"}, []string{`-1 ""="ok"`}, "line 2: record is larger than max.message.bytes 100 of topic t"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := &fakeProducer{max: 100}
			err := ProduceLines(p, bufio.NewReader(strings.NewReader(c.in)), c.o)
			if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Fatalf("error %v, want %q", err, c.err)
			}
			if fmt.Sprint(p.sent) != fmt.Sprint(c.want) {
				t.Fatalf("sent %v, want %v", p.sent, c.want)
			}
			if err == nil && p.idles == 0 {
				t.Fatal("the input's end never told the producer it went idle")
			}
		})
	}
}

// stampProducer keeps the timestamps it is sent.
type stampProducer struct {
	fakeProducer
	stamps []int64
}

func (p *stampProducer) Send(part int32, ts int64, key, value []byte, hs []logdir.Header) error {
	p.stamps = append(p.stamps, ts)
	return p.fakeProducer.Send(part, ts, key, value, hs)
}

// chunks is a reader that returns one chunk per Read, each only once
// next says so: the lines of a chunk come in one read.
type chunks struct {
	parts []string
	next  chan struct{}
	read  chan int64 // the time each chunk was handed out, in ms
}

func (c *chunks) Read(b []byte) (int, error) {
	if len(c.parts) == 0 {
		return 0, io.EOF
	}
	<-c.next
	c.read <- time.Now().UnixMilli()
	n := copy(b, c.parts[0])
	c.parts = c.parts[1:]
	return n, nil
}

// TestProduceLinesTimestamps: a line's timestamp is when it was read; the
// lines of one read share it, and a later read stamps later.
func TestProduceLinesTimestamps(t *testing.T) {
	in := &chunks{parts: []string{"a\nb\nc\n", "d\n"}, next: make(chan struct{}), read: make(chan int64, 2)}
	p := &stampProducer{fakeProducer: fakeProducer{max: 100}}
	done := make(chan error)
	before := time.Now().UnixMilli()
	go func() { done <- ProduceLines(p, bufio.NewReaderSize(in, 16), LineOptions{Partition: -1}) }()
	in.next <- struct{}{}
	first := <-in.read
	// The second chunk comes at least a millisecond after the first.
	for time.Now().UnixMilli() <= first {
		runtime.Gosched()
	}
	in.next <- struct{}{}
	second := <-in.read
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s := p.stamps
	if len(s) != 4 || s[0] != s[1] || s[1] != s[2] || s[3] <= s[2] {
		t.Fatalf("stamps %v: want three equal, then a later one", s)
	}
	if s[0] < before || s[0] > second || s[3] < second {
		t.Fatalf("stamps %v: the first chunk was read at %d, the second at %d (started at %d)", s, first, second, before)
	}
}

// waitingFake is a fakeProducer with the waiting producer's methods, so
// that ProduceLines reads through an idleReader.
type waitingFake struct{ fakeProducer }

func (p *waitingFake) Wake() <-chan struct{} { return nil }
func (p *waitingFake) Poll() error           { return nil }

// chunkInput is a ChunkInput whose chunks the test sends.
type chunkInput struct {
	chunks   chan InputChunk
	stopped  chan struct{}
	recycled chan []byte
}

var errStopped = errors.New("stopped")

func newChunkInput() *chunkInput {
	return &chunkInput{chunks: make(chan InputChunk, 8), stopped: make(chan struct{}), recycled: make(chan []byte, 8)}
}

func (c *chunkInput) Read([]byte) (int, error)  { panic("a ChunkInput is read by its chunks") }
func (c *chunkInput) Buffered() int             { return 0 }
func (c *chunkInput) Chunks() <-chan InputChunk { return c.chunks }
func (c *chunkInput) Recycle(b []byte)          { c.recycled <- b }
func (c *chunkInput) Stopped() <-chan struct{}  { return c.stopped }
func (c *chunkInput) StopErr() error            { return errStopped }
func (c *chunkInput) send(s string, err error) {
	c.chunks <- InputChunk{B: []byte(s), Err: err, Stamp: 7}
}

// TestProduceLinesChunkInput: the chunks of a ChunkInput are parsed as
// they are (lines straight out of them), each recycled once parsed.
func TestProduceLinesChunkInput(t *testing.T) {
	in := newChunkInput()
	in.send("a\nb\n", nil)
	in.send("c\r\n", nil)
	in.send("d", io.EOF)
	p := &stampProducer{fakeProducer: fakeProducer{max: 100}}
	w := &waitingStamps{p}
	if err := ProduceLines(w, in, LineOptions{Partition: -1}); err != nil {
		t.Fatal(err)
	}
	if want := `[-1 ""="a" -1 ""="b" -1 ""="c" -1 ""="d"]`; fmt.Sprint(p.sent) != want {
		t.Fatalf("sent %v, want %v", p.sent, want)
	}
	if fmt.Sprint(p.stamps) != "[7 7 7 7]" {
		t.Fatalf("stamps %v: want the chunks' (7)", p.stamps)
	}
	if n := len(in.recycled); n != 2 {
		t.Fatalf("%d chunks recycled, want the 2 before the last", n)
	}
}

// TestProduceLinesChunkInputStopped: once the input is stopped, no chunk
// is taken any more, even one ready; ProduceLines fails with the stop's
// error after the lines of the chunks it took.
func TestProduceLinesChunkInputStopped(t *testing.T) {
	in := newChunkInput()
	in.send("a\nb\n", nil)
	p := &waitingFake{fakeProducer{max: 100}}
	done := make(chan error)
	go func() { done <- ProduceLines(p, in, LineOptions{Partition: -1}) }()
	// The first chunk is taken (its buffer comes back once parsed),
	// then the input stops with another chunk ready.
	<-in.recycled
	close(in.stopped)
	in.send("c\n", nil)
	if err := <-done; !errors.Is(err, errStopped) {
		t.Fatalf("error %v, want %v", err, errStopped)
	}
	if want := `[-1 ""="a" -1 ""="b"]`; fmt.Sprint(p.sent) != want {
		t.Fatalf("sent %v, want %v", p.sent, want)
	}
}

// waitingStamps is a stampProducer that waits (idleReader).
type waitingStamps struct{ *stampProducer }

func (p *waitingStamps) Wake() <-chan struct{} { return nil }
func (p *waitingStamps) Poll() error           { return nil }
