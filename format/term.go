package format

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// IsTerminal reports whether f is a terminal. It asks the kernel for the
// terminal attributes (TCGETS on Linux), which fails for files, pipes and
// sockets. It does not change f's blocking mode.
func IsTerminal(f *os.File) bool {
	if f == nil {
		return false
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	rc.Control(func(fd uintptr) { ok = isTerminalFd(int(fd)) })
	return ok
}

// terminalWidth returns f's width in columns, or 0 if unknown.
func terminalWidth(f *os.File) int {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0
	}
	width := 0
	rc.Control(func(fd uintptr) { width = terminalWidthFd(int(fd)) })
	return width
}

// ProgressInterval is the least time between two progress redraws: often
// enough to look alive, rarely enough to cost nothing.
const ProgressInterval = 100 * time.Millisecond

// Progress is a one-line status display for long work (a bulk produce, a
// replay). It draws on stderr only when stderr is a terminal and TERM is not
// "dumb"; otherwise every method except Write does nothing, so commands call
// it unconditionally. Updates are throttled to one per ProgressInterval and
// redraw the line in place with a carriage return. Progress is safe for
// concurrent use.
//
// Progress is also an io.Writer for diagnostics: a write clears the status
// line first, so "mk: warning: ..." lines are never mixed into it.
type Progress struct {
	mu     sync.Mutex
	w      io.Writer
	active bool
	width  func() int       // columns, 0 if unknown
	now    func() time.Time // a test's clock
	last   time.Time        // time of the last draw
	shown  int              // columns of the status line on screen
	buf    []byte
}

// NewProgress returns a Progress that draws on f if f is a terminal.
func NewProgress(f *os.File) *Progress {
	active := IsTerminal(f) && os.Getenv("TERM") != "dumb"
	return newProgress(f, active, func() int { return terminalWidth(f) })
}

func newProgress(w io.Writer, active bool, width func() int) *Progress {
	return &Progress{w: w, active: active, width: width, now: time.Now}
}

// Active reports whether p draws anything.
func (p *Progress) Active() bool { return p.active }

// Update sets the status line to the formatted text, unless the last draw
// was less than ProgressInterval ago (then the text is not even formatted).
// The text is cut to the terminal's width so that it never wraps.
func (p *Progress) Update(format string, args ...any) {
	if !p.active {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if !p.last.IsZero() && now.Sub(p.last) < ProgressInterval {
		return
	}
	p.last = now
	p.draw(OneLine(fmt.Sprintf(format, args...)))
}

func (p *Progress) draw(text string) {
	limit := 79
	if w := p.width(); w > 1 {
		limit = w - 1 // the cursor may not sit past the last column
	}
	n := 0
	for i := range text {
		if n == limit {
			text = text[:i]
			break
		}
		n++
	}
	b := append(p.buf[:0], '\r')
	b = append(b, text...)
	if pad := p.shown - n; pad > 0 {
		b = append(b, strings.Repeat(" ", pad)...) // cover the old, longer text
	}
	p.buf = b
	p.shown = n
	p.w.Write(b)
}

// clear erases the status line. p.mu is held.
func (p *Progress) clear() {
	if p.shown == 0 {
		return
	}
	b := append(p.buf[:0], '\r')
	b = append(b, strings.Repeat(" ", p.shown)...)
	b = append(b, '\r')
	p.buf = b
	p.shown = 0
	p.w.Write(b)
}

// Done erases the status line. Call it before printing the final summary.
// Update may be called again after Done.
func (p *Progress) Done() {
	if !p.active {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	p.last = time.Time{}
}

// Write writes b (whole diagnostic lines) to the underlying writer after
// erasing the status line; the next Update redraws it at once.
func (p *Progress) Write(b []byte) (int, error) {
	if !p.active {
		return p.w.Write(b)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	p.last = time.Time{}
	return p.w.Write(b)
}
