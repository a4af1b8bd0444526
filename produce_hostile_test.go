package main

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
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
		cmd := exec.Command("mk", append([]string{"--dir", k.dir, "produce", topic, "--print-offsets", "--batch-size", "512"}, via...)...)
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
