package commands

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestInputOrder: lines come out in input order whatever order the
// records are acknowledged in, each as soon as those before it are.
func TestInputOrder(t *testing.T) {
	var out syncBuffer
	o := newInputOrder(&out, "t")
	o.record(1, 1, 7, false)
	o.record(2, 0, 3, true)
	o.record(0, 0, -1, true) // failed: no offset
	waitOutput(t, &out, "t 0 -\nt 1 7\nt 0 3\n")
	o.record(4, 2, 9, false)
	o.record(3, 2, 8, false)
	waitOutput(t, &out, "t 0 -\nt 1 7\nt 0 3\nt 2 8\nt 2 9\n")
	if err := o.close(); err != nil {
		t.Fatal(err)
	}
}

// TestInputOrderSlowReader: while the output is not read, at most about
// maxUnwritten bytes wait (and as many in the write that does not return),
// then record waits too; a write error ends the waiting, and close returns
// it.
func TestInputOrderSlowReader(t *testing.T) {
	w := &blockedWriter{release: make(chan struct{})}
	o := newInputOrder(w, "t")
	done := make(chan int64)
	var over atomic.Int64 // records that returned leaving maxUnwritten bytes or more unwritten
	go func() {
		var i int64
		for ; i < 1<<20; i++ { // "t 0 N\n": six bytes a line, 6 MiB in all
			o.record(i, 0, i%10, false)
			o.mu.Lock()
			if len(o.buf) >= maxUnwritten && o.err == nil {
				over.Add(1)
			}
			o.mu.Unlock()
		}
		done <- i
	}()
	deadline := time.After(20 * time.Second)
	for {
		o.mu.Lock()
		n, waiting := o.next, len(o.buf) >= maxUnwritten
		o.mu.Unlock()
		if waiting {
			if n*6 > 2*maxUnwritten+6 {
				t.Fatalf("%d records taken while the output is not read", n)
			}
			break
		}
		select {
		case <-done:
			t.Fatal("every record was taken while the output is not read")
		case <-deadline:
			t.Fatalf("the output buffer did not fill (%d records taken)", n)
		case <-time.After(time.Millisecond):
		}
	}
	boom := errors.New("boom")
	w.err = boom
	close(w.release)
	select {
	case n := <-done:
		if n != 1<<20 {
			t.Fatalf("%d records", n)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("record still waits after the write failed")
	}
	if n := over.Load(); n > 0 {
		t.Fatalf("%d records returned with maxUnwritten bytes waiting", n)
	}
	if err := o.close(); !errors.Is(err, boom) {
		t.Fatalf("close: %v", err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitOutput waits up to 10 s for out to be want.
func waitOutput(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for out.String() != want {
		if time.Now().After(deadline) {
			t.Fatalf("output %q, want %q", out.String(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// blockedWriter's writes wait until release is closed, then fail with
// err.
type blockedWriter struct {
	release chan struct{}
	err     error
}

func (w *blockedWriter) Write(p []byte) (int, error) {
	<-w.release
	return 0, w.err
}
