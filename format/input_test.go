package format

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll reads every line, writing "!" for a line that was too long.
func readAll(t *testing.T, lr *LineReader) []string {
	t.Helper()
	var lines []string
	for {
		line, err := lr.Next()
		if err == io.EOF {
			return lines
		}
		var tl *LineTooLongError
		if errors.As(err, &tl) {
			if tl.Line != lr.Line() {
				t.Errorf("LineTooLongError.Line = %d, Line() = %d", tl.Line, lr.Line())
			}
			lines = append(lines, "!")
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(line))
	}
}

func TestLineReader(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		max   int
		lines []string
	}{
		{"empty input", "", 0, nil},
		{"one line", "a\n", 0, []string{"a"}},
		{"no final newline", "a\nb", 0, []string{"a", "b"}},
		{"empty lines are records", "\n\na\n\n", 0, []string{"", "", "a", ""}},
		{"crlf", "a\r\nb\r\n", 0, []string{"a", "b"}},
		{"final cr without newline", "a\r", 0, []string{"a"}},
		{"lone cr is data", "a\rb\n", 0, []string{"a\rb"}},
		{"only the last cr goes", "a\r\r\n", 0, []string{"a\r"}},
		{"binary", "\x00\xff\n", 0, []string{"\x00\xff"}},
		{"at the limit", "abcd\nabcd\r\n", 4, []string{"abcd", "abcd"}},
		{"over the limit", "abcde\nok\n", 4, []string{"!", "ok"}},
		{"over the limit with cr", "abcd\r\r\nok", 4, []string{"!", "ok"}},
		{"far over the limit", strings.Repeat("x", 100) + "\nok\n" + strings.Repeat("y", 50), 4, []string{"!", "ok", "!"}},
		{"long lines grow the buffer", strings.Repeat("x", 200000) + "\n" + strings.Repeat("y", 70000), 300000, []string{strings.Repeat("x", 200000), strings.Repeat("y", 70000)}},
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data+eof": iotest.DataErrReader,
		// Lent chunks (ChunkReader) of several sizes, lines spanning
		// them; each is scribbled over once the next read comes, so a
		// line used past its chunk's lifetime shows.
		"lent 1":     func(r io.Reader) io.Reader { return &lender{r: r, size: 1} },
		"lent 3":     func(r io.Reader) io.Reader { return &lender{r: r, size: 3} },
		"lent 64k":   func(r io.Reader) io.Reader { return &lender{r: r, size: 64 << 10} },
		"lent 1m":    func(r io.Reader) io.Reader { return &lender{r: r, size: 1 << 20} },
		"lent mixed": func(r io.Reader) io.Reader { return &lender{r: r, size: 5, mixRead: true} },
	}
	for _, tt := range tests {
		for rname, wrap := range readers {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				if (rname == "one byte" || rname == "lent 1") && len(tt.in) > 1000 {
					t.Skip("slow")
				}
				got := readAll(t, NewLineReader(wrap(strings.NewReader(tt.in)), tt.max))
				if strings.Join(got, "|") != strings.Join(tt.lines, "|") || len(got) != len(tt.lines) {
					t.Errorf("got %q, want %q", trunc(got), trunc(tt.lines))
				}
			})
		}
	}
}

func trunc(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		if len(l) > 20 {
			l = l[:20] + "..."
		}
		out[i] = l
	}
	return out
}

func TestLineReaderLineNumbers(t *testing.T) {
	lr := NewLineReader(strings.NewReader("a\ntoo long\nb\n"), 4)
	lr.Next()
	_, err := lr.Next()
	if err == nil || err.Error() != "line 2: longer than the limit of 4 bytes (4 B)" {
		t.Fatalf("got %v", err)
	}
	line, _ := lr.Next()
	if string(line) != "b" || lr.Line() != 3 {
		t.Errorf("after a long line: %q at line %d", line, lr.Line())
	}
}

// TestLineReaderBoundedMemory checks that an endless line does not make the
// reader hold more than its limit.
func TestLineReaderBoundedMemory(t *testing.T) {
	endless := io.LimitReader(repeatReader('x'), 50<<20)
	lr := NewLineReader(endless, 1<<20)
	_, err := lr.Next()
	var tl *LineTooLongError
	if !errors.As(err, &tl) {
		t.Fatalf("got %v, want LineTooLongError", err)
	}
	if len(lr.buf) > 1<<20+2 {
		t.Errorf("buffer grew to %d bytes", len(lr.buf))
	}
	if _, err := lr.Next(); err != io.EOF {
		t.Errorf("after skipping the endless line: %v, want EOF", err)
	}
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

func TestLineReaderError(t *testing.T) {
	boom := errors.New("boom")
	lr := NewLineReader(io.MultiReader(strings.NewReader("a\nb"), iotest.ErrReader(boom)), 0)
	var got []string
	var err error
	for {
		var line []byte
		line, err = lr.Next()
		if err != nil {
			break
		}
		got = append(got, string(line))
	}
	if err != boom || strings.Join(got, ",") != "a,b" {
		t.Errorf("got %q, %v", got, err)
	}
}

func TestSplitKey(t *testing.T) {
	tests := []struct {
		line, sep  string
		key, value string
		ok         bool
	}{
		{"k\tv", "\t", "k", "v", true},
		{"k:v:w", ":", "k", "v:w", true},
		{":v", ":", "", "v", true},
		{"k:", ":", "k", "", true},
		{"kv", ":", "", "kv", false},
		{"k::v", "::", "k", "v", true},
		{"kv", "", "", "kv", false},
	}
	for _, tt := range tests {
		key, value, ok := SplitKey([]byte(tt.line), []byte(tt.sep))
		if string(key) != tt.key || string(value) != tt.value || ok != tt.ok {
			t.Errorf("SplitKey(%q, %q) = %q, %q, %v", tt.line, tt.sep, key, value, ok)
		}
		if ok && key == nil {
			t.Errorf("SplitKey(%q, %q): found key is nil (null), want non-nil", tt.line, tt.sep)
		}
	}
}

func BenchmarkLineReader(b *testing.B) {
	var in bytes.Buffer
	for in.Len() < 8<<20 {
		in.WriteString("user-42\t{\"event\":\"click\",\"page\":\"/home\"}\n")
	}
	data := in.Bytes()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	lr := NewLineReader(bytes.NewReader(data), 0)
	for b.Loop() {
		lr = NewLineReader(bytes.NewReader(data), 0)
		for {
			if _, err := lr.Next(); err != nil {
				break
			}
		}
	}
	b.ReportMetric(float64(lr.Line())*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// lender is a ChunkReader that lends chunks of up to size bytes of r, and
// scribbles over the chunk it lent last before it reads again. With
// mixRead, every other ReadChunk call is served by Read.
type lender struct {
	r       io.Reader
	size    int
	mixRead bool
	buf     []byte
	calls   int
}

func (l *lender) scribble() {
	for i := range l.buf {
		l.buf[i] = '#'
	}
}

func (l *lender) Read(p []byte) (int, error) {
	l.scribble()
	return l.r.Read(p[:min(len(p), l.size)])
}

func (l *lender) ReadChunk() ([]byte, error) {
	l.scribble()
	l.calls++
	if l.mixRead && l.calls%2 == 0 {
		p := make([]byte, l.size)
		n, err := l.Read(p)
		return p[:n], err
	}
	if cap(l.buf) < l.size {
		l.buf = make([]byte, l.size)
	}
	n, err := l.r.Read(l.buf[:l.size])
	l.buf = l.buf[:n]
	return l.buf, err
}
