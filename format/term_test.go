package format

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestIsTerminalNotForFilesAndPipes(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for _, f := range []*os.File{f, r, w, nil} {
		if IsTerminal(f) {
			t.Errorf("IsTerminal(%v) = true", f)
		}
	}
	if NewProgress(w).Active() {
		t.Errorf("progress is active on a pipe")
	}
}

// TestIsTerminalPty opens a pseudo-terminal, the way a terminal emulator
// gives a shell its stdin, stdout and stderr.
func TestIsTerminalPty(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("pty setup is Linux-specific")
	}
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer ptmx.Close()
	fd := int(ptmx.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Skipf("ptsname: %v", err)
	}
	pts, err := os.OpenFile("/dev/pts/"+itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pts: %v", err)
	}
	defer pts.Close()
	if !IsTerminal(pts) {
		t.Errorf("IsTerminal(pty) = false")
	}
	unix.IoctlSetWinsize(int(pts.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: 33, Row: 10})
	if w := terminalWidth(pts); w != 33 {
		t.Errorf("terminalWidth = %d, want 33", w)
	}
}

func itoa(n int) string { return Int(int64(n)) }

// fakeClock is a clock that moves only when told.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestProgress(t *testing.T) {
	var out strings.Builder
	clock := &fakeClock{t: time.Unix(1000, 0)}
	p := newProgress(&out, true, func() int { return 20 })
	p.now = clock.now

	p.Update("sent %d records", 10)
	p.Update("sent %d records", 11) // too soon: dropped
	clock.t = clock.t.Add(ProgressInterval)
	p.Update("sent %d", 12) // shorter: pads over the old text
	clock.t = clock.t.Add(time.Second)
	p.Update("a very long status line that does not fit")
	Warnf(p, "leader moved")
	p.Update("sent %d", 13) // right after a diagnostic: drawn at once
	p.Done()
	p.Done() // nothing left to clear

	want := "\rsent 10 records" +
		"\rsent 12" + strings.Repeat(" ", 8) +
		"\ra very long status " +
		"\r" + strings.Repeat(" ", 19) + "\r" + "mk: warning: leader moved\n" +
		"\rsent 13" +
		"\r" + strings.Repeat(" ", 7) + "\r"
	if out.String() != want {
		t.Errorf("got  %q\nwant %q", out.String(), want)
	}
}

func TestProgressInactive(t *testing.T) {
	var out strings.Builder
	p := newProgress(&out, false, func() int { return 80 })
	p.Update("working")
	Warnf(p, "passes through")
	p.Done()
	if got := out.String(); got != "mk: warning: passes through\n" {
		t.Errorf("inactive progress wrote %q", got)
	}
}
