package main

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMkProduceStickyMovesOnTrickle: records without a key that trickle in
// (each acknowledged before the next line comes) still move to another
// partition once --batch-size bytes went to one, as Kafka's partitioner
// does (KIP-794), locally and over the wire. A producer that moved only on
// a full batch kept a slow stream on one partition forever.
func TestMkProduceStickyMovesOnTrickle(t *testing.T) {
	k := startKafkaCluster(t, 1)
	for topic, via := range map[string][]string{"local": nil, "wire": {"-b", strings.Join(k.addrs(), ",")}} {
		k.mk("topic", "create", topic, "--partitions", "2")
		cmd, stdin, stdout := startPiped(t, append([]string{"--dir", k.dir, "produce", topic, "--print-offsets", "--batch-size", "512"}, via...)...)
		out := bufio.NewReader(stdout)
		// 200 lines of 100 bytes, each acknowledged before the next is
		// written: the producer moves on about 40 times (kgo's partitioner
		// picks the next partition at random, mk's the other one), so
		// each partition gets far more than a tenth.
		partitions := map[string]int{}
		line := strings.Repeat("x", 99) + "\n"
		for i := range 200 {
			io.WriteString(stdin, line)
			got := make(chan string, 1)
			go func() {
				l, _ := out.ReadString('\n')
				got <- l
			}()
			select {
			case l := <-got:
				f := strings.Fields(l)
				if len(f) != 3 {
					t.Fatalf("%s: line %d: printed %q", topic, i+1, l)
				}
				partitions[f[1]]++
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("%s: line %d not acknowledged within 20 s", topic, i+1)
			}
		}
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%s: mk produce: %v", topic, err)
		}
		if partitions["0"] < 20 || partitions["1"] < 20 {
			t.Errorf("%s: 200 trickled records of 100 bytes with --batch-size 512 went to partitions %v, want at least 20 to each", topic, partitions)
		}
	}
}

// TestMkInterruptedWhileConnecting: SIGINT while mk waits for a cluster
// that accepts connections and answers nothing (its broker stopped) ends
// the command at once with exit status 130, as it does once connected:
// not "context canceled" and exit 1 (over the wire), not a wait for
// --timeout that ignores every signal (mk produce, locally, asking for a
// producer id).
func TestMkInterruptedWhileConnecting(t *testing.T) {
	k := startKafkaCluster(t, 1)
	k.mk("topic", "create", "t")
	addr := strings.Join(k.addrs(), ",")
	pid, _ := k.registration(1)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
	for _, args := range [][]string{
		{"produce", "t", "--print-offsets", "--timeout", "60s"},
		{"produce", "t", "--print-offsets", "--timeout", "60s", "-b", addr},
		{"consume", "t", "-b", addr, "--timeout", "60s"},
		{"describe", "topic", "t", "-b", addr, "--timeout", "60s"},
	} {
		name := strings.Join(args, " ")
		cmd := exec.Command("mk", append([]string{"--dir", k.dir}, args...)...)
		cmd.Stdin = strings.NewReader("1\n2\n")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// It is connecting once it holds a socket (mk opens none before
		// its signal handling is in place).
		deadline := time.Now().Add(20 * time.Second)
		for !holdsSocket(cmd.Process.Pid) {
			select {
			case err := <-done:
				t.Fatalf("%s: ended (%v) before connecting: %s", name, err, stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("%s: no socket within 20 s", name)
			}
			time.Sleep(5 * time.Millisecond) // poll interval, bounded by the deadline
		}
		cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 130 {
				t.Errorf("%s: interrupted while connecting: %v, want exit status 130; stderr: %s", name, err, stderr.String())
			}
			if strings.Contains(stderr.String(), "context canceled") {
				t.Errorf("%s: stderr %q", name, stderr.String())
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("%s: still running 20 s after SIGINT (--timeout 60s); stderr: %s", name, stderr.String())
		}
	}
}

// holdsSocket says whether process pid has a socket open.
func holdsSocket(pid int) bool {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	fds, _ := os.ReadDir(dir)
	for _, fd := range fds {
		if l, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && strings.HasPrefix(l, "socket:") {
			return true
		}
	}
	return false
}
