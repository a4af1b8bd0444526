package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The resource figures of issue 8 ("Speed"), measured on a real broker
// process from /proc. They take tens of seconds and depend on the machine,
// so they are opt-in (MK_SOAK=1), never timed assertions of the default
// suite:
//
//	MK_SOAK=1 go test -run 'TestKafkaSoak' -v .

func requireSoak(t *testing.T) {
	if os.Getenv("MK_SOAK") != "1" {
		t.Skip("a soak measurement: set MK_SOAK=1 to run it")
	}
}

// userHZ is the unit of the CPU times in /proc/PID/stat (USER_HZ, 100 on
// Linux whatever the kernel's own tick rate).
const userHZ = 100

// cpuTicks is the CPU time a process has used, user and system, in USER_HZ
// ticks (fields 14 and 15 of /proc/PID/stat).
func cpuTicks(t testing.TB, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		t.Fatal(err)
	}
	// The command name (field 2) may hold spaces: count from the ')'.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return utime + stime
}

// cpuShare is the share of one core the process uses over d.
func cpuShare(t testing.TB, pid int, d time.Duration) float64 {
	before := cpuTicks(t, pid)
	time.Sleep(d) // the measurement window itself, not a wait for a condition
	return float64(cpuTicks(t, pid)-before) / userHZ / d.Seconds()
}

// TestKafkaSoakIdleBrokerCPU: an idle broker with 100 idle client
// connections uses at most 1% of a core. Each connection has done an
// ApiVersions round trip, as a client does when it connects, and then
// sends nothing; the broker has topics with replicas on it.
func TestKafkaSoakIdleBrokerCPU(t *testing.T) {
	requireSoak(t)
	k := startKafkaCluster(t, 1)
	k.mk("topic", "create", "t1", "--partitions", "4")
	k.mk("topic", "create", "t2", "--partitions", "4")
	addr := k.addrs()[0]
	pid, _ := k.registration(1)
	const window = 10 * time.Second
	alone := cpuShare(t, pid, window)

	req := kmsg.NewPtrApiVersionsRequest()
	frame := framedRequest(1, req)
	for range 100 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if _, err := nc.Write(frame); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4)
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := nc.Read(buf); err != nil {
			t.Fatal(err)
		}
		nc.SetReadDeadline(time.Time{})
	}
	busy := cpuShare(t, pid, window)
	rss, _ := procStatus(t, pid)
	t.Logf("idle broker: %.2f%% of a core alone, %.2f%% with 100 idle connections (over %s); RSS %.1f MiB",
		100*alone, 100*busy, window, mib(rss))
	if busy > 0.01 {
		t.Errorf("an idle broker with 100 idle connections uses %.2f%% of a core, want at most 1%%", 100*busy)
	}
}

// TestKafkaSoakBrokerRSSUnderLoad: a broker serving 10 kgo producers
// (acks=1, 100-byte records) and 10 kgo consumers stays under 100 MB
// resident, measured at its peak (VmHWM) over 20 seconds of load.
func TestKafkaSoakBrokerRSSUnderLoad(t *testing.T) {
	requireSoak(t)
	k := startKafkaCluster(t, 1)
	ctx := testContext(t)
	vs, err := k.admin().ApiVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		for _, key := range []int16{kmsg.Produce.Int16(), kmsg.Fetch.Int16(), kmsg.ListOffsets.Int16()} {
			if _, _, ok := v.KeyVersions(key); !ok {
				t.Skipf("broker %d does not serve %s yet", v.NodeID, kmsg.NameForKey(key))
			}
		}
	}
	k.mk("topic", "create", "load", "--partitions", "10")
	pid, _ := k.registration(1)
	rss0, _ := procStatus(t, pid)

	const load = 20 * time.Second
	loadCtx, stop := context.WithTimeout(context.Background(), load)
	defer stop()
	var produced, consumed atomic.Int64
	var wg sync.WaitGroup
	value := make([]byte, 100)
	for i := range 10 {
		p := k.client(kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.DefaultProduceTopic("load"))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loadCtx.Err() == nil {
				p.Produce(loadCtx, &kgo.Record{Value: value, Partition: int32(i)}, func(_ *kgo.Record, err error) {
					if err == nil {
						produced.Add(1)
					}
				})
			}
		}()
		c := k.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"load": {int32(i): kgo.NewOffset().AtStart()}}))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loadCtx.Err() == nil {
				fs := c.PollFetches(loadCtx)
				consumed.Add(int64(fs.NumRecords()))
			}
		}()
	}
	var peakRSS int64
	tick := time.NewTicker(100 * time.Millisecond)
	for loadCtx.Err() == nil {
		<-tick.C
		if rss, _ := procStatus(t, pid); rss > peakRSS {
			peakRSS = rss
		}
	}
	tick.Stop()
	wg.Wait()
	_, hwm := procStatus(t, pid)
	t.Logf("broker under 10 producers and 10 consumers for %s: %d records produced, %d consumed; RSS %.1f MiB before, peak %.1f MiB sampled, VmHWM %.1f MiB",
		load, produced.Load(), consumed.Load(), mib(rss0), mib(peakRSS), mib(hwm))
	if produced.Load() == 0 || consumed.Load() == 0 {
		t.Fatalf("no load: %d produced, %d consumed", produced.Load(), consumed.Load())
	}
	if hwm > 100e6 {
		t.Errorf("the broker's peak RSS is %.1f MB, want at most 100 MB", float64(hwm)/1e6)
	}
}
