package main

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"mk/client"
)

// TestMkProducePrintOffsetsStream: mk produce --print-offsets prints each
// line's offset once its record is acknowledged, while the producer still
// runs (in a pipeline the next command need not wait for the end of the
// input), in input order; locally and over the wire.
func TestMkProducePrintOffsetsStream(t *testing.T) {
	k := startKafkaCluster(t, 1)
	for topic, via := range map[string][]string{"local": nil, "wire": {"-b", strings.Join(k.addrs(), ",")}} {
		k.mk("topic", "create", topic, "--partitions", "2")
		cmd, stdin, stdout := startPiped(t, append([]string{"--dir", k.dir, "produce", topic, "--print-offsets", "--key-separator", ":"}, via...)...)
		lines := make(chan string)
		go func() {
			defer close(lines)
			r := bufio.NewReader(stdout)
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				lines <- strings.TrimSuffix(l, "\n")
			}
		}()
		// next waits for the next line of output, for at most 20 s.
		next := func(want string) {
			t.Helper()
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("%s: output ended, want %q", topic, want)
				}
				if l != want {
					t.Fatalf("%s: printed %q, want %q", topic, l, want)
				}
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("%s: %q not printed within 20 s of its line, while the producer runs", topic, want)
			}
		}
		// Each line's offset comes while stdin is still open.
		pa, pb := client.KeyPartition([]byte("a"), 2), client.KeyPartition([]byte("d"), 2)
		if pa == pb {
			t.Fatal("keys a and d go to the same partition")
		}
		io.WriteString(stdin, "a:1\n")
		next(fmt.Sprintf("%s %d 0", topic, pa))
		io.WriteString(stdin, "d:2\n")
		next(fmt.Sprintf("%s %d 0", topic, pb))
		io.WriteString(stdin, "a:3\nd:4\n")
		next(fmt.Sprintf("%s %d 1", topic, pa))
		next(fmt.Sprintf("%s %d 1", topic, pb))
		stdin.Close()
		if _, ok := <-lines; ok {
			t.Fatalf("%s: more output than lines", topic)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%s: mk produce: %v", topic, err)
		}
	}
}

// startPiped starts mk with args, its stdin and stdout pipes to the test.
func startPiped(t *testing.T, args ...string) (*exec.Cmd, io.WriteCloser, io.ReadCloser) {
	t.Helper()
	cmd := exec.Command("mk", args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdin, stdout
}
